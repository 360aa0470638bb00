"""(c) SQL queries per request at 10, 1,000 and 10,000 generations.

Each page is requested through Django's test client (the whole middleware stack, as a
signed-in user) and its queries counted; the counts must not change with the history
size. Pages another issue has not built yet (library, review) are skipped with a note.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import timedelta

from benchmarks.harness import cleanup, make_user, median, report, seed_row, setup

SIZES = (10, 1_000, 10_000)
ACTIVE = 5  # rows still running, so the status endpoint answers 200 and the queue polls


def main() -> int:
    data = setup("queries")
    from django.test.utils import setup_test_environment

    setup_test_environment()  # lets the test client in (ALLOWED_HOSTS) and counts queries
    user = make_user("bench")
    other = make_user("other")
    staff = make_user("boss", is_staff=True, is_superuser=True)
    counts: dict[str, list[tuple[int, float]]] = {}
    skipped: list[str] = []
    total = 0
    for size in SIZES:
        grow(user, other, size - total)
        total = size
        for name, found in measure(user, staff).items():
            if found is None:
                if name not in skipped:
                    skipped.append(name)
                continue
            counts.setdefault(name, []).append(found)
    figures = []
    for name, found in counts.items():
        queries = [n for n, _ in found]
        figures.append(
            {
                "name": f"{name}: queries at "
                + " / ".join(f"{n:,}" for n in SIZES)
                + " generations (ms: "
                + " / ".join(f"{ms:.1f}" for _, ms in found)
                + ")",
                "value": " / ".join(str(n) for n in queries),
                "target": "identical counts",
                "met": len(set(queries)) == 1,
            }
        )
    for name in skipped:
        figures.append({"name": f"{name}: not built yet (no URL named for it)", "value": "-"})
    report("(c) SQL queries per request", figures)
    cleanup(data)
    return 0


def grow(user, other, count: int) -> None:
    """Add `count` generations: most the user's, some another person's, in every state."""
    from django.db.models import F
    from django.utils import timezone

    from studio.generations.models import Generation, Status

    rng = random.Random(count)
    now = timezone.now()
    finished = [Status.SUCCEEDED] * 8 + [Status.FAILED]
    rows = [
        seed_row(
            user if rng.random() < 0.9 else other,
            rng,
            n,
            now - timedelta(minutes=n + 10),
            rng.choice(finished),
        )
        for n in range(count)
    ]
    Generation.objects.bulk_create(rows, batch_size=1000)
    # auto_now stamped them all "now": last touched when they finished, as in real life.
    Generation.objects.filter(pk__in=[row.pk for row in rows]).update(updated_at=F("finished_at"))
    # The few running ones are always the newest.
    running = Generation.objects.filter(owner=user).order_by("-created_at")[:ACTIVE]
    Generation.objects.filter(pk__in=[g.pk for g in running]).update(
        status=Status.PROCESSING, finished_at=None, video="", poster="", poster_1x=""
    )


def measure(user, staff) -> dict[str, tuple[int, float] | None]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import NoReverseMatch, reverse

    from studio.composer.views import to_cursor
    from studio.generations.models import Generation

    newest = Generation.objects.filter(owner=user).order_by("-created_at").first()
    cursor = to_cursor(newest.created_at)
    pages = {
        "studio page": ("studio", (), ""),
        "history page": ("history", (), ""),
        "history page 5, filtered by status": ("history", (), "?status=succeeded&page=5"),
        "status endpoint (/queue/updates/)": ("queue-updates", (), f"?since={cursor}&known="),
        "generation page": ("generation-detail", (newest.pk,), ""),
        "library page": ("library", (), ""),
    }
    as_staff = {"review page (staff)": ("review", (), "")}
    client = Client()
    client.force_login(user)
    boss = Client()
    boss.force_login(staff)
    found: dict[str, tuple[int, float] | None] = {}
    for name, (url_name, args, query) in {**pages, **as_staff}.items():
        try:
            url = reverse(url_name, args=args) + query
        except NoReverseMatch:
            found[name] = None
            continue
        if url_name == "queue-updates":
            url += cursor
        who = boss if name in as_staff else client
        found[name] = count(who, url, CaptureQueriesContext, connection)
    found["history page, staff (everyone's)"] = count(
        boss, reverse("history"), CaptureQueriesContext, connection
    )
    return found


def count(client, url: str, capture, connection) -> tuple[int, float]:
    """The queries of one request, and the median time of seven (in-process test client,
    so only the trend across sizes means something)."""
    client.get(url)  # warm: the first request may load content types, sessions, ...
    connection.queries_log.clear()  # a full log (9,000 entries) would capture nothing
    with capture(connection) as captured:
        response = client.get(url)
    queries = len(captured)  # now: the log is read lazily and later requests reset it
    if response.status_code not in (200, 286):
        raise RuntimeError(f"{url} answered {response.status_code}")
    times = []
    for _ in range(7):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return queries, median(times)


if __name__ == "__main__":
    sys.exit(main())
