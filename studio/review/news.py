"""Review news for a creator: the verdicts and comments others left on their work since they
last looked (the nav's notice and the news page). A verdict's comment counts once, as the
verdict."""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet

from studio.generations.models import Generation
from studio.review.models import Comment, Decision, ReviewSeen

SHOWN = 50


def seen_at(user) -> datetime:
    seen = ReviewSeen.objects.filter(user=user).values_list("seen_at", flat=True).first()
    return seen or user.date_joined


def verdicts(user, since: datetime | None = None) -> QuerySet[Decision]:
    if since is None:
        return Decision.objects.filter(generation__owner=user).exclude(reviewer=user)
    # Since a moment: the decisions after it by index (decision_created), each checked
    # against its generation's owner; a join on the owner read all their generations.
    theirs = Generation.objects.filter(pk=OuterRef("generation_id"), owner=user)
    return (
        Decision.objects.filter(created_at__gt=since).filter(Exists(theirs)).exclude(reviewer=user)
    )


def comments(user, since: datetime | None = None) -> QuerySet[Comment]:
    """Comments and replies by others (guests too), not those a verdict carried."""
    if since is None:
        found = Comment.objects.filter(generation__owner=user, verdict="")
        return found.exclude(author=user)
    # As verdicts(): the comments after `since` by their created_at index, each checked
    # against its generation's owner, not a read of all the owner's generations.
    theirs = Generation.objects.filter(pk=OuterRef("generation_id"), owner=user)
    found = Comment.objects.filter(created_at__gt=since, verdict="").filter(Exists(theirs))
    return found.exclude(author=user)


def unseen(user) -> int:
    """How many, since the person last looked: two counts, each at most SHOWN + 1 rows,
    by the created_at indexes and each checked against its generation's owner (as
    verdicts() and comments() since a moment). One statement in SQL: the nav asks on
    every page, and building these three queries with the ORM took longer than running
    them."""
    when = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(UNSEEN_SQL, [user.pk, when(user.date_joined), user.pk, user.pk] * 2)
        verdicts_, comments_ = cursor.fetchone()
    return min(verdicts_ + comments_, SHOWN)


def unseen_sql() -> str:
    seen = f"COALESCE((SELECT seen_at FROM {ReviewSeen._meta.db_table} WHERE user_id = %s), %s)"
    theirs = f"SELECT 1 FROM {Generation._meta.db_table} g WHERE g.id = x.generation_id"
    parts = []
    for table, who, extra in (
        (Decision._meta.db_table, "reviewer_id", ""),
        (Comment._meta.db_table, "author_id", " AND x.verdict = ''"),
    ):
        parts.append(
            f"(SELECT COUNT(*) FROM (SELECT 1 AS one FROM {table} x WHERE x.created_at > {seen}"
            f"{extra} AND (x.{who} IS NULL OR x.{who} <> %s) AND EXISTS ({theirs}"
            f" AND g.owner_id = %s) LIMIT {SHOWN + 1}) found)"
        )
    return "SELECT " + ", ".join(parts)


UNSEEN_SQL = unseen_sql()


def latest(user) -> list[dict]:
    """The newest SHOWN items, verdicts and comments together, newest first."""
    since = seen_at(user)
    items = [
        {"at": d.created_at, "decision": d, "generation": d.generation, "new": d.created_at > since}
        for d in verdicts(user)
        .select_related("generation", "reviewer")
        .order_by("-created_at")[:SHOWN]
    ]
    items += [
        {"at": c.created_at, "comment": c, "generation": c.generation, "new": c.created_at > since}
        for c in comments(user).select_related("generation").order_by("-created_at")[:SHOWN]
    ]
    return sorted(items, key=lambda item: item["at"], reverse=True)[:SHOWN]


def mark_seen(user, at: datetime) -> None:
    ReviewSeen.objects.update_or_create(user=user, defaults={"seen_at": at})
