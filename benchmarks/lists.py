"""(h) The list pages at 1,000 / 10,000 / 100,000 generations: server CPU per request under
gunicorn, beside /healthz in the same run.

gunicorn runs as `make run` starts it (3 workers of 4 threads). The history grows by bulk
inserts (generations, their charges, reviews and decisions: 90 % one creator's, the rest a
teammate's; of the finished ones 40 % approved, 10 % rejected, the rest waiting), with a
library of 10,000 prompts and 1,000 tags and a 12-video batch from the start. At each size
every page is loaded by 8 keep-alive clients in short rounds interleaved with /healthz;
the figure is the server's CPU time per answered request (from /proc), which depends
least on what else the machine is doing.
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import timedelta
from decimal import Decimal

from benchmarks.harness import cleanup, make_user, median, report, running, seed_row, setup
from benchmarks.harness import start_web as start_gunicorn
from benchmarks.web import hammer
from tests.system import sign_in

SIZES = tuple(int(n) for n in os.environ.get("BENCH_LIST_SIZES", "1000,10000,100000").split(","))
SECONDS = float(os.environ.get("BENCH_LIST_SECONDS", 1.5))
ROUNDS = int(os.environ.get("BENCH_LIST_ROUNDS", 3))
PROMPTS, TAGS = 10_000, 1_000
PASSWORD = "a-long-bench-password"


def main() -> int:
    data = setup("lists")
    people = make_people()
    library(people["bench"])
    batch = make_batch(people["bench"])
    web, url = start_gunicorn(data, workers=3, env={"LOG_LEVEL": "WARNING"})
    cpu: dict[str, dict[int, float]] = {}
    rates: dict[str, dict[int, float]] = {}
    with running(web):
        cookies = {name: cookie(url, name) for name in ("bench", "boss", "rex")}
        total = 0
        for size in SIZES:
            started = time.monotonic()
            grow(people, size - total)
            total = size
            seeded = time.monotonic() - started
            print(f"  {size:,} generations (seeded in {seeded:.0f} s)", flush=True)
            for name, found in measure(url, web.group_pids(), cookies, batch).items():
                cpu.setdefault(name, {})[size] = found[0]
                rates.setdefault(name, {})[size] = found[1]
    report("(h) list pages, server CPU per request", figures(cpu, rates))
    cleanup(data)
    return 0


def pages(batch) -> dict[str, tuple[str, str]]:
    """name: (who, path). Every page as the person it is for."""
    from django.utils import timezone

    from studio.composer.views import to_cursor

    since = to_cursor(timezone.now() + timedelta(days=1))
    return {
        "healthz": ("bench", "/healthz"),
        "status endpoint": ("bench", f"/queue/updates/?since={since}&known={since}"),
        "history (own)": ("bench", "/history/"),
        "history (own), list, page 3": ("bench", "/history/?view=list&page=3"),
        "history (everyone's, admin)": ("boss", "/history/"),
        "history (reviewer)": ("rex", "/history/"),
        "gallery": ("bench", "/gallery/"),
        "review queue": ("rex", "/review/"),
        "library": ("bench", "/library/"),
        "batch page": ("bench", f"/library/batches/{batch.pk}/"),
        "spend": ("rex", "/spend/"),
    }


def measure(url: str, pids: list[int], cookies: dict, batch) -> dict[str, tuple[float, float]]:
    """(median CPU ms per request, median requests/s relative to /healthz) per page."""
    targets = pages(batch)
    for who, path in targets.values():
        hammer(url, path, cookies[who], 0.5, pids)  # warm each worker's caches
    loads: dict[str, list] = {name: [] for name in targets}
    for _ in range(ROUNDS):
        for name, (who, path) in targets.items():
            loads[name].append(hammer(url, path, cookies[who], SECONDS, pids))
    found = {}
    for name, rounds in loads.items():
        errors = sum(load.errors for load in rounds)
        if errors:
            raise RuntimeError(f"{name}: {errors} requests failed")
        ratios = [
            ours.rate / base.rate for ours, base in zip(rounds, loads["healthz"], strict=True)
        ]
        found[name] = (median([load.cpu_ms for load in rounds]), median(ratios))
    return found


def figures(cpu: dict, rates: dict) -> list[dict]:
    small, large = SIZES[0], SIZES[-1]
    base = cpu["healthz"]
    found = []
    for name, by_size in cpu.items():
        shown = " / ".join(f"{by_size[size]:.1f}" for size in SIZES)
        figure = {
            "name": f"{name}: ms CPU per request at "
            + " / ".join(f"{size:,}" for size in SIZES)
            + f" ({shown}; /healthz {' / '.join(f'{base[s]:.1f}' for s in SIZES)}; "
            f"throughput vs /healthz {' / '.join(f'{rates[name][s]:.2f}' for s in SIZES)})",
            "value": by_size[large],
            "unit": "ms",
            "baseline": base[large],
            "baseline_unit": "ms (/healthz)",
            "ratio": by_size[large] / by_size[small],
        }
        if name == "status endpoint":
            figure["target"] = f">= 0.85 of /healthz throughput at {large:,}"
            figure["met"] = rates[name][large] >= 0.85
            figure["ratio"] = rates[name][large]
        elif name != "healthz":
            figure["target"] = f"<= 15 ms at {large:,} and <= 1.5x the {small:,} figure"
            figure["met"] = by_size[large] <= 15 and by_size[large] <= 1.5 * by_size[small]
        found.append(figure)
        if name == "history (own)":
            found.append(
                {
                    "name": f"history (own): throughput vs /healthz at {large:,}",
                    "value": rates[name][large],
                    "unit": "x /healthz",
                    "target": ">= 0.30 of /healthz throughput",
                    "met": rates[name][large] >= 0.30,
                }
            )
    return found


# ---------------------------------------------------------------- the data


def make_people() -> dict:
    from tests.factories import give_roles

    people = {"bench": make_user("bench"), "other": make_user("other")}
    people["boss"] = give_roles(make_user("boss"), "admin")
    people["rex"] = give_roles(make_user("rex"), "reviewer")
    return people


def cookie(url: str, username: str) -> str:
    session = sign_in(url, username, PASSWORD)
    found = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    session.close()
    return found


def library(owner) -> None:
    """10,000 prompts (one version each, a third shared with the team), 1,000 tags, three
    tags a prompt: bulk inserts."""
    from studio.library.models import Prompt, PromptVersion, Tag

    rng = random.Random(7)
    tags = Tag.objects.bulk_create([Tag(name=f"tag {n:04d}") for n in range(TAGS)])
    prompts = Prompt.objects.bulk_create(
        [
            Prompt(owner=owner, title=f"Prompt {n}", visibility="team" if n % 3 == 0 else "private")
            for n in range(PROMPTS)
        ],
        batch_size=2000,
    )
    PromptVersion.objects.bulk_create(
        [
            PromptVersion(prompt=p, number=1, text=f"{p.title}: a lighthouse at dusk", author=owner)
            for p in prompts
        ],
        batch_size=2000,
    )
    links = Prompt.tags.through
    links.objects.bulk_create(
        [links(prompt_id=p.pk, tag_id=tag.pk) for p in prompts for tag in rng.sample(tags, 3)],
        batch_size=5000,
    )


def make_batch(owner):
    from studio.library.models import Batch

    return Batch.objects.create(owner=owner, template="A {subject}", size=12)


def grow(people: dict, count: int) -> None:
    """`count` more generations, older than the ones there are, with their charges and
    reviews, in bulk; then the spend and storage rollups and the prompts' counters are
    counted afresh."""
    from django.db.models import F, Min
    from django.utils import timezone

    from studio.generations.models import Generation, Status, StorageMonth
    from studio.library import counters
    from studio.library.models import Batch, PromptVersion
    from studio.review import budgets
    from studio.review.models import Charge, Decision, Review

    rng = random.Random(count)
    oldest = Generation.objects.aggregate(at=Min("created_at"))["at"]
    start = oldest or timezone.now()
    versions = list(PromptVersion.objects.values_list("pk", flat=True)[:500])
    batch = Batch.objects.get()
    fresh = Generation.objects.count() == 0
    rows, charges, reviews = [], [], []
    for n in range(count):
        row, review = generation(people, rng, n, start - timedelta(seconds=30 * (n + 1)))
        if rng.random() < 0.2:
            row.prompt_version_id = rng.choice(versions)
        rows.append(row)
        charges.append(charge(row))
        if review is not None:
            reviews.append(review)
    if fresh:  # the newest: five running (the status endpoint's "anything running?"), a batch
        for row in rows[:5]:
            row.status, row.finished_at, row.video, row.poster = Status.PROCESSING, None, "", ""
            row.poster_1x = ""
        reviews = [r for r in reviews if r.generation not in rows[:5]]
        for row in rows[5:17]:
            row.batch = batch
    Generation.objects.bulk_create(rows, batch_size=2000)
    Generation.objects.filter(created_at__lt=start).exclude(finished_at=None).update(
        updated_at=F("finished_at")
    )
    for item, row in zip(charges, rows, strict=True):
        item.units_charged = row.units_charged
        item.failed = row.status == Status.FAILED
    Charge.objects.bulk_create(charges, batch_size=2000)
    Review.objects.bulk_create(reviews, batch_size=2000)
    decisions = [
        Decision(
            generation=r.generation,
            reviewer=r.reviewer,
            verdict=r.verdict,
            comment="" if r.verdict == "approved" else "Not this one",
            created_at=r.decided_at,
        )
        for r in reviews
    ]
    Decision.objects.bulk_create(decisions, batch_size=2000)
    if fresh:
        batch.items = [
            {"generation": str(r.pk), "label": f"take {n}"} for n, r in enumerate(rows[5:17])
        ]
        batch.save(update_fields=["items"])
    budgets.rebuild_rollup()
    StorageMonth.rebuild()
    counters.rebuild()


def generation(people: dict, rng: random.Random, n: int, created):
    from studio.generations.models import Status
    from studio.review.models import Review

    status = Status.FAILED if rng.random() < 0.11 else Status.SUCCEEDED
    done = status == Status.SUCCEEDED
    verdict = rng.choices(["approved", "rejected", None], [40, 10, 50])[0] if done else None
    row = seed_row(
        people["bench"] if rng.random() < 0.9 else people["other"],
        rng,
        n,
        created,
        status,
        video_bytes=rng.randrange(2_000_000, 40_000_000) if done else None,
        poster_bytes=rng.randrange(50_000, 300_000) if done else None,
        poster_1x_bytes=rng.randrange(15_000, 90_000) if done else None,
        units_charged=Decimal("1.000") if done else Decimal(0),
        reviewed=verdict is not None,
        team_visible=verdict == "approved",
    )
    review = None
    if verdict:
        review = Review(
            generation=row,
            verdict=verdict,
            reviewer=people["rex"],
            decided_at=created + timedelta(minutes=5),
        )
    return row, review


def charge(row):
    from studio.review.models import Charge

    return Charge(
        generation=row,
        owner=row.owner,
        created_at=row.created_at,
        model_name=row.model_name,
        estimated_units=Decimal("1.000"),
    )


if __name__ == "__main__":
    sys.exit(main())
