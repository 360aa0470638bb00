"""Scheduled tasks (schedules made by migrations/0002_schedules.py): a backup when one is due,
and retention. Each reads its settings when it runs, so changing them needs no migration."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from studio.ops import backup, files, retention
from studio.ops.models import Backup

logger = logging.getLogger(__name__)

TICK = timedelta(minutes=10)  # how often backup_if_due is called
RETRY_FAILED_AFTER = timedelta(hours=1)


def backup_due(now=None) -> bool:
    """Due when the last scheduled backup started STUDIO_BACKUP_EVERY_HOURS ago (less half a
    tick, so a backup does not slip a whole tick later each time), or failed an hour ago."""
    if not settings.STUDIO_BACKUP_DIR:
        return False
    now = now or timezone.now()
    last = Backup.objects.filter(scheduled=True).order_by("-started_at").first()
    if last is None:
        return True
    every = timedelta(hours=settings.STUDIO_BACKUP_EVERY_HOURS)
    wait = every if last.ok else min(every, RETRY_FAILED_AFTER)
    return now - last.started_at >= wait - TICK / 2


def backup_if_due() -> str:
    """Make the scheduled backup if one is due, keeping the newest STUDIO_BACKUP_KEEP."""
    if not backup_due():
        return "not due"
    dest = Path(settings.STUDIO_BACKUP_DIR)
    try:
        made = backup.make(dest, keep=settings.STUDIO_BACKUP_KEEP, scheduled=True)
    except files.Busy:
        return "busy"  # this task handed out again while the backup runs (see 0002_schedules)
    except backup.BackupError as error:
        logger.error("Scheduled backup into %s failed: %s", dest, error)
        return f"failed: {error}"
    logger.info("Scheduled backup: %s (%s files)", made.path, made.files)
    return made.path


def run_retention() -> int:
    """Remove what retention finds now (STUDIO_RETENTION_DAYS; 0: off). How many went."""
    if settings.STUDIO_RETENTION_DAYS < 1:
        return 0
    try:
        removed = retention.apply(retention.plan(settings.STUDIO_RETENTION_DAYS))
    except files.Busy:
        return 0  # a backup is running; the next hour's run catches up
    if removed:
        logger.info("Retention: %s videos (%s)", len(removed), settings.STUDIO_RETENTION_ACTION)
    return len(removed)
