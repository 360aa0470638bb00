"""What the worker reports about itself, for the health page and `/healthz?deep=1`: a
heartbeat row per running cluster, and per-minute tallies of upstream calls by outcome
(docs/reliability.md R53, R54)."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, models, transaction
from django.db.models import F, Max, Sum
from django.utils import timezone

logger = logging.getLogger(__name__)

KEEP = timedelta(days=2)  # heartbeats and tallies older than this are deleted
CREATE, LOOKUP, POLL = "create", "lookup", "poll"


class HeartbeatQuerySet(models.QuerySet):
    def running(self) -> HeartbeatQuerySet:
        """Clusters that have not said they stopped (a killed one never says so)."""
        return self.filter(stopped_at__isnull=True)


class WorkerHeartbeat(models.Model):
    """One `manage.py worker` cluster: its main process writes `seen_at` every
    STUDIO_HEARTBEAT_SECONDS while its sentinel is alive, and `stopped_at` on a clean stop."""

    cluster = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    objects = HeartbeatQuerySet.as_manager()

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.name} on {self.host} (pid {self.pid})"

    def beat(self) -> bool:
        """Record that this cluster is alive now; False (logged) if the database refused:
        a heartbeat must never stop the worker."""
        now = timezone.now()
        try:
            self.seen_at = now
            WorkerHeartbeat.objects.update_or_create(
                cluster=self.cluster,
                defaults={"seen_at": now, "stopped_at": None},
                create_defaults={
                    "name": self.name,
                    "host": self.host,
                    "pid": self.pid,
                    "started_at": self.started_at,
                    "seen_at": now,
                },
            )
            WorkerHeartbeat.objects.filter(seen_at__lt=now - KEEP).delete()
        except DatabaseError as error:
            logger.warning("Worker heartbeat not recorded: %s", error)
            return False
        return True

    def stop(self) -> None:
        try:
            WorkerHeartbeat.objects.filter(cluster=self.cluster).update(stopped_at=timezone.now())
        except DatabaseError as error:
            logger.warning("Worker stop not recorded: %s", error)


def worker_problem(now: datetime | None = None) -> str | None:
    """Why the worker counts as down, in words, or None when a running cluster was seen
    within STUDIO_HEALTH_WORKER_SECONDS. Says nothing but times (it is shown to anyone
    asking `/healthz?deep=1`)."""
    now = now or timezone.now()
    bound = settings.STUDIO_HEALTH_WORKER_SECONDS
    last = WorkerHeartbeat.objects.running().aggregate(seen=Max("seen_at"))["seen"]
    if last is None:
        stopped = WorkerHeartbeat.objects.aggregate(at=Max("stopped_at"))["at"]
        if stopped is None:
            return "no worker has reported since the studio started keeping heartbeats"
        return f"the worker stopped {seconds(now - stopped)} ago and none is running"
    age = now - last
    if age.total_seconds() > bound:
        return f"no worker seen for {seconds(age)} (the bound is {bound:g} s)"
    return None


def seconds(delta: timedelta) -> str:
    return f"{max(delta.total_seconds(), 0):.0f} s"


class UpstreamTally(models.Model):
    """How many upstream calls of one kind ended with one code in one minute; code "" is
    a success. One row per (minute, kind, code), so the table stays small."""

    minute = models.DateTimeField()
    kind = models.CharField(max_length=8)
    code = models.CharField(max_length=40, blank=True)
    count = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["minute", "kind", "code"], name="one_tally_per_minute")
        ]
        indexes = [models.Index(fields=["kind", "code", "last_at"], name="tally_last")]

    def __str__(self) -> str:
        return f"{self.kind} {self.code or 'ok'} ×{self.count} at {self.minute:%H:%M}"


def tally(kind: str, outcomes: Counter) -> None:
    """Add `outcomes` (code -> calls; "" for a success) to this minute's tallies of `kind`.
    Bookkeeping: a database error is logged and the calls go uncounted."""
    now = timezone.now()
    minute = now.replace(second=0, microsecond=0)
    try:
        for code, count in outcomes.items():
            if count:
                _add(minute, kind, str(code)[:40], count, now)
    except DatabaseError as error:
        logger.warning("Upstream tally not recorded: %s", error)


def _add(minute: datetime, kind: str, code: str, count: int, now: datetime) -> None:
    rows = UpstreamTally.objects.filter(minute=minute, kind=kind, code=code)
    if rows.update(count=F("count") + count, last_at=now):
        return
    try:
        with transaction.atomic():
            UpstreamTally.objects.create(
                minute=minute, kind=kind, code=code, count=count, last_at=now
            )
    except IntegrityError:  # another process made this minute's row first
        rows.update(count=F("count") + count, last_at=now)


def error_code(error) -> str:
    """The code a failed call is tallied under: the upstream's code, else its HTTP status,
    else "no response"."""
    if error.code:
        return error.code
    return f"HTTP {error.http_status}" if error.http_status else "no response"


def calls_since(since: datetime) -> dict[str, int]:
    """Upstream calls from `since` on, by code ("" for successes), all kinds together."""
    rows = (
        UpstreamTally.objects.filter(minute__gte=since.replace(second=0, microsecond=0))
        .values("code")
        .annotate(calls=Sum("count"))
    )
    return {row["code"]: row["calls"] for row in rows}


def last_success(kind: str) -> datetime | None:
    return UpstreamTally.objects.filter(kind=kind, code="").aggregate(at=Max("last_at"))["at"]


def prune(now: datetime | None = None) -> int:
    """Delete tallies older than KEEP (the watchdog calls it)."""
    now = now or timezone.now()
    deleted, _ = UpstreamTally.objects.filter(minute__lt=now - KEEP).delete()
    return deleted
