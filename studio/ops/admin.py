"""The backups in the admin: when, where, whether they worked. Read-only: rows are written
by `manage.py backup` and the schedule (studio/ops/backup.py). A StudioAdmin like every
admin page (accounts/admin.py): a deleted row is audited."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from studio.accounts.admin import StudioAdmin
from studio.ops.models import Backup


@admin.register(Backup)
class BackupAdmin(StudioAdmin):
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
