"""Backups that restore (README: Operating): `manage.py backup` while the studio runs, then
`manage.py restore` into a fresh studio holds every row and every file of the snapshot; a
tampered backup and a non-empty studio are refused; the schedule backs up when due and keeps
the newest N; a half-made backup never looks whole.

The round trip runs real processes (tests/system.py): the simulator and the worker with
videos in flight, and a thread committing into the same database as fast as it can, each
transaction adding a row to one table and counting it in another, so a torn copy shows."""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps as global_apps
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_q.models import Schedule

from studio.generations.models import Generation
from studio.ops import backup, files, tasks
from studio.ops.models import Backup
from tests.factories import make_generation, make_user
from tests.system import System
from tests.test_settings import load

SIM_FAST = ("--processing-after", "0.3", "--finish-after", "1", "--fps", "2")
ACTIVE = ("queued", "submitted", "processing", "storing")
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
Rows = Callable[[str], list[tuple]]


# ---------------------------------------------------------------- the round trip


def sqlite_rows(path: Path) -> Rows:
    def rows(sql: str) -> list[tuple]:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return conn.execute(sql).fetchall()

    return rows


def postgres_rows(url: str) -> Rows:
    def rows(sql: str) -> list[tuple]:
        import psycopg

        with psycopg.connect(url) as conn:
            return conn.execute(sql).fetchall()

    return rows


def every_row(rows: Rows, tables: list[str]) -> dict[str, list[tuple]]:
    return {
        table: sorted(tuple(map(str, row)) for row in rows(f'SELECT * FROM "{table}"'))
        for table in tables
    }


class Soak:
    """Commits "insert into soak, add one to soak_total" in a loop on its own connection."""

    def __init__(self, system: System) -> None:
        self.system, self.stop, self.commits = system, threading.Event(), 0
        self.error: Exception | None = None
        key = "SERIAL PRIMARY KEY" if system.database_url else "INTEGER PRIMARY KEY"
        self.run(
            f"CREATE TABLE soak (id {key}, note TEXT NOT NULL)",
            "CREATE TABLE soak_total (n INTEGER NOT NULL)",
            "INSERT INTO soak_total (n) VALUES (0)",
        )
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def run(self, *statements: str) -> None:
        """One transaction."""
        if self.system.database_url:
            import psycopg

            with psycopg.connect(self.system.database_url) as conn:
                for sql in statements:
                    conn.execute(sql)
            return
        conn = sqlite3.connect(self.system.data / "studio.sqlite3", timeout=20)
        try:
            with conn:
                for sql in statements:
                    conn.execute(sql)
        finally:
            conn.close()

    def loop(self) -> None:
        try:
            while not self.stop.is_set():
                self.run(
                    f"INSERT INTO soak (note) VALUES ('commit {self.commits}')",
                    "UPDATE soak_total SET n = n + 1",
                )
                self.commits += 1
        except Exception as error:  # reported by finish(), in the test
            self.error = error

    def finish(self) -> int:
        self.stop.set()
        self.thread.join(timeout=30)
        if self.error is not None:
            raise self.error
        return self.commits


class Databases:
    """PostgreSQL databases made for one test, dropped after it."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def new(self) -> str:
        import psycopg

        url = os.environ["DATABASE_URL"]
        name = f"studio_backup_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.made.append(f"{url.rsplit('/', 1)[0]}/{name}")
        return self.made[-1]

    def drop_all(self) -> None:
        if not self.made:
            return
        import psycopg

        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            for url in self.made:
                conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.fixture
def studios(tmp_path: Path, request) -> Iterator[tuple[System, System, Databases]]:
    """The running studio and an empty one to restore into, on the engine asked for."""
    databases = Databases()
    urls = ["", ""]
    if request.param == "postgresql":
        if not ON_POSTGRES:
            pytest.skip("DATABASE_URL is not PostgreSQL")
        urls = [databases.new(), databases.new()]
    source = System(tmp_path / "data", database_url=urls[0])
    fresh = System(tmp_path / "fresh", database_url=urls[1])
    source.data.mkdir()
    fresh.data.mkdir()
    try:
        yield source, fresh, databases
    finally:
        source.stop()
        databases.drop_all()


def start_with_jobs_in_flight(system: System) -> None:
    """Three videos stored, then four more that stay running (the upstream slows down)."""
    system.start_simulator(*SIM_FAST)
    system.manage("migrate", "-v0")
    system.start_worker()
    system.create([f"backup done {n}: a lighthouse at dusk" for n in range(3)])
    system.wait(lambda: system.statuses().get("succeeded") == 3, 60, "three stored videos")
    system.sim_config(finish_after=600)
    system.create([f"backup running {n}: gulls over a pier" for n in range(4)])
    system.wait(lambda: system.statuses().get("processing", 0) >= 2, 60, "videos processing")


def the_backup(dest: Path) -> tuple[Path, dict]:
    made = backup.backups_in(dest)
    assert len(made) == 1, f"one whole backup expected in {dest}: {list(dest.iterdir())}"
    assert not list(dest.glob(".partial-*")), "a half-made backup was left behind"
    return made[0], json.loads((made[0] / "manifest.json").read_text())


def snapshot_rows(folder: Path, manifest: dict, databases: Databases) -> Rows:
    """The snapshot read without the studio's code: the SQLite file as it is, the
    PostgreSQL dump through plain pg_restore into a scratch database."""
    if manifest["database"]["engine"] == "sqlite":
        return sqlite_rows(folder / "database.sqlite3")
    scratch = databases.new()
    command = ["pg_restore", "--no-owner", "--no-privileges", f"--dbname={scratch}"]
    done = subprocess.run([*command, str(folder / "database.dump")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return postgres_rows(scratch)


def check_snapshot_is_one_instant(rows: Rows, manifest: dict, folder: Path) -> None:
    """soak and soak_total agree, work was in flight, and every stored video the snapshot
    names is in the backup byte for byte as its row recorded it."""
    (total,) = rows("SELECT n FROM soak_total")[0]
    ids = [row[0] for row in rows("SELECT id FROM soak ORDER BY id")]
    assert total > 0 and len(ids) == total, "the snapshot tore a transaction"
    assert manifest["database"]["tables"]["soak"] == total
    statuses = [row[0] for row in rows("SELECT status FROM generations_generation")]
    assert statuses.count("succeeded") == 3
    assert sum(status in ACTIVE for status in statuses) == 4, "jobs were in flight"
    listed = {entry["name"]: entry for entry in manifest["media"]["files"]}
    stored = rows(
        "SELECT video, poster, poster_1x, video_sha256, video_bytes, poster_bytes,"
        " poster_1x_bytes FROM generations_generation WHERE status = 'succeeded'"
    )
    for video, poster, poster_1x, digest, *sizes in stored:
        assert files.sha256(folder / "media" / video) == (listed[video]["size"], digest)
        assert [listed[name]["size"] for name in (video, poster, poster_1x)] == sizes
    assert len(listed) == 9 and manifest["media"]["missing"] == []  # a video, two posters
    # The storage rollup in the same instant counts all three files of each.
    (counted,) = rows("SELECT SUM(bytes) FROM generations_storagemonth")[0]
    assert counted == sum(entry["size"] for entry in listed.values())


def check_restored(fresh: System, folder: Path, manifest: dict, snapshot: Rows) -> None:
    restored = (
        postgres_rows(fresh.database_url)
        if fresh.database_url
        else sqlite_rows(fresh.data / "studio.sqlite3")
    )
    tables = sorted(manifest["database"]["tables"])
    assert every_row(restored, tables) == every_row(snapshot, tables)
    media = fresh.data / "media"
    on_disk = {str(p.relative_to(media)) for p in media.rglob("*") if p.is_file()}
    assert on_disk == {entry["name"] for entry in manifest["media"]["files"]}
    for name in on_disk:
        assert (media / name).read_bytes() == (folder / "media" / name).read_bytes()


@pytest.mark.parametrize("studios", ["sqlite", "postgresql"], indirect=True)
def test_a_backup_taken_while_jobs_run_restores_every_row_and_file(studios, tmp_path) -> None:
    source, fresh, databases = studios
    start_with_jobs_in_flight(source)
    soak = Soak(source)
    try:
        out = source.manage("backup", str(tmp_path / "backups"))
    finally:
        assert soak.finish() > 0
    folder, manifest = the_backup(tmp_path / "backups")
    assert f"Backed up to {folder}" in out
    snapshot = snapshot_rows(folder, manifest, databases)
    check_snapshot_is_one_instant(snapshot, manifest, folder)

    assert "counts match" in fresh.manage("restore", str(folder))
    check_restored(fresh, folder, manifest, snapshot)

    with pytest.raises(AssertionError, match="not empty"):
        fresh.manage("restore", str(folder))
    (fresh.data / "media" / "stray.txt").write_text("not in the backup")
    assert "counts match" in fresh.manage("restore", str(folder), "--force")
    check_restored(fresh, folder, manifest, snapshot)


# ---------------------------------------------------------------- in-process checks
# transactional_db: the backup reads the database through its own connection, which sees
# only committed rows.


@pytest.fixture
def stored(transactional_db, settings, tmp_path) -> Generation:
    """A studio with one account and one stored video and its two posters."""
    settings.MEDIA_ROOT = tmp_path / "media"
    owner = make_user("cora")
    video = default_storage.save("videos/2026/01/a.mp4", ContentFile(b"\x00ftyp" + bytes(500)))
    poster = default_storage.save("posters/2026/01/a.jpg", ContentFile(b"\xff\xd8" + bytes(50)))
    small = default_storage.save("posters/2026/01/a-1x.jpg", ContentFile(b"\xff\xd8" + bytes(20)))
    return make_generation(
        owner,
        status="succeeded",
        video=video,
        poster=poster,
        poster_1x=small,
        video_bytes=505,
        poster_bytes=52,
        poster_1x_bytes=22,
    )


@pytest.fixture
def made(stored, tmp_path) -> Path:
    backup.make(tmp_path / "backups")
    return backup.backups_in(tmp_path / "backups")[0]


def edit_manifest(folder: Path, change: Callable[[dict], None]) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def restore(folder: Path, *flags: str) -> None:
    call_command("restore", str(folder), *flags, stdout=open(os.devnull, "w"))  # noqa: SIM115


def test_the_manifest_counts_every_table_and_hashes_every_file(made, stored) -> None:
    manifest = json.loads((made / "manifest.json").read_text())
    tables = manifest["database"]["tables"]
    assert tables["generations_generation"] == 1
    assert tables["auth_user"] == 1
    assert set(tables) == set(connection.introspection.table_names())
    assert {f["name"]: f["size"] for f in manifest["media"]["files"]} == {
        stored.video.name: 505,
        stored.poster.name: 52,
        stored.poster_1x.name: 22,
    }
    for entry in manifest["media"]["files"]:
        assert files.sha256(made / "media" / entry["name"]) == (entry["size"], entry["sha256"])
    database = manifest["database"]
    assert files.sha256(made / database["file"]) == (database["size"], database["sha256"])
    assert "generations.0006_poster_bytes" in database["migrations"]
    row = Backup.objects.get()
    assert row.ok and row.path == str(made) and row.files == 3 and not row.scheduled


def test_a_backup_that_fails_midway_leaves_no_folder_and_says_why(
    stored, tmp_path, monkeypatch
) -> None:
    def full(folder, renew):
        (folder / "videos").mkdir(parents=True)
        (folder / "videos" / "half.mp4").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backup, "copy_media", full)
    with pytest.raises(CommandError, match="No space left on device"):
        call_command("backup", str(tmp_path / "backups"))
    assert list((tmp_path / "backups").iterdir()) == []
    row = Backup.objects.get()
    assert not row.ok and "No space left" in row.message


def test_a_changed_media_file_is_refused_even_with_force(made, stored) -> None:
    video = made / "media" / stored.video.name
    video.write_bytes(video.read_bytes()[:-1] + b"\x01")
    with pytest.raises(CommandError, match="was changed or damaged"):
        restore(made, "--force")


@pytest.mark.parametrize("field", ["poster", "poster_1x"])
def test_a_missing_media_file_is_refused(made, stored, field) -> None:
    (made / "media" / getattr(stored, field).name).unlink()
    with pytest.raises(CommandError, match="The backup is incomplete"):
        restore(made, "--force")


def test_a_manifest_with_another_checksum_is_refused(made, stored) -> None:
    def lie(manifest: dict) -> None:
        manifest["media"]["files"][0]["sha256"] = "0" * 64

    edit_manifest(made, lie)
    with pytest.raises(CommandError, match="was changed or damaged"):
        restore(made, "--force")


@pytest.mark.skipif(ON_POSTGRES, reason="a PostgreSQL dump's counts are checked after restore")
def test_a_manifest_whose_counts_lie_is_refused_before_anything_is_written(made) -> None:
    def lie(manifest: dict) -> None:
        manifest["database"]["tables"]["generations_generation"] = 2

    edit_manifest(made, lie)
    with pytest.raises(CommandError, match="does not hold what the manifest says"):
        restore(made, "--force")


def test_a_manifest_naming_a_file_outside_the_media_folder_is_refused(made) -> None:
    def escape(manifest: dict) -> None:
        manifest["media"]["files"][0]["name"] = "../../outside.mp4"

    edit_manifest(made, escape)
    with pytest.raises(CommandError, match="manifest .* is damaged"):
        restore(made, "--force")


def test_a_backup_from_a_newer_studio_is_refused(made) -> None:
    def newer(manifest: dict) -> None:
        manifest["database"]["migrations"].append("generations.9999_from_the_future")

    edit_manifest(made, newer)
    with pytest.raises(CommandError, match="newer version of the studio"):
        restore(made, "--force")


def test_a_studio_that_is_not_empty_is_not_overwritten_without_force(made, stored) -> None:
    make_user("made-after-the-backup")
    with pytest.raises(CommandError, match=r"not empty \(accounts: 2, generations: 1, media"):
        restore(made)
    assert Generation.objects.count() == 1
    assert get_user("made-after-the-backup")


def get_user(username: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=username).exists()


def test_a_folder_of_backups_is_not_a_backup(made) -> None:
    with pytest.raises(CommandError, match=f"It holds these backups: {made.name}"):
        restore(made.parent)


# ---------------------------------------------------------------- the schedule


@pytest.mark.django_db
def test_the_schedules_are_made_once() -> None:
    migration = importlib.import_module("studio.ops.migrations.0002_schedules")
    migration.create_schedules(global_apps, None)
    migration.create_schedules(global_apps, None)
    found = Schedule.objects.filter(name__in=["studio-backup", "studio-retention"])
    assert sorted(found.values_list("name", "func", "minutes")) == [
        ("studio-backup", "studio.ops.tasks.backup_if_due", 10),
        ("studio-retention", "studio.ops.tasks.run_retention", 60),
    ]


def older(hours: float) -> None:
    """Pretend every backup so far started `hours` earlier."""
    for row in Backup.objects.all():
        Backup.objects.filter(pk=row.pk).update(started_at=row.started_at - timedelta(hours=hours))


def test_the_schedule_backs_up_when_due_and_keeps_the_newest(stored, settings, tmp_path) -> None:
    settings.STUDIO_BACKUP_DIR = str(tmp_path / "scheduled")
    settings.STUDIO_BACKUP_EVERY_HOURS = 24
    settings.STUDIO_BACKUP_KEEP = 2
    first = tasks.backup_if_due()
    assert Path(first).is_dir()
    assert tasks.backup_if_due() == "not due"
    older(23.95)  # within half a tick of the interval: due, so backups do not drift later
    second = tasks.backup_if_due()
    older(24)
    third = tasks.backup_if_due()
    kept = backup.backups_in(tmp_path / "scheduled")
    assert [str(path) for path in kept] == [second, third]
    assert Backup.objects.filter(scheduled=True, ok=True).count() == 3
    assert Backup.objects.last_ok().path == third


def test_a_failed_scheduled_backup_is_recorded_and_tried_again_an_hour_later(
    stored, settings, tmp_path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.STUDIO_BACKUP_DIR = str(blocker)
    assert tasks.backup_if_due().startswith("failed:")
    failed = Backup.objects.get()
    assert not failed.ok and failed.scheduled and failed.message
    assert Backup.objects.last_ok() is None
    assert tasks.backup_if_due() == "not due"
    older(1)
    settings.STUDIO_BACKUP_DIR = str(tmp_path / "scheduled")
    assert Path(tasks.backup_if_due()).is_dir()


def test_no_backup_dir_means_no_scheduled_backups(stored, settings) -> None:
    settings.STUDIO_BACKUP_DIR = ""
    assert tasks.backup_if_due() == "not due"
    assert not Backup.objects.exists()


def test_a_second_backup_waits_for_the_first(stored, tmp_path) -> None:
    with files.storage_lease("a test"), pytest.raises(CommandError, match="in progress"):
        call_command("backup", str(tmp_path / "backups"))
    assert not Backup.objects.exists()  # a busy schedule tick is not a failed backup


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("STUDIO_BACKUP_KEEP", "0", "STUDIO_BACKUP_KEEP must be at least 1"),
        ("STUDIO_BACKUP_EVERY_HOURS", "1.5", "STUDIO_BACKUP_EVERY_HOURS must be a whole number"),
        ("STUDIO_RETENTION_DAYS", "-3", "STUDIO_RETENTION_DAYS must be at least 0"),
        ("STUDIO_RETENTION_ACTION", "shred", "must be one of archive, delete"),
    ],
)
def test_bad_operating_settings_refuse_to_start(tmp_path, variable, value, message) -> None:
    done = load(tmp_path, **{variable: value})
    assert done.returncode != 0
    assert message in done.stderr
