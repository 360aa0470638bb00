"""The backups in the admin: when, where, whether they worked. Read-only: rows are written
by `manage.py backup` and the schedule (studio/ops/backup.py)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from studio.ops.models import Backup


@admin.register(Backup)
class BackupAdmin(admin.ModelAdmin):
    list_display = ("finished_at", "ok", "scheduled", "path", "files", "size_bytes", "message")
    list_filter = ("ok", "scheduled", "finished_at")
    readonly_fields = (
        "started_at",
        "finished_at",
        "ok",
        "scheduled",
        "path",
        "files",
        "size_bytes",
        "message",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
