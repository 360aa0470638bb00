"""`manage.py restore SRC [--force]`: put a backup made by `manage.py backup` back, after
checking every checksum; a studio that is not empty is replaced only with --force."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studio.ops import backup, restore


class Command(BaseCommand):
    help = "Restore a backup folder (one made by `manage.py backup`) into this studio."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("src", help="the backup folder (the one holding manifest.json)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace this studio's database and media even though they are not empty",
        )

    def handle(self, *args, src: str, force: bool, **options) -> None:
        try:
            manifest = restore.restore(src, force=force, progress=self.stdout.write)
        except restore.Mismatch as error:
            raise CommandError(f"The restore ran but does not match the backup: {error}") from None
        except (restore.Refused, backup.BackupError) as error:
            raise CommandError(f"Not restored: {error}") from None
        missing = manifest["media"]["missing"]
        if missing:
            self.stderr.write(
                f"Warning: {len(missing)} file(s) were removed while the backup ran and are "
                f"not in it: {', '.join(missing[:10])}"
            )
        self.stdout.write(self.style.SUCCESS(f"Restored the backup of {manifest['created_at']}."))
