"""The worker command: the cluster settings are checked, and one cluster per SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management.base import CommandError

from studio.generations.management.commands.worker import check_cluster_settings

ROOT = Path(__file__).resolve().parents[1]


def test_retry_shorter_than_timeout_plus_a_minute_is_refused() -> None:
    with pytest.raises(CommandError, match="retry"):
        check_cluster_settings({"retry": 150, "timeout": 120, "workers": 2, "queue_limit": 4})


def test_a_long_internal_queue_is_refused() -> None:
    with pytest.raises(CommandError, match="queue_limit"):
        check_cluster_settings({"retry": 300, "timeout": 120, "workers": 2, "queue_limit": 10})


def test_the_shipped_cluster_settings_pass_the_check(settings) -> None:
    check_cluster_settings(settings.Q_CLUSTER)


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="the lock is for SQLite only")
def test_a_second_worker_on_the_same_sqlite_file_exits_non_zero(tmp_path: Path) -> None:
    env = {**os.environ, "STUDIO_DATA_DIR": str(tmp_path), "STUDIO_QUEUE_NAME": "lock-test"}
    env.pop("REDIS_URL", None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    first = subprocess.Popen(
        [*manage, "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        lock = tmp_path / "worker.lock"
        deadline = time.monotonic() + 20
        while not lock.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert first.poll() is None, "the first worker should keep running"
        second = subprocess.run(
            [*manage, "worker"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
        )
        assert second.returncode != 0
        assert "Another worker is running" in second.stderr
    finally:
        first.terminate()
        first.wait(timeout=20)


# ------------------------------------------------------------------ taking over after a crash


@pytest.fixture
def abandoned(settings, tmp_path):
    """What a killed worker leaves: leased rows, a queued row never sent, the sweep's
    lease, a half-written download."""
    from datetime import timedelta

    from django.utils import timezone

    from studio.generations.models import Generation, Lease, Status
    from tests.factories import make_generation, make_user

    settings.FILE_UPLOAD_TEMP_DIR = tmp_path
    (tmp_path / "download-half.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (tmp_path / "keep.txt").write_text("not ours")
    later, user = timezone.now() + timedelta(minutes=20), make_user()
    rows = {
        "polling": make_generation(user, status=Status.PROCESSING, task_id="1", lease_until=later),
        "storing": make_generation(user, status=Status.STORING, task_id="2", lease_until=later),
        "never sent": make_generation(user, status=Status.QUEUED, next_poll_at=later),
    }
    Lease.objects.create(name="sweep", until=later, holder="dead")
    return {name: Generation.objects.get(pk=row.pk) for name, row in rows.items()}


@pytest.mark.django_db
def test_a_worker_starting_alone_takes_back_what_a_dead_one_held(abandoned, queue, tmp_path):
    from django.utils import timezone

    from studio.generations.management.commands.worker import recover
    from studio.generations.models import Generation, Lease

    recover(alone=True)

    assert not Generation.objects.filter(lease_until__isnull=False).exists()
    assert Generation.objects.get(pk=abandoned["polling"].pk).next_poll_at <= timezone.now()
    assert not Lease.is_held("sweep")
    assert sorted(queue) == sorted(
        [
            ("submit", (str(abandoned["never sent"].pk),)),
            ("store", (str(abandoned["storing"].pk),)),
            ("sweep", ()),
        ]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


@pytest.mark.django_db
def test_with_other_clusters_possible_live_leases_are_left_alone(abandoned, queue, tmp_path):
    from studio.generations.management.commands.worker import recover
    from studio.generations.models import Generation, Lease

    recover(alone=False)

    assert Generation.objects.filter(lease_until__isnull=False).count() == 2
    assert Lease.is_held("sweep")
    assert (tmp_path / "download-half.mp4").exists()  # young: maybe another worker's


@pytest.mark.django_db
@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="the ORM broker's queue table")
def test_a_worker_starting_alone_hands_out_the_dead_clusters_taken_tasks(settings):
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import OrmQ

    from studio.generations.management.commands.worker import unlock_broker

    name = settings.Q_CLUSTER["name"]
    taken = OrmQ.objects.create(key=name, payload="x", lock=timezone.now() + timedelta(minutes=5))
    other = OrmQ.objects.create(key="another-queue", payload="x", lock=taken.lock)

    assert unlock_broker() == 1

    taken.refresh_from_db()
    other.refresh_from_db()
    assert taken.lock <= timezone.now() < other.lock
