"""The state machine and the claims that guard it: forward only, final states stay final,
one worker per row, Retry-After honoured on polls (docs/reliability.md).

Races are staged, not hoped for: `between` runs the other worker's step on this connection
just before a chosen query of this one, so the interleaving that breaks a guard happens in
every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from studio.generations import pipeline, poller
from studio.generations.media import StoredMedia
from studio.generations.models import FINAL, Generation, Status
from tests.drive import drive, make_due, params, stored_files, submitted, sweep
from tests.factories import make_generation, make_task

pytestmark = pytest.mark.django_db

VIDEO_URL = "https://cdn.example-kling.test/out/video-1.mp4"
STORED = StoredMedia(
    video="videos/x.mp4",
    poster="posters/x.jpg",
    size=1,
    sha256="0" * 64,
    seconds=5.0,
    width=1280,
    height=720,
)

# Every way into a state, as the pipeline and the poller call them.
TRANSITIONS: dict[str, Callable[[Generation], bool]] = {
    "mark_submitted": lambda g: g.mark_submitted(make_task("submitted"), note="Late answer."),
    "mark_processing": lambda g: g.mark_processing(
        make_task(), next_poll_at=timezone.now(), stalled=False
    ),
    "mark_storing": lambda g: g.mark_storing(
        make_task("succeed", video_url=VIDEO_URL), next_poll_at=timezone.now()
    ),
    "mark_succeeded": lambda g: g.mark_succeeded(STORED),
    "mark_failed": lambda g: g.mark_failed("Given up late.", code="timeout"),
    "mark_failed_upstream": lambda g: g.mark_failed_upstream(
        make_task("failed", status_msg="Failed late.")
    ),
}


@contextmanager
def between(picks: Callable[[str, tuple], bool], other: Callable[[], object]) -> Iterator[list]:
    """Run `other` (another worker's step) once, just before the first query that `picks`
    chooses; its result lands in the yielded list. Its own queries pass straight through."""
    ran: list = []

    def wrapper(execute, sql, sql_params, many, context):
        if not ran and picks(sql, tuple(sql_params or ())):
            ran.append(None)
            ran[0] = other()
        return execute(sql, sql_params, many, context)

    with connection.execute_wrapper(wrapper):
        yield ran


def is_update(sql: str, sql_params: tuple) -> bool:
    return sql.lstrip().upper().startswith("UPDATE")


def as_stored(row: Generation) -> dict:
    return Generation.objects.filter(pk=row.pk).values().get()


# ------------------------------------------------------------------ forward only


@pytest.mark.parametrize(
    ("status", "transition"),
    [
        (Status.PROCESSING, "mark_submitted"),
        (Status.STORING, "mark_submitted"),
        (Status.STORING, "mark_processing"),
    ],
)
def test_a_backward_move_is_refused_and_leaves_the_row_as_it_was(owner, status, transition):
    row = make_generation(
        owner, status=status, task_id="880000000000000123", result_url=VIDEO_URL, poll_attempts=3
    )
    before = as_stored(row)

    assert TRANSITIONS[transition](row) is False

    assert as_stored(row) == before
    assert row.status == status
    assert not row.events.exists()


@pytest.mark.parametrize("transition", TRANSITIONS)
@pytest.mark.parametrize("final", FINAL)
def test_a_final_state_is_never_left(owner, final, transition):
    row = make_generation(
        owner,
        status=final,
        status_msg="The first outcome.",
        finished_at=timezone.now() - timedelta(minutes=5),
        units_charged=1,
    )
    before = as_stored(row)

    assert TRANSITIONS[transition](row) is False

    assert as_stored(row) == before
    assert row.status == final
    assert not row.events.exists()


def test_each_move_forward_leaves_one_event(owner):
    row = make_generation(owner)
    for name in ("mark_submitted", "mark_processing", "mark_storing", "mark_succeeded"):
        assert TRANSITIONS[name](row)
    row.refresh_from_db()
    assert row.status == Status.SUCCEEDED
    assert row.finished_at is not None and row.next_poll_at is None and row.lease_until is None
    assert list(row.events.values_list("status", flat=True)) == [
        "submitted",
        "processing",
        "storing",
        "succeeded",
    ]


def test_a_video_stored_after_the_row_failed_leaves_no_files(upstream, queue, owner):
    row = submitted(owner=owner)
    drive(row, until=(Status.STORING,))

    def cancelled() -> bool:  # another worker fails the row while this one downloads
        return Generation.objects.get(pk=row.pk).mark_failed("Stopped meanwhile.", code="test")

    def marks_succeeded(sql: str, sql_params: tuple) -> bool:
        return is_update(sql, sql_params) and Status.SUCCEEDED in sql_params

    with between(marks_succeeded, cancelled) as other:
        assert pipeline.store(row.pk)

    assert other == [True]
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.status_msg == "Stopped meanwhile."
    assert not row.video and not row.poster
    assert stored_files() == []


# ------------------------------------------------------------------ claims


def test_two_sweeps_racing_for_one_row_claim_it_once(owner):
    row = make_generation(
        owner,
        status=Status.SUBMITTED,
        task_id="880000000000000123",
        next_poll_at=timezone.now() - timedelta(seconds=1),
    )
    now = timezone.now()

    # The other sweep reads and claims the row after this one read it, before it claims.
    with between(is_update, lambda: poller.claim_due(now, 10)) as other:
        mine, _ = poller.claim_due(now, 10)

    [(theirs, their_lease)] = other
    assert [r.pk for r in theirs] == [row.pk]
    assert mine == []
    row.refresh_from_db()
    assert row.lease_until == their_lease


def test_a_stale_copy_cannot_send_a_second_create_after_an_ambiguous_attempt(
    upstream, queue, owner
):
    row = pipeline.create_generation(owner, params("A fox #ambiguous-504"))

    # This worker has read the queued row; before it claims, another worker makes an
    # attempt whose answer is lost (the task was made, then a 504 came back).
    with between(is_update, lambda: pipeline.submit(row.pk)) as other:
        acted = pipeline.submit(row.pk)

    assert other == [True]
    assert upstream.stats()["create_attempts_by_external_id"] == {row.external_task_id: 1}
    assert acted is False
    row.refresh_from_db()
    assert row.status == Status.QUEUED
    assert row.submit_uncertain and row.submit_attempts == 1
    make_due(row)
    assert pipeline.submit(row.pk)  # the next attempt reconciles: it finds the task
    row.refresh_from_db()
    assert row.status == Status.SUBMITTED
    assert upstream.stats()["create_attempts_by_external_id"] == {row.external_task_id: 1}


# ------------------------------------------------------------------ polling


def test_a_poll_answered_429_waits_out_its_retry_after(upstream, queue, owner, settings):
    settings.POLL_MIN_SECONDS = 2
    upstream.config.retry_after = 20  # longer than the poll backoff (2 s)
    row = submitted("A fox #poll-rate-1302", owner)
    make_due(row)
    now = timezone.now()

    result = sweep(now=now)  # the 1st query of a #poll-rate-1302 task answers 429

    assert result.errors == 1
    row.refresh_from_db()
    assert row.status == Status.SUBMITTED
    assert "HTTP 429" in row.last_error
    assert row.next_poll_at == now + timedelta(seconds=20)
