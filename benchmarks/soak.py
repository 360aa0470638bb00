"""(g) The soak: 1,000 generations through the real worker with recycling on.

`manage.py worker` (STUDIO_WORKERS processes) with django-q2's `recycle` (a worker process
is replaced after that many tasks) and `max_rss` (or once its peak memory passes that) set
low enough to fire many times, against the simulator as its own process. Every job goes
the whole way: submit, polls, the video downloaded, probed and stored. The cluster's memory
is sampled from /proc every second; at the end every generation must have succeeded with
exactly one create upstream, its video and poster in storage (docs/reliability.md R9, R44).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from benchmarks import harness

TASKS = int(os.environ.get("BENCH_SOAK_TASKS", 1000))
WORKERS = int(os.environ.get("BENCH_SOAK_WORKERS", 2))
RECYCLE = int(os.environ.get("BENCH_SOAK_RECYCLE", 50))
MAX_RSS_MB = int(os.environ.get("BENCH_SOAK_MAX_RSS_MB", 90))
TIMEOUT = float(os.environ.get("BENCH_SOAK_SECONDS", 900))
PARAMS = {"model_name": "kling-v1-6", "mode": "std", "duration": "5", "aspect_ratio": "16:9"}


class Sampler(threading.Thread):
    """Every second: the cluster's processes and each one's RSS (KB)."""

    def __init__(self, worker, started: float):
        super().__init__(daemon=True)
        self.worker, self.started = worker, started
        self.samples: list[tuple[float, dict[int, int]]] = []
        self.peaks: dict[int, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            now = self.worker.rss()
            for pid, (_, peak) in now.items():
                self.peaks[pid] = max(self.peaks.get(pid, 0), peak)
            rss = {pid: current for pid, (current, _) in now.items()}
            self.samples.append((time.monotonic() - self.started, rss))
            self.stop.wait(1.0)


def main() -> int:
    data = harness.setup("soak")
    from django.conf import settings

    simulator, url = harness.start_simulator(
        data, "--processing-after", "0.2", "--finish-after", "0.6", "--fps", "2"
    )
    env = {
        "COMETAPI_BASE_URL": url,
        "COMETAPI_KEY": "sk-bench",
        "STUDIO_DOWNLOAD_ALLOWED_HOSTS": url.split("://", 1)[1],
        "STUDIO_WORKERS": str(WORKERS),
        "STUDIO_WORKER_RECYCLE": str(RECYCLE),
        "STUDIO_WORKER_MAX_RSS_MB": str(MAX_RSS_MB),
        "STUDIO_POLL_MIN_SECONDS": "0.5",
        "STUDIO_POLL_MAX_SECONDS": "2",
        "LOG_LEVEL": "INFO",
    }
    settings.COMETAPI_BASE_URL = url
    with harness.running(simulator):
        worker = harness.start_worker(data, env)
        with harness.running(worker):
            figures = soak(data, url, worker)
    harness.report("(g) soak: 1,000 jobs through the worker with recycle and max_rss", figures)
    harness.cleanup(data)
    return 0 if all(f.get("met", True) for f in figures) else 1


def soak(data: Path, url: str, worker) -> list[dict]:
    import httpx

    from studio.generations import pipeline
    from studio.generations.models import Generation, Status

    time.sleep(5)  # the cluster up and its workers forked
    started = time.monotonic()
    sampler = Sampler(worker, started)
    sampler.start()
    owner = harness.make_user()
    for n in range(TASKS):
        pipeline.create_generation(owner, {**PARAMS, "prompt": f"soak {n}: a heron at dawn"})
    made = time.monotonic() - started

    def finished() -> bool:
        return not Generation.objects.exclude(status__in=(Status.SUCCEEDED, Status.FAILED)).exists()

    done = harness.wait_until(finished, TIMEOUT, step=1.0)
    elapsed = time.monotonic() - started
    sampler.stop.set()
    sampler.join()
    statuses: dict[str, int] = {}
    for status in Generation.objects.values_list("status", flat=True):
        statuses[status] = statuses.get(status, 0) + 1
    stats = httpx.get(f"{url}/_sim/stats", timeout=30).json()
    creates = stats["creates_by_external_id"]
    ours = set(Generation.objects.values_list("external_task_id", flat=True))
    media = Path(os.environ["STUDIO_DATA_DIR"]) / "media"
    files = sum(1 for path in media.rglob("*") if path.is_file()) if media.exists() else 0
    log = (data / "worker.log").read_text(errors="replace")
    return figures(
        sampler=sampler,
        done=done,
        elapsed=elapsed,
        made=made,
        statuses=statuses,
        one_each=len(creates) == TASKS and set(creates) == ours and set(creates.values()) == {1},
        files=files,
        recycled=log.count("recycled worker"),
    )


def figures(
    *,
    sampler: Sampler,
    done: bool,
    elapsed: float,
    made: float,
    statuses: dict,
    one_each: bool,
    files: int,
    recycled: int,
) -> list[dict]:
    totals = [(t, sum(rss.values())) for t, rss in sampler.samples if rss]
    largest = [(t, max(rss.values())) for t, rss in sampler.samples if rss]
    pids = {pid for _, rss in sampler.samples for pid in rss}
    succeeded, failed = statuses.get("succeeded", 0), statuses.get("failed", 0)
    limit_kb = MAX_RSS_MB * 1000
    peak_process = max(sampler.peaks.values(), default=0)
    return [
        {
            "name": f"{TASKS} jobs made (in {made:.0f} s) and carried to the end",
            "value": elapsed,
            "unit": "s",
            "target": f"all finish within {TIMEOUT:.0f} s",
            "met": done,
        },
        {
            "name": "jobs succeeded / failed / other",
            "unit": "",
            "value": f"{succeeded} / {failed} / {TASKS - succeeded - failed}",
            "target": "all succeeded",
            "met": succeeded == TASKS,
        },
        {
            "name": "one create upstream per job, none extra",
            "value": "yes" if one_each else "no",
            "target": "yes",
            "met": one_each,
        },
        {
            "name": "files in storage (video and the two posters per job)",
            "value": files,
            "target": f"{3 * TASKS}",
            "met": files == 3 * TASKS,
        },
        {
            "name": f"worker processes replaced (recycle {RECYCLE} tasks, max_rss {MAX_RSS_MB} MB)",
            "value": recycled,
            "unit": f"times; {len(pids)} processes seen",
        },
        {
            "name": "largest single process RSS, sampled each second",
            "value": peak_process // 1024,
            "unit": "MB",
            "target": f"< max_rss + one task's growth ({MAX_RSS_MB} MB + 100)",
            "met": peak_process < limit_kb + 100_000,
        },
        {
            "name": "cluster RSS over time (MB, every 10% of the run)",
            "unit": "",
            "value": " ".join(f"{t:.0f}s:{kb // 1024}" for t, kb in spread(totals, 10)),
        },
        {
            "name": "largest process RSS over time (MB, every 10% of the run)",
            "unit": "",
            "value": " ".join(f"{t:.0f}s:{kb // 1024}" for t, kb in spread(largest, 10)),
        },
        {
            "name": "cluster RSS: first tenth vs last tenth of the run (median)",
            "unit": "MB",
            "value": f"{tenth(totals, 0) // 1024} -> {tenth(totals, -1) // 1024}",
        },
    ]


def spread(series: list[tuple[float, int]], parts: int) -> list[tuple[float, int]]:
    if not series:
        return []
    step = max(1, len(series) // parts)
    return series[::step][:parts] + [series[-1]]


def tenth(series: list[tuple[float, int]], which: int) -> int:
    if not series:
        return 0
    size = max(1, len(series) // 10)
    chunk = series[:size] if which == 0 else series[-size:]
    values = sorted(kb for _, kb in chunk)
    return values[len(values) // 2]


if __name__ == "__main__":
    sys.exit(main())
