"""Faults upstream: every job still ends in a clear final state and nothing is created
twice (docs/reliability.md R20, R21, R26, R44).

The first test runs real processes (tests/system.py): the simulator answering one API
request in five with a fault (500/5000, 429 + Retry-After, a timeout, a truncated 200,
and on creates an ambiguous 504 after the task was made), `manage.py worker` and a file
SQLite database. The others drive webhook deliveries through Django's live server.
"""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from django.utils import timezone

from studio.generations import pipeline
from studio.generations.models import Generation, Status
from studio.kling.simulator import SimConfig
from tests.drive import drive, make_due, params
from tests.factories import make_user

COUNT = 50


@pytest.fixture
def system_env() -> dict[str, str]:
    # One request in five fails here, lookups too: the needs-attention bounds (R57, tested in
    # tests/test_attention.py) are raised so that every job is carried to a final state.
    return {
        "STUDIO_UPSTREAM_READ_TIMEOUT": "1",
        "STUDIO_RECONCILE_LOOKUPS": "20",
        "STUDIO_RECONCILE_LOOKUP_FAILURES": "50",
    }


def test_fifty_jobs_under_one_fault_in_five_all_end_clearly_with_no_duplicate(system):
    system.start_simulator(
        *("--fault-rate", "0.2", "--seed", "1", "--slow-seconds", "2", "--retry-after", "1"),
        *("--processing-after", "0.3", "--finish-after", "1.5", "--fps", "2"),
    )
    system.manage("migrate", "-v0")
    system.start_worker()
    # One prompt in five also scripts a create fault, so every kind surely happens.
    scripted = ["#ambiguous-504", "#slow", "#malformed", "#error-5000", "#rate-1302"]
    keyword = {n: scripted[n // 5 % 5] for n in range(0, COUNT, 5)}
    system.create([f"fault run {n}: a heron {keyword.get(n, '')}" for n in range(COUNT)])

    system.wait(system.all_final, 150, f"all {COUNT} generations to finish")

    rows = system.generations()
    assert len(rows) == COUNT
    for row in rows:
        assert row["status"] in ("succeeded", "failed")
        if row["status"] == "failed":
            assert row["status_msg"].strip(), f"{row['id']} failed without saying why"
        assert row["lease_until"] is None
    stats = system.sim_stats()
    creates = stats["creates_by_external_id"]
    assert max(creates.values()) == 1, "a generation was created twice upstream"
    succeeded = {r["external_task_id"] for r in rows if r["status"] == "succeeded"}
    assert succeeded <= set(creates)
    # The faults did happen, of every kind.
    faults = stats["faults"]
    for kind in ("error-5000", "rate-1302", "slow", "malformed", "ambiguous-504"):
        assert faults.get(kind, 0) > 0, f"no {kind} fault was injected: {faults}"
    system.assert_storage_matches()
    assert "database is locked" not in system.logs()


# ------------------------------------------------------------------ webhook deliveries


@pytest.fixture
def sim_config() -> SimConfig:
    # Every callback twice (docs/upstream.md §8: they may repeat). The processing window is
    # wide: the three rows are driven one after another, and under load a window of
    # 0.4 s could pass between two sweeps, so a row would skip "processing" on its timeline.
    return SimConfig(
        processing_after=0.2, finish_after=2.0, api_key="sk-test", duplicate_callbacks=True
    )


def hook_url(base: str, row: Generation) -> str:
    return f"{base}/hooks/kling/{row.pk}/{pipeline.callback_token(row.pk)}/"


def callback(row: Generation, status: str) -> bytes:
    """A callback body as the upstream sends it (the bare task object)."""
    body = {"task_id": row.task_id or "880000000000000123", "task_status": status}
    if status == "succeed":
        body["task_result"] = {"videos": [{"id": "v", "url": "http://127.0.0.1:9/evil.mp4"}]}
    return json.dumps(body).encode()


@pytest.mark.django_db(transaction=True)
def test_repeated_and_out_of_order_callbacks_move_nothing_wrongly(
    upstream, queue, live_server, settings
):
    settings.STUDIO_PUBLIC_URL = live_server.url
    owner = make_user()
    rows = [pipeline.create_generation(owner, params(f"hooked {n}")) for n in range(3)]
    answers: list[int] = []

    def storm(row: Generation) -> None:
        # Newest first, then older ones, each several times, from several threads.
        with httpx.Client(timeout=10) as client:
            for status in ("succeed", "processing", "submitted", "failed", "processing") * 2:
                response = client.post(
                    hook_url(live_server.url, row), content=callback(row, status)
                )
                answers.append(response.status_code)

    for row in rows:
        pipeline.submit(row.pk)
    threads = [threading.Thread(target=storm, args=(row,)) for row in rows for _ in range(2)]
    for thread in threads:
        thread.start()
    for row in rows:
        drive(row)  # the poller and the store step, as the worker runs them
    for thread in threads:
        thread.join()

    assert set(answers) <= {200, 404}  # 404 once a row is finished; never an error
    for row in rows:
        row.refresh_from_db()
        assert row.status == Status.SUCCEEDED
        assert "evil" not in row.result_url
        steps = list(row.events.values_list("status", flat=True))
        assert steps == ["queued", "submitted", "processing", "storing", "succeeded"]
    assert upstream.stats()["callbacks"]["sent"] >= 2 * len(rows)  # the real ones, twice
    assert max(upstream.stats()["creates_by_external_id"].values()) == 1


@pytest.mark.django_db(transaction=True)
def test_an_older_status_after_a_newer_one_changes_nothing(upstream, queue, live_server):
    row = pipeline.create_generation(make_user(), params("late news"))
    pipeline.submit(row.pk)
    row = drive(row, until=(Status.PROCESSING,))
    Generation.objects.filter(pk=row.pk).update(
        next_poll_at=timezone.now() + timezone.timedelta(seconds=60)
    )
    before = Generation.objects.filter(pk=row.pk).values().get()

    with httpx.Client(timeout=10) as client:
        for status in ("succeed", "submitted", "processing", "submitted"):
            answer = client.post(hook_url(live_server.url, row), content=callback(row, status))
            assert answer.status_code == 200

    after = Generation.objects.filter(pk=row.pk).values().get()
    assert after["next_poll_at"] <= timezone.now()  # made due: the only effect
    unchanged = {k: v for k, v in after.items() if k not in ("next_poll_at", "updated_at")}
    assert unchanged == {k: v for k, v in before.items() if k not in ("next_poll_at", "updated_at")}
    assert list(row.events.values_list("status", flat=True)) == [
        "queued",
        "submitted",
        "processing",
    ]
    make_due(row)
    assert drive(row).status == Status.SUCCEEDED  # the poll, not the callback, decides
