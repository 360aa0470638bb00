"""The health page's checks (docs/reliability.md R53-R55): each reads one fact about the
running studio, compares it with its bound from settings (README: Operating) and says in
words why it is red. No check calls the upstream; each is one or two queries."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Min
from django.utils import timezone
from django.utils.timesince import timesince

from studio.generations import vitals
from studio.generations.models import ACTIVE, Generation, Status
from studio.ops.models import Backup

POLLED = (Status.SUBMITTED, Status.PROCESSING)
MIN_CALLS = 10  # fewer calls in the hour than this say nothing about an error rate
BROKER_TIMEOUT = 2.0  # seconds the queue-depth read waits for Redis


@dataclass
class Check:
    title: str
    ok: bool
    value: str
    reason: str = ""  # why it is red, or what the value means
    rows: list[dict] = field(default_factory=list)


def checks(now: datetime | None = None) -> list[Check]:
    now = now or timezone.now()
    return [
        worker(now),
        queue_depth(),
        oldest_due(now),
        stalled(),
        attention(),
        error_rate(now),
        last_poll(now),
        *disks(),
        last_backup(now),
    ]


def ago(when: datetime, now: datetime) -> str:
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return f"{max(seconds, 0):.0f} s ago"
    return f"{timesince(when, now)} ago"


def worker(now: datetime) -> Check:
    problem = vitals.worker_problem(now)
    clusters = list(vitals.WorkerHeartbeat.objects.all()[:20])
    bound = settings.STUDIO_HEALTH_WORKER_SECONDS
    rows = [
        {
            "name": beat.name,
            "where": f"{beat.host}, pid {beat.pid}",
            "started": beat.started_at,
            "seen": ago(beat.seen_at, now),
            "state": _cluster_state(beat, now, bound),
        }
        for beat in clusters
    ]
    value = "not seen" if problem else f"seen {ago(max(c.seen_at for c in clusters), now)}"
    reason = problem or f"A running cluster wrote its heartbeat within {bound:g} s."
    if problem:
        reason = f"Worker down: {problem}. Nothing is submitted, polled or stored until one runs."
    return Check("Worker heartbeat", problem is None, value, reason, rows)


def _cluster_state(beat, now: datetime, bound: float) -> str:
    if beat.stopped_at:
        return f"stopped {ago(beat.stopped_at, now)}"
    if (now - beat.seen_at).total_seconds() > bound:
        return "silent (killed, or its machine is down)"
    return "running"


def queue_depth() -> Check:
    """Tasks waiting in the django-q2 broker, not yet taken by a worker."""
    bound = settings.STUDIO_HEALTH_QUEUE_MAX
    try:
        depth = _broker_size()
    except Exception as error:  # a broker that does not answer is itself the finding
        return Check(
            "Task queue", False, "unknown", f"The broker did not answer ({type(error).__name__})."
        )
    if depth > bound:
        return Check(
            "Task queue",
            False,
            f"{depth} waiting",
            f"More than {bound} tasks wait for a worker: the workers are too few or stuck.",
        )
    return Check("Task queue", True, f"{depth} waiting", f"At most {bound} may wait.")


def _broker_size() -> int:
    from django_q.brokers import get_broker

    broker = get_broker()
    if settings.REDIS_URL:
        import redis

        broker.connection = redis.from_url(
            settings.REDIS_URL,
            socket_timeout=BROKER_TIMEOUT,
            socket_connect_timeout=BROKER_TIMEOUT,
        )
    return broker.queue_size()


def oldest_due(now: datetime) -> Check:
    """The unfinished row that has waited longest past its next action."""
    running = Generation.objects.filter(status__in=ACTIVE).count()
    row = Generation.objects.due(now).order_by("next_poll_at").first()
    bound = settings.STUDIO_HEALTH_DUE_SECONDS
    if row is None:
        return Check("Oldest due generation", True, "none due", f"{running} unfinished.")
    age = now - row.next_poll_at
    value = f"{timesince(row.next_poll_at, now)} overdue ({row.get_status_display().lower()})"
    if age.total_seconds() > bound:
        reason = (
            f"Generation {row.pk} has been due for {vitals.seconds(age)} (bound {bound:g} s): "
            "the sweep is not getting to it. Is the worker running?"
        )
        return Check("Oldest due generation", False, value, reason)
    return Check("Oldest due generation", True, value, f"{running} unfinished.")


def stalled() -> Check:
    count = Generation.objects.filter(status__in=ACTIVE, stalled=True).count()
    bound = settings.STUDIO_HEALTH_STALLED_MAX
    minutes = int(settings.STALL_AFTER.total_seconds() // 60)
    if count > bound:
        reason = (
            f"{count} generations have run upstream for over {minutes} minutes "
            f"(bound {bound}); they fail by themselves after "
            f"{int(settings.GIVE_UP_AFTER.total_seconds() // 60)} minutes."
        )
        return Check("Stalled generations", False, str(count), reason)
    return Check("Stalled generations", True, str(count), f"Running over {minutes} minutes.")


def attention() -> Check:
    count = Generation.objects.filter(status=Status.NEEDS_ATTENTION).count()
    if count:
        many = "s wait" if count != 1 else " waits"
        reason = (
            f"{count} generation{many} for an admin: the studio could not find out whether "
            "a create landed upstream. Decide in the admin (Generations, filter "
            "Needs attention): mark failed or retry."
        )
        return Check("Needs attention", False, str(count), reason)
    return Check("Needs attention", True, "0", "No generation waits for an admin.")


def error_rate(now: datetime) -> Check:
    calls = vitals.calls_since(now - timedelta(hours=1))
    total = sum(calls.values())
    failed = {code: n for code, n in calls.items() if code}
    rate = sum(failed.values()) / total if total else 0.0
    bound = settings.STUDIO_HEALTH_ERROR_RATE
    rows = [{"code": code, "calls": n} for code, n in sorted(failed.items(), key=lambda i: -i[1])]
    value = f"{rate:.0%} of {total} calls"
    if total >= MIN_CALLS and rate > bound:
        worst = ", ".join(f"{row['code']} ×{row['calls']}" for row in rows[:3])
        reason = f"More than {bound:.0%} of upstream calls failed in the last hour ({worst})."
        return Check("Upstream errors (last hour)", False, value, reason, rows)
    return Check("Upstream errors (last hour)", True, value, f"At most {bound:.0%}.", rows)


def last_poll(now: datetime) -> Check:
    at = vitals.last_success(vitals.POLL)
    waiting = Generation.objects.filter(status__in=POLLED).aggregate(since=Min("submitted_at"))
    bound = settings.STUDIO_HEALTH_POLL_SECONDS
    value = ago(at, now) if at else "never"
    since = waiting["since"]
    # Red only when something has been waiting to be polled longer than the bound.
    behind = since is not None and (now - max(since, at or since)).total_seconds() > bound
    if behind:
        reason = (
            f"No upstream answer to a poll for over {bound:g} s while generations wait "
            "upstream: the upstream, the network or the API key may be down."
        )
        return Check("Last successful poll", False, value, reason)
    return Check(
        "Last successful poll", True, value, "Nothing waits on it." if since is None else ""
    )


def disks() -> list[Check]:
    media = Path(settings.MEDIA_ROOT)
    found = [_disk("Disk free: media", media if _local_media() else None)]
    if connection.vendor == "sqlite":
        found.append(
            _disk("Disk free: database", Path(settings.DATABASES["default"]["NAME"]).parent)
        )
    else:
        found.append(_database_size())
    return found


def _local_media() -> bool:
    return settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage")


def _disk(title: str, path: Path | None) -> Check:
    if path is None:
        return Check(title, True, "not local", "Media are on object storage, not this disk.")
    while not path.exists() and path != path.parent:
        path = path.parent  # a studio with no video yet has no media folder yet
    try:
        usage = shutil.disk_usage(path)
    except OSError as error:
        return Check(title, False, "unknown", f"Cannot read the disk ({error.strerror}).")
    free_mb = usage.free / 1024 / 1024
    bound = settings.STUDIO_HEALTH_DISK_FREE_MB
    value = f"{free_mb / 1024:.1f} GB free of {usage.total / 1024**3:.1f} GB"
    if free_mb < bound:
        reason = (
            f"Less than {bound} MB free: new videos (and the database) will fail to save. "
            "Free space, or turn on retention."
        )
        return Check(title, False, value, reason)
    return Check(title, True, value, f"At least {bound} MB must be free.")


def _database_size() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            size = cursor.fetchone()[0]
    except DatabaseError:
        return Check("Database", True, "not local", "The database is on its own server.")
    return Check(
        "Database", True, f"{size / 1024**2:.0f} MB", "On its own server: watch its disk there."
    )


def last_backup(now: datetime) -> Check:
    last = Backup.objects.last_ok()
    latest = Backup.objects.first()
    bound = settings.STUDIO_HEALTH_BACKUP_HOURS
    failed = latest is not None and not latest.ok
    if last is None:
        reason = "No backup has ever been made: set STUDIO_BACKUP_DIR or run manage.py backup."
        return Check(
            "Last backup", False, "never", _with_failure(reason, latest if failed else None)
        )
    value = f"{ago(last.finished_at, now)}, {last.size_bytes / 1024**2:.0f} MB"
    if now - last.finished_at > timedelta(hours=bound):
        reason = f"The last good backup is older than {bound:g} hours."
        return Check("Last backup", False, value, _with_failure(reason, latest if failed else None))
    return Check("Last backup", True, value, _with_failure(last.path, latest if failed else None))


def _with_failure(reason: str, failed: Backup | None) -> str:
    if failed is None:
        return reason
    return f"{reason} The latest attempt failed: {failed.message[:200]}"
