"""Media storage as a set of names: every stored file (through the storage API, so a shared
storage works too), the names rows point at, and copying a file while hashing it."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from django.apps import apps
from django.core.files.storage import default_storage
from django.db import models

from studio.generations.models import Lease

CHUNK = 1024 * 1024
# media.put copies across file systems through ".<name>.partial" beside the target.
PARTIAL_SUFFIX = ".partial"


def storage():
    return default_storage


def walk(store=None, folder: str = "") -> Iterator[str]:
    """Every file name in `store` under `folder`, sorted, folders after files."""
    store = store or storage()
    try:
        folders, names = store.listdir(folder)
    except FileNotFoundError:
        return
    for name in sorted(names):
        yield f"{folder}/{name}" if folder else name
    for sub in sorted(folders):
        yield from walk(store, f"{folder}/{sub}" if folder else sub)


def is_partial(name: str) -> bool:
    """A copy media.put left half-done (a worker killed mid-copy): never a stored file."""
    base = name.rsplit("/", 1)[-1]
    return base.startswith(".") and base.endswith(PARTIAL_SUFFIX)


def safe(name: str) -> str:
    """`name` if, joined to a folder, it stays inside it (a tampered manifest must not
    write elsewhere); else ValueError."""
    path = Path(name)
    if not path.parts or path.is_absolute() or ".." in path.parts or name.startswith("~"):
        raise ValueError(f"unsafe file name {name!r}")
    return name


def file_fields() -> list[tuple[type[models.Model], models.FileField]]:
    """Every FileField of every installed model (videos, posters, anything added later)."""
    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, models.FileField)
    ]


def referenced_sql() -> list[str]:
    """One SELECT per file column, for reading names out of a database snapshot that the
    ORM cannot reach (the SQLite copy, PostgreSQL's exported snapshot)."""
    return [
        f'SELECT "{field.column}" FROM "{model._meta.db_table}" WHERE "{field.column}" <> \'\''
        for model, field in file_fields()
    ]


def referenced(cursor) -> set[str]:
    """The names rows point at, read through a DB-API `cursor`."""
    names: set[str] = set()
    for sql in referenced_sql():
        cursor.execute(sql)
        names.update(row[0] for row in cursor.fetchall())
    return names


def copy(source: BinaryIO, dest: Path) -> tuple[int, str]:
    """Copy `source` into the new file `dest` (flushed to disk); its size and sha256."""
    with dest.open("wb") as out:
        found = digest(source, out)
        out.flush()
        os.fsync(out.fileno())
    return found


def sha256(path: Path) -> tuple[int, str]:
    with path.open("rb") as handle:
        return digest(handle)


def digest(source: BinaryIO, out: BinaryIO | None = None) -> tuple[int, str]:
    """Read `source` to its end (writing it to `out` if given): its size and sha256."""
    hashed = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK):
        hashed.update(chunk)
        size += len(chunk)
        if out is not None:
            out.write(chunk)
    return size, hashed.hexdigest()


# ---------------------------------------------------------------------------- the lease

LEASE_NAME = "storage"
LEASE_SECONDS = 30 * 60  # a killed backup frees it within this
RENEW_EVERY = 60


class Busy(Exception):
    """Another backup or retention run holds the storage lease."""


@contextmanager
def storage_lease(what: str) -> Iterator[Callable[[], None]]:
    """Backups and retention runs take turns: a video removed while a backup copies the
    media would leave the snapshot pointing at a file it does not hold. Yields a `renew`
    to call as work goes on (it writes at most once a minute)."""
    holder = Lease.acquire(LEASE_NAME, LEASE_SECONDS)
    if holder is None:
        raise Busy(f"Another backup or retention run is in progress: {what} did not start.")
    last = time.monotonic()

    def renew() -> None:
        nonlocal last
        if time.monotonic() - last > RENEW_EVERY:
            Lease.renew(LEASE_NAME, holder, LEASE_SECONDS)
            last = time.monotonic()

    try:
        yield renew
    finally:
        Lease.release(LEASE_NAME, holder)
