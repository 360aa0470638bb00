"""django-q2 tasks. Each takes at most a generation id (docs/reliability.md R1) and hands over to
the pipeline; the Generation row, not the queue, says what is left to do."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.utils import timezone

from studio.generations import pipeline, poller, vitals
from studio.generations.models import Lease

logger = logging.getLogger(__name__)

# One sweep task keeps sweeping while rows come due within this many seconds, then hands
# over to a fresh task, so it never holds a worker for long (Q_CLUSTER timeout is 120 s).
SWEEP_TASK_SECONDS = 20
SWEEP_LEASE_SECONDS = 60  # renewed every pass; runs out only if the worker died
IDLE_STEP = 1.0  # how long the sweep waits between looks while nothing is due yet
RECONCILE_LEASE_SECONDS = 50


def submit(generation_id: str) -> bool:
    """Send a queued generation upstream (enqueued on commit by create_generation)."""
    return pipeline.submit(generation_id)


def store(generation_id: str) -> bool:
    """Copy a finished generation's video into our storage."""
    return pipeline.store(generation_id)


def sweep() -> int:
    """Poll (and retry submits of) due rows until none is due soon; hand over to a new
    sweep task if work remains. Only one sweep runs at a time (docs/reliability.md R8). Returns
    rows handled."""
    holder = Lease.acquire(pipeline.SWEEP_LEASE_NAME, SWEEP_LEASE_SECONDS)
    if holder is None:
        return 0  # another sweep is running; it will see any row that is due
    handled = 0
    again = False
    started = time.monotonic()
    try:
        with (
            pipeline.client() as api,
            ThreadPoolExecutor(settings.POLL_CONCURRENCY, thread_name_prefix="sweep") as pool,
        ):
            while True:
                result = poller.sweep_once(api, pool)
                vitals.tally(vitals.POLL, result.codes)
                handled += result.claimed + poller.dispatch_stores(timezone.now())
                Lease.renew(pipeline.SWEEP_LEASE_NAME, holder, SWEEP_LEASE_SECONDS)
                now = timezone.now()
                due = poller.next_sweep_due(now)
                if due is None or (due - now).total_seconds() > settings.POLL_MAX_SECONDS:
                    break  # nothing soon: the chain ends; the watchdog restarts it
                if time.monotonic() - started > SWEEP_TASK_SECONDS:
                    again = True
                    break
                wait = (due - now).total_seconds()
                if wait > 0 or not result.claimed:
                    # Nothing was claimable: wait a little rather than spin on rows
                    # another worker still holds.
                    time.sleep(min(max(wait, 0.05), IDLE_STEP))
    finally:
        Lease.release(pipeline.SWEEP_LEASE_NAME, holder)
    if again:
        pipeline.enqueue("sweep")
    return handled


def reconcile() -> dict[str, int]:
    """The watchdog (every minute): re-enqueue lost submits and stores, restart the sweep
    chain. Ticks never overlap (docs/reliability.md R8)."""
    holder = Lease.acquire("reconcile", RECONCILE_LEASE_SECONDS)
    if holder is None:
        return {}
    try:
        counts = poller.reconcile()
        vitals.prune()
    finally:
        Lease.release("reconcile", holder)
    if any(counts.values()):
        logger.info("Watchdog: %s", counts)
    return counts
