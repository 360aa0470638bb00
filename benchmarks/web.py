"""(b) Throughput of the live status endpoint and the history page under gunicorn.

The web server runs exactly as `make run` starts it (studio.run.web_command: 3 workers of
4 threads) on a database with 10,000 generations, 5 of them running. A small load generator
(threads, each with one keep-alive connection, signed in as a real user) hits one URL at a
time for a fixed time; the baseline is /healthz (a trivial view: one `SELECT 1`) on the
same server in the same run.
"""

from __future__ import annotations

import http.client
import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.harness import cleanup, make_user, median, report, running, setup
from benchmarks.harness import start_web as start_gunicorn
from benchmarks.queries import grow
from tests.system import sign_in

CLIENTS = int(os.environ.get("BENCH_WEB_CLIENTS", 8))
SECONDS = float(os.environ.get("BENCH_WEB_SECONDS", 2))
# Short interleaved rounds, each compared with the /healthz round just before it: the
# machine's speed drifts (other processes), the ratio within a round much less.
ROUNDS = 8
ROWS = int(os.environ.get("BENCH_WEB_ROWS", 10_000))


def main() -> int:
    data = setup("web")
    from django.utils import timezone

    from studio.composer.views import to_cursor
    from studio.generations.models import Generation

    user = make_user("bench")
    grow(user, make_user("other"), ROWS)
    newest = Generation.objects.filter(owner=user).order_by("-created_at").first()
    known = to_cursor(newest.created_at)
    # An open page's cursor: the time of its last poll. Nothing changed since (the steady
    # state of a page watching a few running jobs): the answer is the cursor alone.
    since = to_cursor(timezone.now())
    web, url = start_gunicorn(data, workers=3, env={"LOG_LEVEL": "WARNING"})
    with running(web):
        session = sign_in(url, "bench", "a-long-bench-password")
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        session.close()
        targets = {
            "healthz": "/healthz",
            "status": f"/queue/updates/?since={since}&known={known}",
            "history": "/history/",
        }
        results: dict[str, list[Load]] = {name: [] for name in targets}
        pids = web.group_pids()
        for path in targets.values():
            hammer(url, path, cookie, 1.0, pids)  # warm every worker up
        for _ in range(ROUNDS):
            for name, path in targets.items():
                results[name].append(hammer(url, path, cookie, SECONDS, pids))
    figures = summarise(results)
    report("(b) web throughput under gunicorn", figures)
    cleanup(data)
    return 0


class Load:
    def __init__(self, done: int, errors: int, seconds: float, latencies: list[float], cpu: float):
        self.done, self.errors, self.seconds = done, errors, seconds
        self.latencies = sorted(latencies)
        self.cpu = cpu  # CPU seconds the web server's processes used in the round

    @property
    def cpu_ms(self) -> float:
        """Server CPU per answered request: what throughput on a busy machine comes to."""
        return self.cpu / max(self.done, 1) * 1000

    @property
    def rate(self) -> float:
        return self.done / self.seconds

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        return self.latencies[min(len(self.latencies) - 1, int(p * len(self.latencies)))]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def hammer(base: str, path: str, cookie: str, seconds: float, pids: list[int]) -> Load:
    """CLIENTS threads, each GETting `path` over one keep-alive connection for `seconds`."""
    parts = urlsplit(base)
    stop = threading.Event()
    lock = threading.Lock()
    totals = {"done": 0, "errors": 0}
    latencies: list[float] = []
    headers = {"Cookie": cookie, "HX-Request": "true", "Accept": "text/html"}

    def client() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        done = errors = 0
        mine: list[float] = []
        while not stop.is_set():
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status in (200, 286):
                    done += 1
                    mine.append(time.perf_counter() - started)
                else:
                    errors += 1
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
        conn.close()
        with lock:
            totals["done"] += done
            totals["errors"] += errors
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    cpu = cpu_seconds(pids)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return Load(totals["done"], totals["errors"], elapsed, latencies, cpu_seconds(pids) - cpu)


def summarise(results: dict[str, list[Load]]) -> list[dict]:
    rate = {name: median([load.rate for load in loads]) for name, loads in results.items()}
    figures = []
    for name, loads in results.items():
        p50 = median([load.percentile(0.5) for load in loads]) * 1000
        p99 = median([load.percentile(0.99) for load in loads]) * 1000
        errors = sum(load.errors for load in loads)
        figure = {
            "name": f"{name}: requests per second, {CLIENTS} clients, median of {ROUNDS} x "
            f"{SECONDS:g} s (p50 {p50:.1f} ms, p99 {p99:.1f} ms, {errors} errors; rounds: "
            + ", ".join(f"{load.rate:.0f}" for load in loads)
            + ")",
            "value": rate[name],
            "unit": "req/s",
        }
        if name != "healthz":
            ratios = [
                ours.rate / base.rate for ours, base in zip(loads, results["healthz"], strict=False)
            ]
            figure["baseline"] = rate["healthz"]
            figure["baseline_unit"] = "req/s"
            figure["ratio"] = median(ratios)  # the median of the per-round ratios
            figure["name"] += "; ratio per round: " + ", ".join(f"{r:.2f}" for r in ratios)
            cost = median([load.cpu_ms for load in loads])
            base_cost = median([load.cpu_ms for load in results["healthz"]])
            figure["name"] += (
                f"; server CPU per request {cost:.2f} ms vs {base_cost:.2f} ms for /healthz, "
                f"a cost ratio of {base_cost / cost:.2f}"
            )
        if name == "status":
            figure["target"] = ">= 70 % of /healthz"
            figure["met"] = figure["ratio"] >= 0.7
        figures.append(figure)
    return figures


if __name__ == "__main__":
    sys.exit(main())
