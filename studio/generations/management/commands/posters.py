"""`manage.py posters [--limit N]`: make the tile-sized poster (1x) of videos stored before
there were two sizes, from the poster they have (studio/generations/posters.py). Bounded by
--limit per run; running it again does only what is left."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studio.generations import posters


class Command(BaseCommand):
    help = "Make the missing 1x poster of videos stored before it was made."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit", type=int, default=1000, help="at most this many posters this run (1000)"
        )

    def handle(self, *args, limit: int, **options) -> None:
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        made, skipped, left = posters.make_missing(limit)
        self.stdout.write(f"Made {made} 1x poster(s).")
        if skipped:
            self.stdout.write(
                f"{skipped} poster(s) could not be read (see the log); left as they are."
            )
        self.stdout.write(f"{left} still without a 1x poster." if left else "None left to make.")
