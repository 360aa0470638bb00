"""(a) The poller sweep and (e) the worker's memory.

1,000 in-flight generations against the simulator answering every request after 50 ms,
swept by the real code (poller.sweep_once, as tasks.sweep runs it: one client, a pool of
POLL_CONCURRENCY threads), against a naive poller asking about one row after another with
the same client. Then the real worker (`manage.py worker`, one django-q2 worker process)
runs tasks.sweep over the same rows while its memory is sampled from /proc.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx

from benchmarks.harness import (
    cleanup,
    make_user,
    median,
    report,
    running,
    setup,
    start_simulator,
    start_worker,
    wait_until,
)

ROWS = int(os.environ.get("BENCH_SWEEP_ROWS", 1000))
LATENCY = 0.05
RUNS = 3


def main() -> int:
    data = setup("sweep")
    from django.conf import settings

    simulator, url = start_simulator(
        data, "--latency", "0", "--processing-after", "0", "--finish-after", "86400"
    )
    with running(simulator):
        settings.COMETAPI_BASE_URL = url
        settings.COMETAPI_KEY = "sk-bench"
        pks = seed(make_user(), ROWS)
        httpx.post(f"{url}/_sim/config", json={"latency": LATENCY}, timeout=10)
        figures = sweep_figures(pks)
        figures += memory_figures(data, url, pks)
    report("(a) poller sweep and (e) worker memory", figures)
    cleanup(data)
    return 0


def seed(user, count: int) -> list:
    """`count` tasks upstream (created concurrently, no latency yet) and their rows, all
    `processing` and due."""
    from django.utils import timezone

    from studio.generations import pipeline
    from studio.generations.models import Generation, Status
    from studio.kling.capabilities import build_body

    params = {
        "model_name": "kling-v1-6",
        "prompt": "A lighthouse in a storm, waves breaking over the rocks",
        "mode": "std",
        "duration": "5",
        "aspect_ratio": "16:9",
    }

    def create(n: int) -> tuple[str, str]:
        external = f"ps-bench-{uuid.uuid4().hex}"
        task = api.create_text2video({**build_body(params), "external_task_id": external})
        return external, task.task_id

    with pipeline.client() as api, ThreadPoolExecutor(16) as pool:
        created = list(pool.map(create, range(count)))
    now = timezone.now()
    rows = [
        Generation(
            owner=user,
            prompt=params["prompt"],
            model_name=params["model_name"],
            mode="std",
            duration="5",
            aspect_ratio="16:9",
            request_body={**build_body(params), "external_task_id": external},
            external_task_id=external,
            task_id=task_id,
            status=Status.PROCESSING,
            upstream_status="processing",
            submitted_at=now,
            next_poll_at=now - timedelta(seconds=1),
        )
        for external, task_id in created
    ]
    Generation.objects.bulk_create(rows, batch_size=500)
    return [row.pk for row in rows]


def make_due(pks: list, seconds: float = -1) -> None:
    from django.utils import timezone

    from studio.generations.models import Generation

    Generation.objects.filter(pk__in=pks).update(
        next_poll_at=timezone.now() + timedelta(seconds=seconds), lease_until=None
    )


def sweep_figures(pks: list) -> list[dict]:
    from django.conf import settings
    from django.db import connection
    from django.db.models import F
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from studio.generations import pipeline, poller
    from studio.generations.models import Generation

    times, queries = [], []
    with (
        pipeline.client() as api,
        ThreadPoolExecutor(settings.POLL_CONCURRENCY, thread_name_prefix="sweep") as pool,
    ):
        for _ in range(RUNS):
            make_due(pks)
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                result = poller.sweep_once(api, pool)
                times.append(time.perf_counter() - started)
            queries.append(len(captured))
            if result.polled != len(pks) or result.errors:
                print(f"  warning: sweep polled {result.polled}, errors {result.errors}")

        # The naive poller: one GET after another with the same client, one UPDATE per row.
        make_due(pks)
        rows = list(Generation.objects.filter(pk__in=pks).values_list("pk", "task_id"))
        started = time.perf_counter()
        for pk, task_id in rows:
            api.get_task(task_id)
            Generation.objects.filter(pk=pk).update(
                next_poll_at=timezone.now() + timedelta(seconds=settings.POLL_MIN_SECONDS),
                poll_attempts=F("poll_attempts") + 1,
            )
        naive = time.perf_counter() - started

    sweep = median(times)
    ratio = naive / sweep
    return [
        {
            "name": f"full sweep of {len(pks)} rows, {LATENCY * 1000:.0f} ms upstream latency, "
            f"POLL_CONCURRENCY={settings.POLL_CONCURRENCY} (median of {RUNS}: "
            + ", ".join(f"{t:.2f}" for t in times)
            + ")",
            "value": sweep,
            "unit": "s",
            "target": "< 3 s",
            "met": sweep < 3,
        },
        {
            "name": "speed-up over the naive sequential poller",
            "value": ratio,
            "unit": "x",
            "baseline": naive,
            "baseline_unit": "s",
            "ratio": ratio,
            "target": ">= 20x",
            "met": ratio >= 20,
        },
        {"name": "naive sequential poller, same rows", "value": naive, "unit": "s"},
        {
            "name": f"SQL queries in one sweep of {len(pks)} rows",
            "value": max(queries),
            "unit": "queries",
        },
    ]


def memory_figures(data, url: str, pks: list) -> list[dict]:
    """The real worker (one django-q2 worker process) runs tasks.sweep over the rows."""
    from django.conf import settings
    from django.db.models import Min

    from studio.generations import pipeline
    from studio.generations.models import Generation

    make_due(pks, seconds=3600)  # nothing due while the worker starts
    env = {
        "COMETAPI_BASE_URL": url,
        "COMETAPI_KEY": "sk-bench",
        "STUDIO_WORKERS": "1",
        "LOG_LEVEL": "WARNING",
    }
    worker = start_worker(data, env)
    samples: dict[int, int] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid, (rss, _) in worker.rss().items():
                samples[pid] = max(samples.get(pid, 0), rss)
            time.sleep(0.05)

    with running(worker):
        time.sleep(6)  # cluster up, the start-up watchdog run done
        idle = {pid: rss for pid, (rss, _) in worker.rss().items()}
        before = Generation.objects.filter(pk__in=pks).aggregate(n=Min("poll_attempts"))["n"]
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        make_due(pks)
        started = time.perf_counter()
        pipeline.enqueue("sweep")
        done = wait_until(
            lambda: Generation.objects.filter(pk__in=pks, poll_attempts__lte=before).count() == 0,
            seconds=60,
            step=0.05,
        )
        elapsed = time.perf_counter() - started
        time.sleep(1)
        peaks = {pid: peak for pid, (_, peak) in worker.rss().items()}
        stop.set()
        sampler.join()
    if not done or not peaks:
        return [{"name": "worker memory", "value": "not measured (the sweep did not finish)"}]
    busiest = max(peaks, key=lambda pid: peaks[pid] - idle.get(pid, peaks[pid]))
    peak = peaks[busiest]
    baseline = idle.get(busiest, peak)
    cluster_peak = sum(samples.values())
    limit = settings.Q_CLUSTER.get("max_rss")
    return [
        {
            "name": f"real worker: first full pass of tasks.sweep over {len(pks)} rows "
            "(enqueue to the last row written, incl. broker pickup)",
            "value": elapsed,
            "unit": "s",
        },
        {
            "name": "peak RSS of the worker process that ran the sweep",
            "value": peak // 1024,
            "unit": "MB",
            "baseline": baseline // 1024,
            "ratio": peak / baseline,
            "target": f"< max_rss ({limit // 1024} MB, the recycle limit)",
            "met": peak < limit,
        },
        {
            "name": f"sum of peak RSS over the whole cluster ({len(samples)} processes)",
            "value": cluster_peak // 1024,
            "unit": "MB",
        },
    ]


if __name__ == "__main__":
    sys.exit(main())
