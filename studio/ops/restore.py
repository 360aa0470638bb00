"""`manage.py restore`: put a backup (studio/ops/backup.py) back, checking it first.

Before anything is written: the manifest's format, every file's size and sha256, the
database engine and migrations (a backup from a newer studio is refused), and on SQLite the
row counts inside the backup's database. A studio that holds accounts, generations or media
files is not overwritten without `force`. After: the row counts of every table and the
size of every file are compared with the manifest again, then `migrate` brings an older
backup up to this code."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections
from django.db.migrations.loader import MigrationLoader

from studio.generations import media
from studio.generations.models import Generation
from studio.ops import backup, files


class Refused(Exception):
    """The restore did not start; the message says why. Nothing was written."""


class Mismatch(Refused):
    """The restore ran, but what it wrote does not match the manifest."""


def load_manifest(src: Path) -> dict:
    path = src / backup.MANIFEST
    if not path.is_file():
        found = [p.name for p in backup.backups_in(src)]
        hint = f" It holds these backups: {', '.join(found)}." if found else ""
        raise Refused(f"{src} is not a backup: it has no {backup.MANIFEST}.{hint}")
    try:
        manifest = json.loads(path.read_text())
        if manifest["format"] != backup.FORMAT:
            raise Refused(
                f"The backup's format is {manifest['format']!r}; this studio reads "
                f"format {backup.FORMAT}."
            )
        manifest["database"]["tables"].items()  # noqa: B018 (shape check)
        for entry in manifest["media"]["files"]:
            files.safe(entry["name"])
            int(entry["size"]), str(entry["sha256"])  # noqa: B018 (shape check)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise Refused(
            f"The manifest {path} is damaged ({type(error).__name__}: {error})."
        ) from None
    return manifest


def verify(src: Path, manifest: dict, progress: Callable[[str], None]) -> None:
    """Every checksum, before anything is written."""
    database = manifest["database"]
    check_file(src / database["file"], database["size"], database["sha256"])
    listed = manifest["media"]["files"]
    for entry in listed:
        check_file(src / backup.MEDIA / entry["name"], entry["size"], entry["sha256"])
    progress(f"Checked the database and {len(listed)} media files against the manifest.")
    if database["engine"] == "sqlite":
        with closing(sqlite3.connect(f"file:{src / database['file']}?mode=ro", uri=True)) as db:
            differ = differences(database["tables"], db.cursor(), backup.sqlite_tables)
        if differ:
            raise Refused(f"The backup's database does not hold what the manifest says: {differ}")


def check_file(path: Path, size: int, digest: str) -> None:
    if not path.is_file():
        raise Refused(f"The backup is incomplete: {path} is missing.")
    found_size, found_digest = files.sha256(path)
    if found_size != size:
        raise Refused(f"{path} is {found_size} bytes; the manifest says {size}.")
    if found_digest != digest:
        raise Refused(f"{path} was changed or damaged: its sha256 is not the manifest's.")


def differences(expected: dict[str, int], cursor, list_tables) -> dict[str, tuple]:
    """{table: (expected, found)} for every table whose row count differs."""
    present = set(list_tables(cursor))
    found = {table: backup.count(cursor, table) if table in present else None for table in expected}
    return {t: (n, found[t]) for t, n in expected.items() if found[t] != n}


def check_target(manifest: dict) -> None:
    here = backup.engine()
    there = manifest["database"]["engine"]
    if here != there:
        raise Refused(
            f"This is a {there} backup and the studio runs on {here}: restore it into a "
            f"{there} database (DATABASE_URL)."
        )
    known = {f"{app}.{name}" for app, name in MigrationLoader(None).disk_migrations}
    unknown = sorted(set(manifest["database"]["migrations"]) - known)
    if unknown:
        raise Refused(
            "The backup was made by a newer version of the studio (migrations this code "
            f"does not have: {', '.join(unknown[:5])}). Update the code first."
        )


def contents() -> dict[str, int]:
    """What the studio holds now: accounts, generations, media files."""
    tables = set(connections["default"].introspection.table_names())
    found = {}
    for label, model in (("accounts", get_user_model()), ("generations", Generation)):
        found[label] = model._base_manager.count() if model._meta.db_table in tables else 0
    found["media files"] = sum(1 for _ in files.walk())
    return found


def restore(src: Path | str, *, force: bool, progress: Callable[[str], None]) -> dict:
    src = Path(src).resolve()
    manifest = load_manifest(src)
    check_target(manifest)
    verify(src, manifest, progress)
    held = contents()
    if any(held.values()) and not force:
        what = ", ".join(f"{label}: {n}" for label, n in held.items() if n)
        raise Refused(
            f"This studio is not empty ({what}); restoring replaces all of it. Stop the web "
            "server and the worker, then run restore again with --force."
        )
    with no_worker():
        restore_database(src, manifest)
        progress(f"Restored the database ({len(manifest['database']['tables'])} tables).")
        restore_media(src, manifest, replace=any(held.values()))
        check_restored(manifest)
        progress(f"Restored {len(manifest['media']['files'])} media files; all counts match.")
        call_command("migrate", interactive=False, verbosity=0)
    return manifest


@contextmanager
def no_worker() -> Iterator[None]:
    """SQLite: hold the worker's lock (studio/generations/management/commands/worker.py)
    while the database is replaced, so no worker runs on a half-restored studio."""
    if backup.engine() != "sqlite":
        yield
        return
    with (Path(settings.DATA_DIR) / "worker.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused(
                "A worker is running on this studio: stop it (and the web server)."
            ) from None
        yield


def restore_database(src: Path, manifest: dict) -> None:
    database = manifest["database"]
    connections.close_all()
    if database["engine"] == "postgresql":
        flags = ["--clean", "--if-exists", "--no-owner", "--no-privileges"]
        backup.run_pg(
            "pg_restore",
            [*flags, "--single-transaction", "--exit-on-error"],
            [str(src / database["file"])],
        )
        return
    target = str(connections["default"].settings_dict["NAME"])
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    source_uri = f"file:{src / database['file']}?mode=ro"
    with (
        closing(sqlite3.connect(source_uri, uri=True)) as source,
        closing(sqlite3.connect(target, timeout=20)) as dest,
    ):
        source.backup(dest)  # replaces every page: the target becomes the snapshot
        dest.execute("PRAGMA journal_mode=WAL")


def restore_media(src: Path, manifest: dict, *, replace: bool) -> None:
    """Copy every listed file into storage (each appears whole: media.put); when replacing a
    studio, its files that the backup does not have go."""
    store = files.storage()
    listed = {entry["name"]: entry for entry in manifest["media"]["files"]}
    if replace:
        for name in list(files.walk(store)):
            if name not in listed:
                store.delete(name)
    for name, entry in listed.items():
        temp = media.temp_file(Path(name).suffix)
        temp.close()
        try:
            with (src / backup.MEDIA / name).open("rb") as source:
                size, digest = files.copy(source, Path(temp.name))
            if (size, digest) != (entry["size"], entry["sha256"]):
                raise Mismatch(f"{name} changed in the backup while it was being restored.")
            media.put(store, name, temp.name)
        finally:
            if os.path.exists(temp.name):
                os.unlink(temp.name)


def check_restored(manifest: dict) -> None:
    connection = connections["default"]
    with connection.cursor() as cursor:
        differ = differences(
            manifest["database"]["tables"], cursor, connection.introspection.table_names
        )
    if differ:
        raise Mismatch(f"Row counts differ from the manifest: {differ}")
    store = files.storage()
    wrong = [
        entry["name"]
        for entry in manifest["media"]["files"]
        if not store.exists(entry["name"]) or store.size(entry["name"]) != entry["size"]
    ]
    if wrong:
        raise Mismatch(f"These files are missing or differ: {wrong[:10]}")
