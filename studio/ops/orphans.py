"""Files nobody points at: stored files no row names (a crash between a row forgetting a
file and the file's removal, a hand-made copy), half-done copies in storage and download
temp files left by killed workers; and the other way round, rows naming a missing file.

Files younger than the store lease are left alone: a worker may be between saving a video
and marking its row succeeded (studio/generations/pipeline.py store)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from studio.generations import media
from studio.generations.pipeline import STORE_LEASE
from studio.ops import files

TEMP_PREFIXES = (media.TEMP_PREFIX,)


@dataclass
class Report:
    orphans: list[tuple[str, int]] = field(default_factory=list)  # (name in storage, bytes)
    partial: list[tuple[str, int]] = field(default_factory=list)  # half-done copies
    temp: list[tuple[Path, int]] = field(default_factory=list)  # download temp files
    recent: list[str] = field(default_factory=list)  # unreferenced, too young to judge
    missing: list[str] = field(default_factory=list)  # referenced, not in storage

    @property
    def bytes(self) -> int:
        return sum(size for _, size in [*self.orphans, *self.partial, *self.temp])


def find(grace: float = STORE_LEASE) -> Report:
    store = files.storage()
    with connection.cursor() as cursor:
        wanted = files.referenced(cursor)
    cutoff = timezone.now().timestamp() - grace
    report = Report()
    seen = set()
    for name in files.walk(store):
        seen.add(name)
        if name in wanted:
            continue
        if store.get_modified_time(name).timestamp() > cutoff:
            report.recent.append(name)
            continue
        kind = report.partial if files.is_partial(name) else report.orphans
        kind.append((name, store.size(name)))
    report.missing = sorted(wanted - seen)
    report.temp = old_temp_files(time.time() - grace)
    return report


def old_temp_files(before: float) -> list[tuple[Path, int]]:
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name.startswith(TEMP_PREFIXES):
            stat = path.stat()
            if stat.st_mtime < before:
                found.append((path, stat.st_size))
    return found


def delete(report: Report) -> int:
    """Remove what `report` found (not the recent ones); how many files went."""
    store = files.storage()
    for name, _ in [*report.orphans, *report.partial]:
        store.delete(name)
    for path, _ in report.temp:
        path.unlink(missing_ok=True)
    return len(report.orphans) + len(report.partial) + len(report.temp)
