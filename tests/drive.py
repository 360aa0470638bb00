"""Test helpers that run the pipeline by hand, as the worker would, against `upstream`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from studio.generations import pipeline, poller
from studio.generations.models import FINAL, Generation, Status
from tests.factories import make_user

PARAMS = {
    "model_name": "kling-v1-6",
    "prompt": "A red fox runs through fresh snow at dawn",
    "mode": "std",
    "duration": "5",
    "aspect_ratio": "16:9",
}


def params(prompt: str = PARAMS["prompt"], **kw) -> dict:
    return {**PARAMS, "prompt": prompt, **kw}


def submitted(prompt: str = PARAMS["prompt"], owner=None, **kw) -> Generation:
    """A generation made as the form makes it (for `owner`, else a new creator), then
    submitted once by hand as the worker would; refreshed from the database."""
    row = pipeline.create_generation(owner or make_user(), params(prompt, **kw))
    pipeline.submit(row.pk)
    row.refresh_from_db()
    return row


def stored_files() -> list[Path]:
    """Every file in media storage (MEDIA_ROOT)."""
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def make_due(*generations: Generation) -> None:
    """Pretend the backoff has passed: the rows are due now and hold no lease."""
    past = timezone.now() - timedelta(seconds=1)
    pks = [g.pk for g in generations]
    Generation.objects.filter(pk__in=pks).update(next_poll_at=past, lease_until=None)


def sweep(now=None) -> poller.SweepResult:
    with pipeline.client() as api, ThreadPoolExecutor(4) as pool:
        return poller.sweep_once(api, pool, now=now)


def drive(generation: Generation, until=FINAL, seconds: float = 15) -> Generation:
    """Sweep (and store) `generation` until its status is in `until`, making it due each time."""
    deadline = time.monotonic() + seconds
    while True:
        generation.refresh_from_db()
        if generation.status in until:
            return generation
        if time.monotonic() > deadline:
            raise AssertionError(f"still {generation.status}: {generation.last_error}")
        make_due(generation)
        if generation.status == Status.STORING:
            pipeline.store(generation.pk)
        elif generation.status == Status.QUEUED:
            pipeline.submit(generation.pk)
        else:
            sweep()
        time.sleep(0.05)


def at_once(work: Callable[[int], None], count: int) -> None:
    """Run work(0) ... work(count - 1) on threads released together by a barrier, as that
    many workers or browsers would; each closes its own database connection. Waits for all."""
    barrier = threading.Barrier(count)

    def run(n: int) -> None:
        barrier.wait()
        try:
            work(n)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
