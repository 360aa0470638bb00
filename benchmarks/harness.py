"""Plumbing shared by the benchmarks: a throwaway data folder (or PostgreSQL database),
the simulator, gunicorn and the worker as real processes, and the report format.

Each benchmark module runs in its own process (`python -m benchmarks` starts them), calls
`setup()` first, and never touches the user's data/ folder. Free ports and signing in
come from tests/system.py, the test suites' harness of real processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx

from tests.system import free_port

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
RESULTS_ENV = "STUDIO_BENCH_RESULTS"  # where a benchmark appends its figures (JSON lines)


# ---------------------------------------------------------------- environment


def setup(name: str) -> Path:
    """Point this process and its children at a fresh data folder (and, with DATABASE_URL,
    a fresh PostgreSQL database), set Django up and migrate. Returns the data folder."""
    data = Path(tempfile.mkdtemp(prefix=f"studio-bench-{name}-"))
    os.environ.update(
        STUDIO_DATA_DIR=str(data),
        DJANGO_SETTINGS_MODULE="studio.settings",
        STUDIO_QUEUE_NAME=f"bench-{uuid.uuid4().hex[:8]}",
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
    )
    for name_ in ("COMETAPI_KEY", "COMETAPI_BASE_URL", "STUDIO_PUBLIC_URL"):
        os.environ.pop(name_, None)
    if os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = fresh_postgres(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    return data


_created_database: tuple[str, str] | None = None  # (server URL, name), dropped by cleanup


def fresh_postgres(url: str) -> str:
    global _created_database
    import psycopg

    name = f"studio_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    _created_database = (url, name)
    return f"{url.rsplit('/', 1)[0]}/{name}"


def cleanup(data: Path) -> None:
    """Remove the data folder and the PostgreSQL database, unless BENCH_KEEP=1 (to read
    the processes' logs)."""
    if os.environ.get("BENCH_KEEP") == "1":
        print(f"  (kept {data})")
        return
    shutil.rmtree(data, ignore_errors=True)
    if _created_database:
        import psycopg
        from django.db import connections

        connections.close_all()
        server, name = _created_database
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- processes


class Process:
    """A child in its own process group, its output in a log file; stop() ends the group."""

    def __init__(self, name: str, command: list[str], log: Path, env: dict | None = None):
        self.name = name
        self.log = log
        self._out = log.open("w")
        self.popen = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
            except ProcessLookupError:
                pass
        self._out.close()

    def group_pids(self) -> list[int]:
        """Every live process in this child's process group (the qcluster forks several)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == self.popen.pid:  # field 5 (pgrp), after pid, comm, state
                pids.append(int(entry.name))
        return pids

    def rss(self) -> dict[int, tuple[int, int]]:
        """(current, peak) RSS in KB of each live process in the group (rss_kb); one that
        exits while it is read is left out."""
        found = {}
        for pid in self.group_pids():
            with contextlib.suppress(OSError):
                found[pid] = rss_kb(pid)
        return found


def start_simulator(data: Path, *flags: str) -> tuple[Process, str]:
    """The simulator as its own process (so it does not share our GIL); returns its URL."""
    port = free_port()
    process = Process(
        "simulator",
        [PYTHON, "-m", "studio.kling.simulator", "--port", str(port), *flags],
        data / "simulator.log",
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/_sim/stats", process)
    return process, url


def start_web(data: Path, workers: int = 3, env: dict | None = None) -> tuple[Process, str]:
    """gunicorn exactly as `make run` starts it (studio.run.web_command)."""
    from studio.run import web_command

    port = free_port()
    process = Process("web", web_command("127.0.0.1", port, workers), data / "web.log", env)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/healthz", process)
    return process, url


def start_worker(data: Path, env: dict | None = None) -> Process:
    return Process("worker", [PYTHON, "manage.py", "worker"], data / "worker.log", env)


def wait_for_http(url: str, process: Process, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited:\n{process.log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} did not answer at {url}")


@contextmanager
def running(*processes: Process) -> Iterator[None]:
    try:
        yield
    finally:
        for process in reversed(processes):
            process.stop()


def wait_until(check: Callable[[], bool], seconds: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def rss_kb(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in KB, from /proc (VmRSS, VmHWM)."""
    text = Path(f"/proc/{pid}/status").read_text()
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", text, re.M))
    return int(found.get("VmRSS", 0)), int(found.get("VmHWM", 0))


# ---------------------------------------------------------------- the studio, as a user


def make_user(username: str = "bench", password: str = "a-long-bench-password", **kw):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=username, password=password, **kw)


def seed_row(owner, rng, n: int, created, status: str, **fields):
    """The n-th generation the seeders bulk-insert: a text-to-video request of a random
    model and shape (the body from the capability table), made at `created` and finished
    two minutes later, its files named when it succeeded; `fields` set any other column."""
    from studio.generations.models import Generation, Status
    from studio.kling.capabilities import build_body

    params = {
        "model_name": rng.choice(["kling-v1-6", "kling-v2-1-master", "kling-v1"]),
        "prompt": f"Shot {n}: a paper boat drifts down a rain gutter, macro lens",
        "mode": "std",
        "duration": "5",
        "aspect_ratio": rng.choice(["16:9", "9:16", "1:1"]),
    }
    body = build_body(params)
    external = f"ps-{uuid.uuid4().hex}"
    done = status == Status.SUCCEEDED
    return Generation(
        owner=owner,
        created_at=created,
        status=status,
        prompt=params["prompt"],
        model_name=body["model_name"],
        mode=body.get("mode", ""),
        duration="5",
        aspect_ratio=body["aspect_ratio"],
        request_body={**body, "external_task_id": external},
        external_task_id=external,
        task_id=str(880000000000000000 + rng.randrange(10**12)),
        finished_at=created + timedelta(minutes=2),
        video=f"videos/2026/01/{external}.mp4" if done else "",
        poster=f"posters/2026/01/{external}.jpg" if done else "",
        poster_1x=f"posters/2026/01/{external}-1x.jpg" if done else "",
        status_msg="" if done else "video generation failed",
        **fields,
    )


# ---------------------------------------------------------------- reporting


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(benchmark: str, figures: list[dict]) -> None:
    """Print figures and append them to the run's results file.

    A figure: {"name", "value", "unit"} plus optional "baseline" (in "baseline_unit", else
    "unit"), "ratio", "target" (text) and "met" (bool)."""
    print(f"\n== {benchmark}")
    for figure in figures:
        line = f"  {figure['name']}: {format_value(figure['value'], figure.get('unit', ''))}"
        if figure.get("baseline") is not None:
            unit = figure.get("baseline_unit", figure.get("unit", ""))
            line += f"  (baseline {format_value(figure['baseline'], unit)}"
            line += f", ratio {figure['ratio']:.2f})" if figure.get("ratio") is not None else ")"
        if figure.get("target"):
            met = figure.get("met")
            line += f"  target {figure['target']}: {'met' if met else 'NOT MET'}"
        print(line, flush=True)
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a") as handle:
            for figure in figures:
                handle.write(json.dumps({"benchmark": benchmark, **figure}) + "\n")


def format_value(value, unit: str) -> str:
    if isinstance(value, float):
        text = f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    else:
        text = str(value)
    return f"{text} {unit}".rstrip()
