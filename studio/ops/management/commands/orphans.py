"""`manage.py orphans [--delete]`: files in media storage no row points at, half-done copies
and old download temp files; rows whose file is missing (studio/ops/orphans.py)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser
from django.template.defaultfilters import filesizeformat

from studio.ops import orphans


class Command(BaseCommand):
    help = "Report (and with --delete remove) stored files that no row points at."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--delete", action="store_true", help="remove what was found")

    def handle(self, *args, delete: bool, **options) -> None:
        report = orphans.find()
        sections = (
            ("Files no row points at", report.orphans),
            ("Half-done copies in storage", report.partial),
            ("Download temp files left behind", report.temp),
        )
        for title, found in sections:
            self.stdout.write(f"{title}: {len(found)}")
            for name, size in found:
                self.stdout.write(f"  {name}  {filesizeformat(size)}")
        if report.recent:
            self.stdout.write(
                f"Too recent to judge (a worker may be saving them): {len(report.recent)}"
            )
        if report.missing:
            self.stdout.write(f"Rows pointing at a missing file: {len(report.missing)}")
            for name in report.missing:
                self.stdout.write(f"  {name}")
        total = len(report.orphans) + len(report.partial) + len(report.temp)
        if not delete:
            self.stdout.write(
                f"{total} files, {filesizeformat(report.bytes)}; --delete removes them."
            )
            return
        removed = orphans.delete(report)
        self.stdout.write(f"Removed {removed} files ({filesizeformat(report.bytes)}).")
