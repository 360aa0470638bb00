"""The poller: due rows swept in bulk, per-row backoff, stall and give-up, the watchdog."""

from __future__ import annotations

import importlib
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from studio.generations import pipeline, poller, tasks
from studio.generations.models import Generation, Lease, Status
from studio.kling.client import KlingClient
from tests.conftest import SIM_API_KEY
from tests.drive import drive, make_due, params, submitted, sweep
from tests.factories import make_generation, make_user

pytestmark = pytest.mark.django_db


def upstream_tasks(upstream, prompts: list[str]) -> list[str]:
    """Create tasks directly on the simulator; their ids, once all are processing."""
    with KlingClient(upstream.url, SIM_API_KEY) as api:
        made = [api.create_text2video(params(prompt)).task_id for prompt in prompts]
    deadline = time.monotonic() + 5
    while any(upstream.tasks[t].status == "submitted" for t in made):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return made


def in_flight(owner, task_id: str, **kw) -> Generation:
    """A row as the pipeline leaves it after a few polls: processing, due now."""
    now = timezone.now()
    fields = {
        "status": Status.PROCESSING,
        "task_id": task_id,
        "upstream_status": "processing",
        "submitted_at": now,
        "submit_attempts": 1,
        "next_poll_at": now - timedelta(seconds=1),
        **kw,
    }
    return make_generation(owner, **fields)


def test_rows_move_forward_and_the_store_task_is_handed_out(upstream, queue):
    upstream.config.finish_after = 2.0  # a loaded machine's first poll may come after 0.5 s
    row = submitted()
    drive(row, until=(Status.STORING,))
    assert row.result_url.startswith(upstream.url)
    assert row.upstream_status == "succeed"
    assert row.units_charged is not None
    assert ("store", (str(row.pk),)) in queue
    assert list(row.events.values_list("status", flat=True)) == [
        "queued",
        "submitted",
        "processing",
        "storing",
    ]


def test_moderation_failure_keeps_its_message(upstream, queue):
    row = drive(submitted("A fox #fail-moderation"))
    assert row.status == Status.FAILED
    assert row.status_msg == "content moderation did not pass"
    assert row.upstream_status == "failed"
    assert row.next_poll_at is None


def test_backoff_doubles_and_is_capped(upstream, queue, settings):
    settings.POLL_MIN_SECONDS = 2
    settings.POLL_MAX_SECONDS = 30
    [task_id] = upstream_tasks(upstream, ["A fox #stall"])
    row = in_flight(make_user(), task_id)
    waits = []
    for _ in range(6):
        now = timezone.now()
        sweep(now=now)
        row.refresh_from_db()
        waits.append(round((row.next_poll_at - now).total_seconds()))
        make_due(row)
    assert waits == [2, 4, 8, 16, 30, 30]
    assert row.poll_attempts == 6


def test_a_row_not_yet_due_is_not_polled(upstream, queue):
    [task_id] = upstream_tasks(upstream, ["A fox #stall"])
    row = in_flight(make_user(), task_id, next_poll_at=timezone.now() + timedelta(seconds=30))
    assert sweep().claimed == 0
    row.refresh_from_db()
    assert row.poll_attempts == 0


def test_a_row_whose_worker_died_is_picked_up_once_its_lease_runs_out(upstream, queue):
    """A sweep claimed the row and was killed: the row stays `submitted` with a lease."""
    upstream.config.finish_after = 30  # still processing when asked, however slow the machine
    owner = make_user()
    row = submitted("A fox #stall", owner=owner)  # it stays processing, however slow the sweep
    make_due(row)
    Generation.objects.filter(pk=row.pk).update(lease_until=timezone.now() + timedelta(60))
    assert sweep().claimed == 0  # the lease is live: someone may still be working on it

    Generation.objects.filter(pk=row.pk).update(lease_until=timezone.now() - timedelta(1))
    time.sleep(0.3)  # the simulator moves to processing after 0.2 s
    result = sweep()

    assert result.claimed == 1
    row.refresh_from_db()
    assert row.status == Status.PROCESSING
    assert row.lease_until is None


def test_unknown_status_counts_as_still_running_and_is_logged(upstream, queue, caplog):
    [task_id] = upstream_tasks(upstream, ["A fox #stall"])
    upstream.tasks[task_id].status = "queueing"  # a string we have never seen
    row = in_flight(make_user(), task_id, status=Status.SUBMITTED, upstream_status="submitted")

    sweep()

    row.refresh_from_db()
    assert row.status == Status.SUBMITTED
    assert row.upstream_status == "queueing"
    assert row.next_poll_at > timezone.now()
    assert "unknown upstream status 'queueing'" in caplog.text
    upstream.tasks[task_id].status = "processing"
    make_due(row)
    sweep()
    row.refresh_from_db()
    assert row.status == Status.PROCESSING


def test_a_poll_answered_without_a_task_keeps_the_row_running_and_it_finishes(
    upstream, queue, caplog
):
    [task_id] = upstream_tasks(upstream, ["A fox #poll-no-task"])
    row = in_flight(make_user(), task_id)
    upstream.tasks[task_id].queries = 0  # the next query is the 1st: `data: null`

    sweep()

    row.refresh_from_db()
    assert row.status == Status.PROCESSING
    assert row.upstream_status == "processing"  # what we knew stays
    assert row.last_error == ""  # not an error: still running
    assert row.next_poll_at > timezone.now()
    assert "without a task" in caplog.text
    drive(row)
    assert row.status == Status.SUCCEEDED


def test_rows_finish_whatever_the_request_ids_messages_and_empty_fields(upstream, queue):
    upstream.config.request_ids = "gateway"
    upstream.config.success_message = "success"
    upstream.config.empty_fields = "null"
    owner = make_user()
    good = pipeline.create_generation(owner, params("A fox"))
    bad = pipeline.create_generation(owner, params("A fox #fail-moderation"))
    for row in (good, bad):
        pipeline.submit(row.pk)
        drive(row)
    assert good.status == Status.SUCCEEDED
    assert (bad.status, bad.status_msg) == (Status.FAILED, "content moderation did not pass")


def test_a_failed_poll_is_recorded_backed_off_and_retried(upstream, queue):
    row = pipeline.create_generation(make_user(), params("A fox #poll-flaky"))
    pipeline.submit(row.pk)
    make_due(row)
    now = timezone.now()

    sweep(now=now)  # the 1st query of a #poll-flaky task answers 500

    row.refresh_from_db()
    assert row.status == Status.SUBMITTED
    assert "HTTP 500" in row.last_error
    assert row.next_poll_at >= now + timedelta(seconds=2)
    drive(row)
    assert row.status == Status.SUCCEEDED
    assert row.last_error == ""


def test_one_bad_row_does_not_stop_the_others(upstream, queue):
    owner = make_user()
    [good_task] = upstream_tasks(upstream, ["A fox"])
    lost = in_flight(owner, "1234567890123456789")  # no such task upstream
    good = in_flight(owner, good_task)
    time.sleep(0.6)  # the simulator finishes after 0.5 s

    result = sweep()

    assert result.claimed == 2
    lost.refresh_from_db()
    good.refresh_from_db()
    assert good.status == Status.STORING
    assert lost.status == Status.PROCESSING
    assert lost.last_error
    assert lost.next_poll_at > timezone.now()


def test_a_stalled_task_is_flagged_and_polled_slowly(upstream, queue, settings):
    settings.STALL_AFTER = timedelta(minutes=20)
    [task_id] = upstream_tasks(upstream, ["A fox #stall"])
    row = in_flight(
        make_user(), task_id, submitted_at=timezone.now() - timedelta(minutes=21), poll_attempts=3
    )
    now = timezone.now()

    sweep(now=now)

    row.refresh_from_db()
    assert row.status == Status.PROCESSING
    assert row.stalled
    assert row.next_poll_at >= now + timedelta(seconds=poller.stalled_poll_seconds())
    assert poller.stalled_poll_seconds() > settings.POLL_MAX_SECONDS


def test_a_task_past_the_ceiling_fails_with_a_message(upstream, queue, settings):
    settings.GIVE_UP_AFTER = timedelta(hours=2)
    [task_id] = upstream_tasks(upstream, ["A fox #stall"])
    row = in_flight(
        make_user(), task_id, submitted_at=timezone.now() - timedelta(hours=2, minutes=1)
    )

    sweep()

    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.status_msg == (
        "The video was still not ready after 120 minutes, so the studio stopped waiting for it."
    )
    assert row.error_code == "timeout"
    assert row.next_poll_at is None
    assert sweep().claimed == 0  # never polled again


@pytest.mark.parametrize("changing", [False, True])
def test_sweep_queries_do_not_grow_with_the_number_of_rows(upstream, queue, changing):
    """Bulk reads and grouped writes for unchanged rows; moves cost a fixed few each."""
    owner = make_user()

    def queries(n: int) -> int:
        Generation.objects.all().delete()
        ids = upstream_tasks(upstream, [f"A fox {i} #stall" for i in range(n)])
        for task_id in ids:
            if changing:  # the upstream is further than we know: each row moves
                in_flight(owner, task_id, status=Status.SUBMITTED, upstream_status="submitted")
            else:
                in_flight(owner, task_id)
        with CaptureQueriesContext(connection) as captured:
            result = sweep()
        assert result.polled == n
        return len(captured)

    small, large = queries(3), queries(12)
    if changing:
        # Each move is one conditional UPDATE and one history row: 2 per changed row.
        assert large - small == 2 * (12 - 3)
    else:
        assert small == large
        assert large <= 4


def test_sweep_task_runs_until_nothing_is_due_soon(upstream, queue, settings):
    settings.POLL_MIN_SECONDS = 0.1
    row = submitted()
    make_due(row)
    queue.clear()

    tasks.sweep()

    row.refresh_from_db()
    assert row.status == Status.STORING
    assert ("store", (str(row.pk),)) in queue
    assert not Lease.is_held(pipeline.SWEEP_LEASE_NAME)
    assert ("sweep", ()) not in queue  # nothing left to poll: the chain ends


def test_a_failed_download_is_retried_by_the_sweep_when_due_not_by_the_watchdog(
    upstream, queue, settings
):
    settings.DOWNLOAD_RETRY_SECONDS = 0.3
    row = make_generation(
        make_user(),
        status=Status.STORING,
        task_id="880000000000000123",
        result_url=f"{upstream.url}/_sim/videos/880000000000000123.mp4",  # 404: retry later
    )
    pipeline.store(row.pk)
    row.refresh_from_db()
    assert row.download_attempts == 1 and row.status == Status.STORING
    assert queue == [("sweep", ())]  # the failed attempt starts the sweep chain
    queue.clear()

    tasks.sweep()  # waits for the retry time, hands the store out, then ends

    assert queue == [("store", (str(row.pk),))]


def test_sweep_task_hands_over_to_a_new_task_while_work_remains(
    upstream, queue, settings, monkeypatch
):
    monkeypatch.setattr(tasks, "SWEEP_TASK_SECONDS", 0.5)
    settings.POLL_MIN_SECONDS = 0.1
    [task_id] = upstream_tasks(upstream, ["A fox #stall"])
    in_flight(make_user(), task_id)

    tasks.sweep()

    assert queue == [("sweep", ())]


def test_only_one_sweep_runs_at_a_time(upstream, queue):
    [task_id] = upstream_tasks(upstream, ["A fox #stall"])
    row = in_flight(make_user(), task_id)
    holder = Lease.acquire(pipeline.SWEEP_LEASE_NAME, 60)
    assert holder is not None

    assert tasks.sweep() == 0

    row.refresh_from_db()
    assert row.poll_attempts == 0
    Lease.release(pipeline.SWEEP_LEASE_NAME, holder)
    assert Lease.acquire(pipeline.SWEEP_LEASE_NAME, 60) is not None


@pytest.mark.django_db(transaction=True)  # the sweep submits on its pool threads
def test_sweep_submits_a_queued_row_whose_task_was_lost(upstream, queue):
    row = pipeline.create_generation(make_user(), params())
    assert sweep().claimed == 0  # within the grace period the submit task has it
    make_due(row)

    sweep()

    row.refresh_from_db()
    assert row.status == Status.SUBMITTED
    assert upstream.create_count(row.external_task_id) == 1


def test_watchdog_requeues_lost_submits_and_stores_once(upstream, queue):
    owner = make_user()
    past = timezone.now() - timedelta(seconds=1)
    lost_submit = make_generation(owner, status=Status.QUEUED, next_poll_at=past)
    lost_store = make_generation(
        owner,
        status=Status.STORING,
        task_id="1",
        result_url=f"{upstream.url}/nothing.mp4",
        next_poll_at=past,
        lease_until=past,  # the store worker died
    )
    busy_store = make_generation(
        owner,
        status=Status.STORING,
        task_id="2",
        next_poll_at=past,
        lease_until=timezone.now() + timedelta(minutes=5),
    )

    counts = tasks.reconcile()

    # The sweep is started too: it submits the row itself if the task is lost again.
    assert counts == {"submit": 1, "store": 1, "sweep": 1}
    assert sorted(queue) == sorted(
        [("submit", (str(lost_submit.pk),)), ("store", (str(lost_store.pk),)), ("sweep", ())]
    )
    assert str(busy_store.pk) not in str(queue)
    queue.clear()
    again = tasks.reconcile()  # not handed out twice
    assert (again["submit"], again["store"]) == (0, 0)
    assert ("submit", (str(lost_submit.pk),)) not in queue


def test_watchdog_restarts_the_sweep_chain(upstream, queue):
    [task_id] = upstream_tasks(upstream, ["A fox #stall"])
    in_flight(make_user(), task_id)
    assert tasks.reconcile()["sweep"] == 1
    assert queue == [("sweep", ())]


def test_watchdog_ticks_do_not_overlap(upstream, queue):
    make_generation(make_user(), status=Status.QUEUED, next_poll_at=timezone.now())
    holder = Lease.acquire("reconcile", 60)
    assert tasks.reconcile() == {}
    assert queue == []
    Lease.release("reconcile", holder)


def test_the_watchdog_schedule_exists_once(upstream):
    from django_q.models import Schedule

    migration = importlib.import_module("studio.generations.migrations.0003_watchdog_schedule")
    migration.create_schedule(apps, None)  # running it again changes nothing
    schedule = Schedule.objects.get(name="studio-reconcile")
    assert schedule.func == "studio.generations.tasks.reconcile"
    assert schedule.schedule_type == Schedule.MINUTES
    assert schedule.minutes == 1
    assert schedule.repeats == -1


def test_a_hanging_upstream_ends_the_pass_and_gives_the_rows_back(upstream, queue, monkeypatch):
    monkeypatch.setattr(poller, "SWEEP_PASS_SECONDS", 0.3)
    [task_id] = upstream_tasks(upstream, ["A fox #stall"])
    row = in_flight(make_user(), task_id)
    due = row.next_poll_at
    upstream.config.latency = 1.5

    with pipeline.client() as api, ThreadPoolExecutor(2) as pool:
        started = time.monotonic()
        result = poller.sweep_once(api, pool)
        took = time.monotonic() - started

    assert took < 1.0  # the pass returned before the upstream answered
    assert (result.claimed, result.polled) == (1, 0)
    row.refresh_from_db()
    assert row.lease_until is None
    assert row.next_poll_at == due  # still due: the next pass asks again
    assert row.poll_attempts == 0
