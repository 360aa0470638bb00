"""`manage.py backup DEST [--keep N]`: a consistent snapshot of the running studio (database
and media files, with a manifest) in a new folder inside DEST (studio/ops/backup.py)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studio.ops import backup, files


class Command(BaseCommand):
    help = "Back up the database and the media files into a new folder inside DEST."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dest", help="the folder that holds the backups")
        parser.add_argument(
            "--keep", type=int, default=None, help="then keep only the newest N backups there"
        )

    def handle(self, *args, dest: str, keep: int | None, **options) -> None:
        if keep is not None and keep < 1:
            raise CommandError("--keep must be at least 1.")
        try:
            made = backup.make(dest, keep=keep)
        except files.Busy as error:
            raise CommandError(str(error)) from None
        except backup.BackupError as error:
            raise CommandError(f"Backup failed: {error}") from None
        if made.message:
            self.stderr.write(f"Warning: {made.message}")
        self.stdout.write(
            f"Backed up to {made.path} ({made.files} media files, {made.size_bytes} bytes)."
        )
