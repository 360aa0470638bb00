"""Run the django-q2 cluster after checking the settings that keep paid jobs safe.

docs/reliability.md R3: `retry` must exceed `timeout` (plus queue wait) or a slow task is handed
out twice. docs/reliability.md R6: on SQLite `select_for_update` does nothing, so exactly one
cluster may run; an exclusive file lock in the data folder makes a second one exit non-zero. The
cluster runs under studio/generations/cluster.py, which stops it in order, within
STUDIO_WORKER_STOP_SECONDS, when systemd (or anyone) sends SIGTERM to all its processes.
"""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from studio.generations import cluster, media, pipeline, poller

logger = logging.getLogger(__name__)


def check_cluster_settings(conf: dict) -> None:
    if conf["retry"] < conf["timeout"] + 60:
        raise CommandError(
            f"Q_CLUSTER retry ({conf['retry']} s) must be at least timeout + 60 s "
            f"({conf['timeout'] + 60} s), or a slow task runs twice."
        )
    if conf.get("queue_limit", 0) > 2 * conf["workers"]:
        raise CommandError("Q_CLUSTER queue_limit must be at most twice the number of workers.")


def recover(alone: bool) -> None:
    """Pick up after a worker that was killed: without this its rows would wait for their
    leases (up to 20 min for a download) and the watchdog's next minute. `alone`: the
    SQLite lock is ours, so every lease and temp file left behind belongs to a dead worker."""
    freed = poller.release_abandoned() if alone else 0
    unlocked = unlock_broker() if alone and "orm" in settings.Q_CLUSTER else 0
    removed = media.remove_stale_temp_files(None if alone else pipeline.STORE_LEASE)
    handed = poller.reconcile()
    if freed or unlocked or removed:
        logger.warning(
            "Worker start: took back %s rows and %s queued tasks from a stopped worker, "
            "removed %s partial downloads",
            freed,
            unlocked,
            removed,
        )
    if any(handed.values()):
        logger.info("Worker start: handed out %s", handed)


def unlock_broker() -> int:
    """ORM broker: hand out again the tasks a stopped cluster had taken. Each was locked
    for `retry` seconds (300) when taken; with no other cluster alive nobody runs them."""
    from django_q.models import OrmQ

    now = timezone.now()
    return OrmQ.objects.filter(key=settings.Q_CLUSTER["name"], lock__gt=now).update(lock=now)


class Command(BaseCommand):
    help = "Start the django-q2 cluster (the worker) with safety checks."

    def handle(self, *args, **options) -> None:
        check_cluster_settings(settings.Q_CLUSTER)
        lock = None
        if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
            path = Path(settings.DATA_DIR) / "worker.lock"
            lock = path.open("w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CommandError(
                    "Another worker is running on this SQLite database; only one may run. "
                    "Use PostgreSQL (DATABASE_URL) to run several."
                ) from None
        recover(alone=lock is not None)
        try:
            cluster.run(settings.WORKER_STOP_SECONDS)
        finally:
            if lock:
                lock.close()
