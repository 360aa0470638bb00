"""The worker killed with SIGKILL mid-submit, mid-sweep and mid-download, then started
again: every generation reaches a final state, the upstream saw exactly one create per
generation, and storage holds only whole files (docs/reliability.md R2, R19-R20, R33, R44).

Real processes (tests/system.py): the simulator, `manage.py worker` and a file SQLite
database. The worker alone on SQLite takes back what the killed one held when it starts
(studio/generations/management/commands/worker.py), so these finish in seconds.
"""

from __future__ import annotations

import time

from tests.system import Proc, System

SIM_FAST = ("--processing-after", "0.3", "--finish-after", "2", "--fps", "2")


def prompts(what: str, count: int) -> list[str]:
    return [f"{what} {n}: a paper kite climbs over a windy hill" for n in range(count)]


def start(system: System, what: str, count: int, *sim_flags: str) -> Proc:
    """The simulator (the fast clock and `sim_flags`), the database, one worker and `count`
    generations on their way; the worker, to kill."""
    system.start_simulator(*sim_flags, *SIM_FAST)
    system.manage("migrate", "-v0")
    worker = system.start_worker()
    system.create(prompts(what, count))
    return worker


def in_flight(system: System, status: str, extra: str = "") -> int:
    where = f"status = '{status}' AND lease_until IS NOT NULL {extra}"
    return system.rows(f"SELECT COUNT(*) FROM generations_generation WHERE {where}")[0][0]


def finish_and_check(system: System, count: int) -> None:
    system.start_worker("worker-restarted")
    system.wait(system.all_final, 90, "every generation to finish after the restart")
    assert system.statuses() == {"succeeded": count}
    system.assert_one_create_each()
    system.assert_storage_matches()
    assert "database is locked" not in system.logs()


def test_a_worker_killed_while_creates_are_in_flight_sends_none_twice(system):
    # Every request waits 1 s upstream: creates are mid-flight when the worker dies. The
    # upstream still makes those tasks; the next worker must find them, not send again.
    worker = start(system, "crash submit", 6, "--latency", "1")
    # A row marked uncertain is not enough: the kill must come after a POST reached the
    # upstream (counted on arrival, before its 1 s latency), or nothing is left to find.
    system.wait(
        lambda: (
            in_flight(system, "queued", "AND submit_uncertain") >= 1
            and system.sim_stats()["requests"] >= 1
        ),
        30,
        "creates",
    )

    worker.kill()
    time.sleep(1.2)  # the creates the dead worker sent land upstream now

    system.sim_config(latency=0.0)
    finish_and_check(system, 6)
    # Not one POST was sent again: the new worker looked each one up first.
    attempts = system.sim_stats()["create_attempts_by_external_id"]
    assert set(attempts.values()) == {1}, attempts
    assert "by external_task_id after an uncertain submit" in system.logs()


def test_a_worker_killed_mid_sweep_loses_nothing(system):
    # Every poll waits 0.4 s upstream: the sweep holds its rows when the worker dies.
    worker = start(system, "crash sweep", 12, "--latency", "0.4")
    system.wait(
        lambda: in_flight(system, "submitted") + in_flight(system, "processing") >= 3,
        30,
        "a sweep with rows in flight",
    )

    worker.kill()

    leased = in_flight(system, "submitted") + in_flight(system, "processing")
    assert leased >= 1  # the dead worker's leases: only a restart or time frees them
    finish_and_check(system, 12)


def test_a_worker_killed_mid_download_leaves_no_partial_file(system):
    # Each video trickles down over 6 s: the worker dies with downloads half done.
    worker = start(system, "crash download", 3, "--video-seconds", "6")
    temp = system.data / "tmp"
    system.wait(lambda: any(temp.glob("download-*.mp4")), 30, "a download under way")
    time.sleep(1)  # well inside the 6 s the first download takes

    worker.kill()

    assert in_flight(system, "storing") >= 1
    assert any(temp.glob("download-*.mp4")), "the kill should leave a partial download"
    system.sim_config(video_seconds=0.0)
    system.assert_videos_are_whole()  # a video is in storage only once complete
    finish_and_check(system, 3)
