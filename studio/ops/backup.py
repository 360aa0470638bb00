"""`manage.py backup`: a consistent snapshot of the database and the media files, taken while
the studio runs, in a folder of its own with a manifest (README: Operating).

SQLite: the online backup API (sqlite3.Connection.backup) copies the live database in one
step inside one read transaction, so writers carry on (WAL) and the copy is the database at
one instant; a file copy of a live database can tear. PostgreSQL: `pg_dump --format=custom`
run on a snapshot exported from a REPEATABLE READ transaction, in which the row counts are
taken too, so the counts are the dump's. Restore with `manage.py restore` (it runs
pg_restore). Media: every stored file, copied after the snapshot; a file removed in between
is listed as missing.

A backup is written into `.partial-...` and renamed to `studio-backup-<UTC time>` once the
manifest is on disk, so a folder with that name is always a whole backup."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from django.db import connections, transaction
from django.utils import timezone

from studio.ops import files
from studio.ops.models import Backup

FORMAT = 1
MANIFEST = "manifest.json"
PREFIX = "studio-backup-"
PARTIAL = ".partial-"
MEDIA = "media"
SQLITE_FILE = "database.sqlite3"
POSTGRES_FILE = "database.dump"


class BackupError(Exception):
    """The backup could not be made; the message says why. Nothing half-made is left."""


@dataclass(frozen=True)
class Snapshot:
    engine: str
    file: str
    tables: dict[str, int]
    migrations: list[str]
    referenced: set[str]


def engine(alias: str = "default") -> str:
    vendor = connections[alias].vendor
    if vendor not in ("sqlite", "postgresql"):
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {vendor}.")
    return vendor


def make(dest: Path | str, *, keep: int | None = None, scheduled: bool = False) -> Backup:
    """Write one backup into `dest`, keep the newest `keep` there (None: all), and record
    the attempt as a Backup row. Raises BackupError (after recording it) on failure, and
    files.Busy (recording nothing) while another backup or retention run goes on."""
    dest = Path(dest).resolve()
    with files.storage_lease("the backup") as renew:
        started = timezone.now()
        try:
            path, manifest = write(dest, renew)
            if keep:
                prune(dest, keep)
        except (BackupError, OSError, sqlite3.Error) as error:
            message = str(error) or type(error).__name__
            Backup.objects.create(
                started_at=started, path=str(dest), ok=False, message=message, scheduled=scheduled
            )
            raise BackupError(message) from error
    media = manifest["media"]
    missing = media["missing"]
    note = f"{len(missing)} file(s) were removed while the backup ran: {missing}" if missing else ""
    return Backup.objects.create(
        started_at=started,
        path=str(path),
        ok=True,
        message=note,
        size_bytes=manifest["database"]["size"] + sum(f["size"] for f in media["files"]),
        files=len(media["files"]),
        scheduled=scheduled,
    )


def write(dest: Path, renew: Callable[[], None] = lambda: None) -> tuple[Path, dict]:
    """The backup itself: snapshot, media, manifest, then the rename that makes it whole."""
    dest.mkdir(parents=True, exist_ok=True)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%fZ")
    work = dest / f"{PARTIAL}{stamp}-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    try:
        snapshot = snapshot_database(work)
        copied = copy_media(work / MEDIA, renew)
        size, digest = files.sha256(work / snapshot.file)
        manifest = {
            "format": FORMAT,
            "created_at": timezone.now().isoformat(),
            "database": {
                "engine": snapshot.engine,
                "file": snapshot.file,
                "size": size,
                "sha256": digest,
                "tables": snapshot.tables,
                "migrations": snapshot.migrations,
            },
            "media": {
                "files": copied,
                "missing": sorted(snapshot.referenced - {f["name"] for f in copied}),
            },
        }
        write_json(work / MANIFEST, manifest)
        final = dest / f"{PREFIX}{stamp}"
        os.rename(work, final)
        fsync_dir(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final, manifest


def snapshot_database(work: Path) -> Snapshot:
    if engine() == "sqlite":
        return snapshot_sqlite(work / SQLITE_FILE)
    return snapshot_postgres(work / POSTGRES_FILE)


def snapshot_sqlite(target: Path) -> Snapshot:
    name = str(connections["default"].settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file::memory:") or not Path(name).is_file():
        raise BackupError(f"No SQLite database file at {name}.")
    with (
        closing(sqlite3.connect(name, timeout=20)) as live,
        closing(sqlite3.connect(target)) as copy,
    ):
        live.backup(copy)  # pages=-1: all of it in one step, one consistent read
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal
        cursor = copy.cursor()
        tables = sqlite_tables(cursor)
        return Snapshot(
            engine="sqlite",
            file=target.name,
            tables={table: count(cursor, table) for table in tables},
            migrations=applied_migrations(cursor),
            referenced=files.referenced(cursor),
        )


def sqlite_tables(cursor) -> list[str]:
    cursor.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    )
    return [row[0] for row in cursor.fetchall()]


def count(cursor, table: str) -> int:
    cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
    return cursor.fetchone()[0]


def applied_migrations(cursor) -> list[str]:
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
    return [f"{app}.{name}" for app, name in cursor.fetchall()]


def snapshot_postgres(target: Path) -> Snapshot:
    """Counts, file names and pg_dump all read one exported snapshot, so they agree."""
    connection = connections["default"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        exported = cursor.fetchone()[0]
        tables = sorted(connection.introspection.table_names(cursor))
        snapshot = Snapshot(
            engine="postgresql",
            file=target.name,
            tables={table: count(cursor, table) for table in tables},
            migrations=applied_migrations(cursor),
            referenced=files.referenced(cursor),
        )
        run_pg(
            "pg_dump",
            ["--format=custom", "--no-owner", "--no-privileges", f"--snapshot={exported}"],
            ["--file", str(target)],
        )
    return snapshot


def run_pg(tool: str, flags: list[str], args: list[str]) -> None:
    """Run pg_dump or pg_restore on the default database (connection settings through the
    libpq environment, so the password never shows in a process list)."""
    program = shutil.which(tool)
    if program is None:
        raise BackupError(
            f"{tool} was not found: install the PostgreSQL client tools (the server's major "
            "version or newer), e.g. apt-get install postgresql-client."
        )
    settings = connections["default"].settings_dict
    env = dict(os.environ)
    for key, variable in (
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
    ):
        if settings.get(key):
            env[variable] = str(settings[key])
    if settings.get("OPTIONS", {}).get("sslmode"):
        env["PGSSLMODE"] = settings["OPTIONS"]["sslmode"]
    command = [program, *flags, f"--dbname={settings['NAME']}", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise BackupError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def copy_media(folder: Path, renew: Callable[[], None]) -> list[dict]:
    """Copy every stored file (half-done copies aside) into `folder`; a file that went
    between listing and copying is skipped (the manifest lists it as missing)."""
    store = files.storage()
    copied = []
    for name in files.walk(store):
        if files.is_partial(name):
            continue
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with store.open(name, "rb") as source:
                size, digest = files.copy(source, target)
        except FileNotFoundError:
            target.unlink(missing_ok=True)
            continue
        copied.append({"name": name, "size": size, "sha256": digest})
        renew()
    return copied


def write_json(path: Path, data: dict) -> None:
    with path.open("w") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backups_in(dest: Path) -> list[Path]:
    """The whole backups in `dest`, oldest first (their names sort by time)."""
    if not dest.is_dir():
        return []
    return sorted(
        path for path in dest.glob(f"{PREFIX}*") if path.is_dir() and (path / MANIFEST).is_file()
    )


def prune(dest: Path, keep: int) -> list[Path]:
    """Keep the newest `keep` backups; also remove half-made ones (a backup killed midway:
    the caller holds the storage lease, so no other backup is writing one)."""
    removed = backups_in(dest)[:-keep]
    removed += [path for path in dest.glob(f"{PARTIAL}*") if path.is_dir()]
    for path in removed:
        shutil.rmtree(path)
    return removed
