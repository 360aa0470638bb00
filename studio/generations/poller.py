"""The poller: due rows swept in bulk, and the watchdog that restarts whatever stopped.

One pass claims up to POLL_BATCH due rows with one UPDATE, asks the upstream about them
concurrently (a bounded thread pool sharing one client), and writes the answers on the
calling thread: a move for each row that changed, one UPDATE per distinct outcome for
the rest. So the queries of a pass do not grow with its rows (bulk reads; writes only
for rows that changed). Unknown upstream statuses count as still running and are logged
(docs/upstream.md §12.1); a task past STALL_AFTER is flagged and polled slowly, past
GIVE_UP_AFTER it fails with a message.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections
from django.db.models import F, Min, Q
from django.utils import timezone

from studio.generations import pipeline, vitals
from studio.generations.models import ACTIVE, FINAL, Generation, Lease, Status
from studio.kling import errors
from studio.kling.client import KlingClient
from studio.kling.types import KlingError, Task, TaskStatus

logger = logging.getLogger(__name__)

POLL_LEASE = 120  # a sweep pass: its budget plus one last read timeout (30 s)
SWEEP_PASS_SECONDS = 60  # upstream answers are awaited at most this long per pass
WATCHDOG_SECONDS = 60  # how often the reconcile schedule runs (migration 0003)
SWEPT = (Status.QUEUED, Status.SUBMITTED, Status.PROCESSING)
POLLED = (Status.SUBMITTED, Status.PROCESSING)


@dataclass
class SweepResult:
    claimed: int = 0
    polled: int = 0
    submitted: int = 0
    moved: int = 0
    errors: int = 0
    store: list[str] = field(default_factory=list)
    # Poll outcomes by code ("" for an answer), for the health page's tallies (vitals.py).
    codes: Counter = field(default_factory=Counter)


def claim_due(now: datetime, limit: int) -> tuple[list[Generation], datetime]:
    """Lease up to `limit` due rows in one UPDATE and read them back (docs/reliability.md R16).

    The lease's expiry doubles as the claim's identity: random microseconds make it
    ours alone, so the read-back returns exactly the rows this UPDATE took."""
    until = now + timedelta(seconds=POLL_LEASE, microseconds=secrets.randbelow(999_999) + 1)
    due = Generation.objects.due(now).filter(status__in=SWEPT).order_by("next_poll_at")
    ids = list(due.values_list("pk", flat=True)[:limit])
    if not ids:
        return [], until
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    Generation.objects.filter(free, pk__in=ids, status__in=SWEPT).update(lease_until=until)
    rows = Generation.objects.filter(pk__in=ids, lease_until=until).order_by("next_poll_at")
    return list(rows), until


def sweep_once(
    api: KlingClient, pool: ThreadPoolExecutor, *, now: datetime | None = None
) -> SweepResult:
    """One pass over due rows: submit queued ones, poll the others, write what changed.

    Upstream calls run in `pool`; the answers are written on this thread as they arrive,
    unchanged rows in one UPDATE per distinct outcome, so the queries do not grow with
    the number of rows (bulk reads; writes only for rows that changed).
    """
    now = now or timezone.now()
    rows, lease = claim_due(now, settings.POLL_BATCH)
    result = SweepResult(claimed=len(rows))
    if not rows:
        return result
    queued = [row for row in rows if row.status == Status.QUEUED]
    polled = [row for row in rows if row.status != Status.QUEUED and row.task_id]
    orphans = [row for row in rows if row.status != Status.QUEUED and not row.task_id]
    for row in orphans:  # cannot happen through mark_submitted(); never poll "" forever
        row.mark_failed(errors.sentence("no_task_id"), code="no_task_id")
    submits = {pool.submit(_in_thread, pipeline.submit_claimed, row, api): row for row in queued}
    polls = {pool.submit(_get, api, row.task_id, row.kind): row for row in polled}
    unchanged = _apply_polls(polls, submits, now, lease, result)
    for (seconds, stalled, error), ids in unchanged.items():
        Generation.objects.filter(pk__in=ids, status__in=POLLED, lease_until=lease).update(
            next_poll_at=now + timedelta(seconds=seconds),
            poll_attempts=F("poll_attempts") + 1,
            stalled=stalled,
            last_error=error,
            lease_until=None,
            updated_at=now,
        )
    for future in submits:
        if future.cancelled():
            continue
        try:
            future.result()
            result.submitted += 1
        except Exception:
            logger.exception("A submit in the sweep failed")
            result.errors += 1
    for pk in result.store:
        pipeline.enqueue("store", pk)
    return result


def _apply_polls(
    polls: dict[Future, Generation],
    submits: dict[Future, Generation],
    now: datetime,
    lease: datetime,
    result: SweepResult,
) -> dict[tuple, list]:
    """Write the poll answers as they arrive; returns the ids of the unchanged rows by
    bookkeeping key, for the caller's bulk UPDATEs. Past the pass's time budget the rows
    not answered yet, and the submits not started, are given back."""
    unchanged: dict[tuple, list] = defaultdict(list)
    pending = dict(polls)
    try:
        for future in as_completed(polls, timeout=SWEEP_PASS_SECONDS):
            row = pending.pop(future)
            result.polled += 1
            try:
                outcome = future.result()
                failed = isinstance(outcome, KlingError)
                result.codes[vitals.error_code(outcome) if failed else ""] += 1
                key = apply_poll(row, outcome, now, result)
            except Exception:  # one bad row is logged and pushed back, never stops the sweep
                logger.exception("Generation %s: applying the poll failed", row.pk)
                key = (settings.POLL_MAX_SECONDS, row.stalled, "Internal error while polling.")
            if key is not None:
                unchanged[key].append(row.pk)
    except TimeoutError:
        # The upstream is hanging: stop here so the task ends well inside the cluster's
        # timeout. Rows not asked yet are given back, due as they were.
        for future, row in submits.items():
            if future.cancel():
                pending[future] = row
        for future in pending:
            future.cancel()
        left = [row.pk for row in pending.values()]
        logger.warning("Sweep pass over its time budget; %s rows left for the next", len(left))
        Generation.objects.filter(pk__in=left, lease_until=lease).update(lease_until=None)
    return unchanged


def _get(api: KlingClient, task_id: str, kind: str) -> Task | KlingError:
    try:
        return api.get_task(task_id, kind)  # type: ignore[arg-type]
    except KlingError as error:
        return error


def _in_thread(step: Callable, *args) -> None:
    """Run a step that writes to the database on a pool thread, then close that thread's
    connection (Django opens one per thread and would leave it open)."""
    try:
        step(*args)
    except Exception:
        logger.exception("Step %s failed", getattr(step, "__name__", step))
        raise
    finally:
        connections.close_all()


def apply_poll(
    row: Generation, outcome: Task | KlingError, now: datetime, result: SweepResult
) -> tuple | None:
    """Record one poll answer. Returns the bookkeeping key for an unchanged row (written in
    bulk by the caller), or None when this function wrote the row itself."""
    age = now - (row.submitted_at or row.created_at)
    if isinstance(outcome, KlingError):
        result.errors += 1
        logger.info("Generation %s: poll failed: %s", row.pk, outcome)
        if age > settings.GIVE_UP_AFTER:
            _give_up(row)
            return None
        seconds = max(_poll_interval(row, age), outcome.retry_after or 0)
        return (seconds, row.stalled or age > settings.STALL_AFTER, str(outcome)[:1000])
    task = outcome
    if task.status is TaskStatus.UNKNOWN:
        logger.warning(
            "Generation %s: unknown upstream status %r, counted as still running",
            row.pk,
            task.raw_status,
        )
    if task.status is TaskStatus.SUCCEED and task.video and task.video.url:
        store_by = now + timedelta(seconds=pipeline.STORE_LEASE)
        if row.mark_storing(task, next_poll_at=store_by):
            result.moved += 1
            result.store.append(str(row.pk))
        return None
    if task.status is TaskStatus.FAILED:
        if row.mark_failed_upstream(task):
            result.moved += 1
        return None
    if task.status is TaskStatus.SUCCEED:
        logger.warning("Generation %s: succeed without a video URL; polling on", row.pk)
    if age > settings.GIVE_UP_AFTER:
        _give_up(row, task)
        return None
    return _still_running(row, task, now, age, result)


def _still_running(
    row: Generation, task: Task, now: datetime, age: timedelta, result: SweepResult
) -> tuple | None:
    """A task the upstream is still on: processing now, news worth a write, or only a
    bookkeeping key for the caller's bulk write."""
    stalled = age > settings.STALL_AFTER
    if task.status is TaskStatus.PROCESSING and row.status == Status.SUBMITTED:
        soon = now + timedelta(seconds=settings.POLL_MIN_SECONDS)
        if row.mark_processing(task, next_poll_at=soon, stalled=stalled):
            result.moved += 1
        return None
    facts = row.upstream_facts(task)
    seconds = _poll_interval(row, age)
    # Timestamps alone do not count: they are saved with the next real change.
    changed = (
        facts["upstream_status"] != row.upstream_status
        or facts["status_msg"] != row.status_msg
        or facts.get("units_charged", row.units_charged) != row.units_charged
    )
    if changed or (stalled and not row.stalled):
        if stalled and not row.stalled:
            logger.info("Generation %s: stalled after %s", row.pk, age)
        row.touch(
            **facts,
            stalled=stalled,
            last_error="",
            poll_attempts=F("poll_attempts") + 1,
            next_poll_at=now + timedelta(seconds=seconds),
            lease_until=None,
        )
        return None
    return (seconds, stalled, "")


def _poll_interval(row: Generation, age: timedelta) -> float:
    if age > settings.STALL_AFTER:
        return stalled_poll_seconds()
    return pipeline.backoff(row.poll_attempts, settings.POLL_MIN_SECONDS, settings.POLL_MAX_SECONDS)


def stalled_poll_seconds() -> float:
    """How often a stalled task is asked about: four times the longest normal interval."""
    return settings.POLL_MAX_SECONDS * 4


def _give_up(row: Generation, task: Task | None = None) -> None:
    minutes = int(settings.GIVE_UP_AFTER.total_seconds() // 60)
    message = errors.sentence("timeout", minutes=minutes)
    logger.warning("Generation %s: giving up after %s minutes", row.pk, minutes)
    row.mark_failed(message, code="timeout", task=task, stalled=True)


def next_sweep_due(now: datetime) -> datetime | None:
    """When the sweep next has work: a row's next_poll_at (a poll, a submit retry or a
    download retry it hands out), or when a row's lease runs out."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    found = Generation.objects.filter(
        status__in=(*SWEPT, Status.STORING), next_poll_at__isnull=False
    ).aggregate(
        free=Min("next_poll_at", filter=free),
        leased=Min("lease_until", filter=~free),
    )
    times = [t for t in (found["free"], found["leased"]) if t is not None]
    return min(times) if times else None


def reconcile(now: datetime | None = None) -> dict[str, int]:
    """Move forward anything stuck (docs/reliability.md R2): lost submit and store tasks, a stopped
    sweep."""
    now = now or timezone.now()
    counts = {"submit": 0, "store": 0, "sweep": 0}
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    never_sent = Generation.objects.filter(
        free, status=Status.QUEUED, submit_attempts=0, next_poll_at__lte=now
    )
    for pk in _dispatch(never_sent, now + timedelta(seconds=pipeline.SUBMIT_GRACE)):
        pipeline.enqueue("submit", pk)
        counts["submit"] += 1
    counts["store"] = dispatch_stores(now)
    soon = now + timedelta(seconds=WATCHDOG_SECONDS)  # before the next tick
    due = next_sweep_due(now)
    if due is not None and due <= soon and not Lease.is_held(pipeline.SWEEP_LEASE_NAME):
        pipeline.enqueue("sweep")
        counts["sweep"] = 1
    return counts


def release_abandoned(now: datetime | None = None) -> int:
    """Give back every lease held on an unfinished row, and the sweep's and watchdog's
    leases, and make those rows due now: the worker holding them is dead. Only for a
    worker start when no other worker can be running (the SQLite cluster lock); with
    several clusters the leases run out on their own. Returns how many rows it freed."""
    now = now or timezone.now()
    freed = Generation.objects.filter(status__in=ACTIVE, lease_until__gt=now).update(
        lease_until=None, next_poll_at=now
    )
    # Never sent: their submit tasks may have died in the stopped cluster's hands, so
    # do not wait out the grace the on-commit task was given.
    Generation.objects.filter(status=Status.QUEUED, submit_attempts=0, next_poll_at__gt=now).update(
        next_poll_at=now
    )
    Lease.objects.filter(until__gt=now).update(until=now, holder="")
    return freed


def dispatch_stores(now: datetime) -> int:
    """Hand out the store task of each storing row that is due: a lost task, or a failed
    download whose retry time has come. The sweep calls this on every pass, so a retry
    does not wait for the watchdog."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    storing = Generation.objects.filter(free, status=Status.STORING, next_poll_at__lte=now)
    ids = _dispatch(storing, now + timedelta(seconds=pipeline.STORE_LEASE))
    for pk in ids:
        pipeline.enqueue("store", pk)
    return len(ids)


def _dispatch(rows, until: datetime, limit: int = 500) -> Iterable[str]:
    """Push the rows' next action to `until` (so the next tick does not hand them out
    again while their task waits in the queue) and return their ids."""
    ids = list(rows.values_list("pk", flat=True)[:limit])
    if ids:
        Generation.objects.filter(pk__in=ids).exclude(status__in=FINAL).update(next_poll_at=until)
    return [str(pk) for pk in ids]
