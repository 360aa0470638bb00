"""Run the benchmarks, each in its own process with its own throwaway data folder, then
print every target and whether it was met.

    python -m benchmarks                 # all of them (about 13 minutes on 2 cores)
    python -m benchmarks soak            # the 1,000-job soak alone (about 5.5 minutes)
    python -m benchmarks queries web     # some of them
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.harness import PYTHON, RESULTS_ENV, ROOT

ALL = {
    "queries": "(c) SQL queries per request at 10 / 1,000 / 10,000 generations",
    "web": "(b) status endpoint and history page under gunicorn vs /healthz",
    "sweep": "(a) poller sweep vs a naive poller, (e) worker memory",
    "latency": "(d) upstream change to the status response, polling and webhook",
    "lists": "(h) list pages at 1,000 / 10,000 / 100,000 generations: CPU per request",
    "viewers": "(f) 20 slow viewers of a 40 MB video: /healthz and status, new and old path",
    "soak": "(g) 1,000 jobs through the worker with recycle and max_rss: memory, nothing lost",
}


def main(argv: list[str]) -> int:
    chosen = argv or list(ALL)
    unknown = [name for name in chosen if name not in ALL]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(ALL)}")
        return 2
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as results:
        env = {**os.environ, RESULTS_ENV: results.name}
        failed = []
        for name in chosen:
            print(f"\n### {name}: {ALL[name]}", flush=True)
            started = time.monotonic()
            done = subprocess.run([PYTHON, "-m", f"benchmarks.{name}"], cwd=ROOT, env=env)
            print(f"   ({name} took {time.monotonic() - started:.0f} s)", flush=True)
            if done.returncode:
                failed.append(name)
        figures = [json.loads(line) for line in results.read().splitlines() if line.strip()]
    print("\n### Targets")
    for figure in figures:
        if figure.get("target"):
            verdict = "met" if figure.get("met") else "NOT MET"
            value = figure["value"]
            shown = f"{value:.3g}" if isinstance(value, float) else str(value)
            if figure.get("ratio") is not None:
                shown += f" (ratio {figure['ratio']:.2f})"
            print(f"  [{verdict:^7}] {figure['benchmark']}: {figure['name'][:90]}")
            print(f"            {shown} {figure.get('unit', '')}, target {figure['target']}")
    if failed:
        print(f"\nThese benchmarks did not finish: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
