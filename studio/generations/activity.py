"""What the nav says on every page about the signed-in person's own jobs (issue 12, 4): how
many are running, and which jobs and batches finished since the page was opened. The page
shows it in the nav, the tab title and the favicon (static/studio/studio.js), and may raise
a browser notification for each finished one. One poll per page carries it, and only while
something runs: the studio queue's and the batch page's own polls carry it out of band;
every other page polls `activity` (generations/views.py), which on History also swaps the
tiles of running jobs as they change (docs/reliability.md R88)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from studio.generations.models import ACTIVE, Generation, Status

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SHOWN = 5  # finished jobs and batches listed in the nav
LOOKED_AT = 50  # finished rows read to find them
WATCH_MAX = 50  # running tiles a History page may ask about


@dataclass
class Activity:
    since: str  # the page's cursor: when it was opened
    running: int = 0
    finished: int = 0  # jobs finished since the page was opened
    jobs: list[Generation] = field(default_factory=list)  # finished, not in a batch
    batches: list[dict] = field(default_factory=list)  # {"batch", "total", "succeeded"}
    carried: bool = False  # the page's own poll brings it (studio queue, batch page)

    @property
    def poll(self) -> bool:
        return self.running > 0 and not self.carried


def to_cursor(moment: datetime) -> str:
    """Microseconds since the epoch, in whole numbers (as the studio queue's cursors)."""
    return str((moment - EPOCH) // timedelta(microseconds=1))


def from_cursor(raw: str | None) -> datetime | None:
    if not raw or not raw.isdigit() or len(raw) > 19:
        return None
    return EPOCH + timedelta(microseconds=int(raw))


def activity(user, since: datetime | None = None, carried: bool = False) -> Activity:
    """The user's running count and what finished after `since` (None: now, a page being
    opened). Nearly every poll finds nothing new. Two index lookups (generation_owner_status,
    generation_owner_finished), not an aggregate over all the owner's rows: the nav shows
    this on every page, whatever the size of the history."""
    since = since or timezone.now()
    mine = Generation.objects.owned_by(user)
    found = Activity(to_cursor(since), *counts(user, since), carried=carried)
    if found.finished:
        done = list(mine.filter(finished_at__gt=since).order_by("-finished_at")[:LOOKED_AT])
        found.jobs = [g for g in done if g.batch_id is None][:SHOWN]
        found.batches = finished_batches(mine, {g.batch_id for g in done if g.batch_id})
    return found


def counts(user, since: datetime) -> tuple[int, int]:
    """(running, finished after `since`) of the user's own jobs (Generation.owned_by): one
    statement of two index counts in SQL, as queue_news, since the ORM took longer to
    build the two queries than the database took to run them."""
    if not user.is_authenticated or not user.is_active:
        return 0, 0
    with connection.cursor() as cursor:
        cursor.execute(COUNTS_SQL, [user.pk, *(str(s) for s in ACTIVE), user.pk, when(since)])
        running, finished = cursor.fetchone()
    return running, finished


def when(moment: datetime):
    return connection.ops.adapt_datetimefield_value(moment)


def counts_sql() -> str:
    table = Generation._meta.db_table
    active = ", ".join(["%s"] * len(ACTIVE))
    return (
        f"SELECT (SELECT COUNT(*) FROM {table} WHERE owner_id = %s AND status IN ({active})),"
        f" (SELECT COUNT(*) FROM {table} WHERE owner_id = %s AND finished_at > %s)"
    )


COUNTS_SQL = counts_sql()


def finished_batches(mine, batch_ids: set) -> list[dict]:
    """Of these batches, the ones with no job left running, with their tallies."""
    if not batch_ids:
        return []
    rows = (
        mine.filter(batch_id__in=batch_ids)
        .values("batch_id")
        .annotate(
            total=Count("pk"),
            running=Count("pk", filter=Q(status__in=ACTIVE)),
            succeeded=Count("pk", filter=Q(status=Status.SUCCEEDED)),
        )
    )
    done = [row for row in rows if not row["running"]][:SHOWN]
    return done


def watched(user, raw: str) -> list[Generation]:
    """The History page's running tiles it asks about (`watch`: ids), as they are now."""
    ids = []
    for part in raw.split(",")[:WATCH_MAX]:
        try:
            ids.append(uuid.UUID(part.strip()))
        except ValueError:
            continue  # a bad id names nothing
    mine = Generation.objects.owned_by(user).select_related("owner", "review")
    return list(mine.filter(pk__in=ids)) if ids else []
