"""`make run` supervises (studio/run.py): a child that exits is restarted with a back-off,
one that keeps crashing stops everything with the reason, Ctrl-C/SIGTERM stops all. Real
processes: small Python children for the rules, and the whole studio (`python -m
studio.run` against the simulator) for a worker killed with SIGKILL mid-job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.system import ROOT, System, free_port

PY = sys.executable


def supervisor(tmp_path: Path, commands: dict[str, list[str]], **options) -> subprocess.Popen:
    """studio.run.supervise over `commands` in its own process, its output in out.log."""
    script = (
        "import json, sys\n"
        "from studio.run import supervise\n"
        f"sys.exit(supervise(json.loads(sys.argv[1]), 'up', grace=5, **{options!r}))\n"
    )
    import json

    out = (tmp_path / "out.log").open("w")
    return subprocess.Popen(
        [PY, "-c", script, json.dumps(commands)],
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_child_that_keeps_crashing_stops_everything_and_says_why(tmp_path):
    sibling = tmp_path / "sibling-running"
    commands = {
        "worker": [PY, "-c", "import sys; print('bad setting'); sys.exit(3)"],
        "web": [
            PY,
            "-c",
            f"import pathlib, time; pathlib.Path({str(sibling)!r}).touch(); time.sleep(600)",
        ],
    }
    process = supervisor(tmp_path, commands, first=0.05, limit=4, window=60)

    assert process.wait(timeout=30) == 1
    out = (tmp_path / "out.log").read_text()
    assert out.count("worker exited with code 3; restarting it in") == 3
    assert "restarting it in 0.05 s" in out and "restarting it in 0.1 s" in out  # doubling
    assert "worker exited with code 3; it exited 4 times within 60 s" in out
    assert "stopping everything" in out and "Stopped." in out
    assert sibling.exists()  # the healthy sibling ran, and was stopped with the rest


def test_a_child_that_dies_once_is_restarted_and_sigterm_stops_all_with_zero(tmp_path):
    marker = tmp_path / "ran-once"
    # The first run exits at once (as a crash would); the second one stays up.
    once = (
        f"import pathlib, sys, time; p = pathlib.Path({str(marker)!r})\n"
        "if not p.exists(): p.touch(); sys.exit(1)\n"
        "print('second run up', flush=True); time.sleep(600)\n"
    )
    process = supervisor(tmp_path, {"simulator": [PY, "-c", once]}, first=0.1)
    log = tmp_path / "out.log"
    wait_for(lambda: "second run up" in log.read_text(), 20, "the restart")

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=20) == 0
    out = log.read_text()
    assert "simulator exited with code 1; restarting it in 0.1 s" in out
    assert "simulator restarted (pid " in out
    assert "Stopped." in out


def children_named(parent: int, word: str) -> list[int]:
    """The pids of `parent`'s direct children whose command line holds `word`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and word in command:
            found.append(int(entry.name))
    return found


def test_make_run_brings_a_killed_worker_back_and_the_job_it_held_finishes(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    system = System(data, STUDIO_WORKER_STOP_SECONDS="2")
    run = None
    try:
        # Every poll waits 0.5 s upstream: the worker holds leased rows when it dies.
        system.start_simulator(
            "--processing-after", "0.3", "--finish-after", "2", "--fps", "2", "--latency", "0.5"
        )
        command = [PY, "-m", "studio.run", "--port", str(free_port()), "--web-workers", "1"]
        command += ["--media-port", str(free_port())]
        log = data / "run.log"
        run = subprocess.Popen(
            command,
            cwd=ROOT,
            env=system.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: children_named(run.pid, "manage.py worker"), 60, "the worker")
        wait_for(lambda: "is running at" in log.read_text(), 60, "the banner")
        system.create([f"supervised {n}: a paper kite over a hill" for n in range(4)])
        held = "lease_until IS NOT NULL AND status IN ('submitted', 'processing')"
        wait_for(
            lambda: (
                system.rows(f"SELECT COUNT(*) FROM generations_generation WHERE {held}")[0][0] >= 1
            ),
            60,
            "a held row",
        )
        [worker] = children_named(run.pid, "manage.py worker")

        os.killpg(worker, signal.SIGKILL)  # the cluster and its forks, as the OOM killer

        wait_for(lambda: "worker restarted" in log.read_text(), 10, "the worker's restart")
        assert "worker was killed by SIGKILL; restarting it in 1 s" in log.read_text()
        assert run.poll() is None  # the web server was not stopped with it
        system.sim_config(latency=0.0)
        system.wait(system.all_final, 90, "every generation to finish after the restart")
        assert system.statuses() == {"succeeded": 4}
        system.assert_one_create_each()
        [again] = children_named(run.pid, "manage.py worker")
        assert again != worker
    finally:
        if run is not None:
            run.send_signal(signal.SIGTERM)
            try:
                run.wait(timeout=30)
            except subprocess.TimeoutExpired:
                run.kill()
        system.stop()
