"""Retention: videos older than N days that nobody chose to keep are archived (moved out of
media storage into STUDIO_RETENTION_ARCHIVE_DIR) or deleted (README: Operating).

Kept are videos that are approved (the team gallery) and videos whose library prompt has a
star from anyone: a star says someone wants that prompt's results. To keep one video
whatever its prompt, approve it. Only the video goes; the row, its poster, its byte counts,
its review and its spend stay, and `video_removed_at` says when.

A run removes what its preview listed, never more: `plan` fixes the cutoff and the list
(with a digest of it), `apply` removes each listed row only if it still qualifies at that
cutoff (a conditional UPDATE, so a video approved meanwhile stays). Each removal is audited."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from studio.generations.models import Generation, Status, StorageMonth
from studio.library.models import Star
from studio.ops import files
from studio.review import audit
from studio.review.models import Verdict


@dataclass(frozen=True)
class Plan:
    days: int
    cutoff: datetime
    rows: list[Generation]

    @property
    def ids(self) -> list[str]:
        return sorted(str(row.pk) for row in self.rows)

    @property
    def digest(self) -> str:
        """Names this exact list: a run from the preview page goes ahead only if the list
        it would remove now is the one the admin saw."""
        return hashlib.sha256(",".join(self.ids).encode()).hexdigest()[:32]

    @property
    def bytes(self) -> int:
        return sum(row.video_bytes or 0 for row in self.rows)


def candidates(cutoff: datetime) -> QuerySet[Generation]:
    """Stored videos made before `cutoff`, not approved, their prompt starred by nobody."""
    starred = Star.objects.filter(prompt__versions=OuterRef("prompt_version"))
    return (
        Generation.objects.filter(status=Status.SUCCEEDED, created_at__lt=cutoff)
        .exclude(video="")
        .exclude(review__verdict=Verdict.APPROVED)
        .exclude(Exists(starred))
    )


def plan(days: int, now: datetime | None = None) -> Plan:
    if days < 1:
        raise ValueError("Retention needs at least 1 day.")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return at(days, cutoff)


def at(days: int, cutoff: datetime) -> Plan:
    """The plan for a given cutoff (the preview page posts back the one it showed)."""
    rows = list(candidates(cutoff).select_related("owner", "review").order_by("created_at", "pk"))
    return Plan(days=days, cutoff=cutoff, rows=rows)


def apply(plan: Plan, actor=None, action: str | None = None) -> list[Generation]:
    """Archive or delete the plan's videos; the ones actually removed."""
    action = action or settings.STUDIO_RETENTION_ACTION
    removed = []
    with files.storage_lease("retention") as renew:
        for generation in plan.rows:
            if remove(generation, plan, action, actor):
                removed.append(generation)
            renew()
    return removed


def remove(generation: Generation, plan: Plan, action: str, actor) -> bool:
    store = files.storage()
    name = generation.video.name
    archived, missing = None, False
    try:
        archived = archive(store, name) if action == "archive" else None
    except FileNotFoundError:
        missing = True  # gone already; the row still forgets it
    now = timezone.now()
    still = candidates(plan.cutoff).filter(pk=generation.pk, video=name)
    with transaction.atomic():
        forgot = still.update(video="", video_removed_at=now)
        if forgot:  # the disk use the spend page shows drops with it
            StorageMonth.add(generation, -(generation.video_bytes or 0), -1)
    if not forgot:
        if archived:
            archived.unlink(missing_ok=True)
        return False
    # After the row forgot it: a crash just here leaves a file `manage.py orphans` finds.
    store.delete(name)
    audit.record(
        actor,
        f"retention.{action}",
        generation,
        before={"video": name, "video_bytes": generation.video_bytes},
        after={
            "video": "",
            "archived_to": str(archived) if archived else None,
            "missing": missing,
            "older_than_days": plan.days,
        },
    )
    generation.video, generation.video_removed_at = "", now
    return True


def archive(store, name: str) -> Path:
    """Copy the stored file to the archive folder under the same name; whole or not at all."""
    target = Path(settings.STUDIO_RETENTION_ARCHIVE_DIR) / files.safe(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}{files.PARTIAL_SUFFIX}")
    try:
        with store.open(name, "rb") as source:
            files.copy(source, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
