"""`manage.py retention [--preview] [--days N] [--action archive|delete]`: list, or archive or
delete, the videos retention would remove (studio/ops/retention.py)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import filesizeformat

from studio.ops import files, retention


class Command(BaseCommand):
    help = "Archive or delete old videos that are not approved and whose prompt is not starred."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--preview", action="store_true", help="list them, change nothing")
        parser.add_argument(
            "--days", type=int, help="older than this many days (default STUDIO_RETENTION_DAYS)"
        )
        parser.add_argument(
            "--action",
            choices=("archive", "delete"),
            help="default STUDIO_RETENTION_ACTION (archive)",
        )

    def handle(self, *args, preview: bool, days: int | None, action: str | None, **options):
        days = days if days is not None else settings.STUDIO_RETENTION_DAYS
        if days < 1:
            raise CommandError(
                "Retention is off (STUDIO_RETENTION_DAYS is 0): pass --days N to run it once."
            )
        action = action or settings.STUDIO_RETENTION_ACTION
        found = retention.plan(days)
        verb = "Would" if preview else "Will"
        self.stdout.write(
            f"{verb} {action} {len(found.rows)} videos made before {found.cutoff:%Y-%m-%d %H:%M} "
            f"({filesizeformat(found.bytes)}):"
        )
        for row in found.rows:
            self.stdout.write(
                f"  {row.pk}  {row.created_at:%Y-%m-%d}  {row.owner.get_username()}  "
                f"{filesizeformat(row.video_bytes or 0)}  {row.video.name}"
            )
        if preview:
            return
        try:
            removed = retention.apply(found, action=action)
        except files.Busy as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Removed {len(removed)} of {len(found.rows)} ({action}).")
