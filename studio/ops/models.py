"""One row per backup attempt (scheduled or by hand), so the health page and the admin can
say when the last one was made, where, and whether it worked."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class BackupQuerySet(models.QuerySet):
    def last_ok(self) -> Backup | None:
        return self.filter(ok=True).order_by("-finished_at").first()


class Backup(models.Model):
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(default=timezone.now, db_index=True)
    path = models.CharField(max_length=500, blank=True)
    ok = models.BooleanField(default=False)
    message = models.TextField(blank=True)
    size_bytes = models.BigIntegerField(default=0)
    files = models.PositiveIntegerField(default=0)
    scheduled = models.BooleanField(default=False)

    objects = BackupQuerySet.as_manager()

    class Meta:
        ordering = ["-finished_at", "-pk"]
        permissions = [
            ("manage_storage", "Can preview and run retention and see backups and storage"),
            ("view_health", "Can see the health page"),
        ]

    def __str__(self) -> str:
        outcome = "ok" if self.ok else "failed"
        return f"Backup {self.finished_at:%Y-%m-%d %H:%M} {outcome}: {self.path or self.message}"
