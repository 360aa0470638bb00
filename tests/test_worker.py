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
