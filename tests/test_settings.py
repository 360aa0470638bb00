"""Settings come from the environment: each switch changes what it says, bad values refuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.kling.simulator.__main__ import parse_args
from studio.run import simulator_command

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "options": db.get("OPTIONS", {}),
    "broker": "redis" if "redis" in settings.Q_CLUSTER else settings.Q_CLUSTER.get("orm"),
    "simulator": settings.SIMULATOR_MODE, "base_url": settings.COMETAPI_BASE_URL,
    "allowed_downloads": settings.DOWNLOAD_ALLOWED_HOSTS, "debug": settings.DEBUG,
    "hosts": settings.ALLOWED_HOSTS, "secret": settings.SECRET_KEY,
    "public_url": settings.STUDIO_PUBLIC_URL, "limits": settings.PROMPT_LIMITS,
    "v3_all_durations": settings.STUDIO_KLING_V3_ALL_DURATIONS,
    "sim_strict": settings.SIMULATOR_STRICT, "conn_max_age": db.get("CONN_MAX_AGE"),
    "health_checks": db.get("CONN_HEALTH_CHECKS"),
}))
"""
SWITCHES = (
    "DATABASE_URL", "REDIS_URL", "COMETAPI_KEY", "COMETAPI_BASE_URL", "SECRET_KEY", "DEBUG",
    "ALLOWED_HOSTS", "STUDIO_PUBLIC_URL", "STUDIO_DOWNLOAD_ALLOWED_HOSTS", "STUDIO_PROMPT_LIMIT",
    "STUDIO_SIMULATOR_PORT", "STUDIO_KLING_V3_ALL_DURATIONS", "STUDIO_SIM_STRICT",
    "STUDIO_DB_CONN_MAX_AGE",
)  # fmt: skip


def load(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SWITCHES}
    clean.update(STUDIO_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="studio.settings", **env)
    code = "import django; django.setup()\n" + PROBE
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def settings_for(tmp_path: Path, **env: str) -> dict:
    done = load(tmp_path, **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_defaults_are_sqlite_in_wal_with_the_orm_broker_and_the_simulator(tmp_path) -> None:
    found = settings_for(tmp_path)
    assert found["engine"] == "django.db.backends.sqlite3"
    assert found["name"] == str(tmp_path / "studio.sqlite3")
    assert found["options"]["transaction_mode"] == "IMMEDIATE"
    assert found["options"]["timeout"] >= 5
    assert "journal_mode=WAL" in found["options"]["init_command"]
    assert found["broker"] == "default"
    assert found["simulator"] is True
    assert found["base_url"] == "http://127.0.0.1:8001"
    assert found["allowed_downloads"] == ["127.0.0.1:8001"]
    assert found["debug"] is False
    assert found["limits"] == {"prompt": 500, "negative_prompt": 200}
    assert found["v3_all_durations"] is False  # CometAPI documents 5 and 10 s only
    assert found["sim_strict"] is True
    assert found["conn_max_age"] == 60 and found["health_checks"] is True  # kept per thread


def test_the_sqlite_connection_age_comes_from_the_environment(tmp_path) -> None:
    assert settings_for(tmp_path, STUDIO_DB_CONN_MAX_AGE="0")["conn_max_age"] == 0
    refused = load(tmp_path, STUDIO_DB_CONN_MAX_AGE="-1")
    assert refused.returncode != 0 and "STUDIO_DB_CONN_MAX_AGE" in refused.stderr


def test_kling_v3s_official_durations_and_the_official_simulator_are_switches(tmp_path) -> None:
    found = settings_for(tmp_path, STUDIO_KLING_V3_ALL_DURATIONS="true", STUDIO_SIM_STRICT="false")
    assert found["v3_all_durations"] is True and found["sim_strict"] is False


def test_make_run_starts_the_strict_simulator_unless_told_otherwise() -> None:
    assert "--strict" in simulator_command(8001)
    assert "--no-strict" in simulator_command(8001, strict=False)
    assert parse_args(simulator_command(8001)[3:]).strict is True
    assert parse_args(simulator_command(8001, strict=False)[3:]).strict is False


def test_a_new_data_folder_gets_a_generated_secret_key_that_is_kept(tmp_path) -> None:
    first = settings_for(tmp_path)["secret"]
    assert len(first) >= 50
    assert settings_for(tmp_path)["secret"] == first
    assert settings_for(tmp_path, SECRET_KEY="x" * 60)["secret"] == "x" * 60


def test_database_url_switches_to_postgresql(tmp_path) -> None:
    found = settings_for(tmp_path, DATABASE_URL="postgres://studio@db.internal:5432/studio")
    assert found["engine"] == "django.db.backends.postgresql"
    assert found["name"] == "studio"


def test_redis_url_switches_the_broker_to_redis(tmp_path) -> None:
    assert settings_for(tmp_path, REDIS_URL="redis://127.0.0.1:6379/0")["broker"] == "redis"


def test_an_api_key_leaves_simulator_mode_for_cometapi(tmp_path) -> None:
    found = settings_for(tmp_path, COMETAPI_KEY="sk-live")
    assert found["simulator"] is False
    assert found["base_url"] == "https://api.cometapi.com"
    assert found["allowed_downloads"] == []


def test_the_base_url_points_the_client_at_any_compatible_server(tmp_path) -> None:
    found = settings_for(
        tmp_path, COMETAPI_KEY="sk-live", COMETAPI_BASE_URL="https://gateway.example/"
    )
    assert found["base_url"] == "https://gateway.example"


def test_lists_and_public_url_are_read(tmp_path) -> None:
    found = settings_for(
        tmp_path,
        ALLOWED_HOSTS="studio.example, localhost",
        STUDIO_PUBLIC_URL="https://studio.example/",
        STUDIO_PROMPT_LIMIT="2500",
    )
    assert found["hosts"] == ["studio.example", "localhost"]
    assert found["public_url"] == "https://studio.example"
    assert found["limits"]["prompt"] == 2500


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("STUDIO_PROMPT_LIMIT", "lots"),
        ("STUDIO_KLING_V3_ALL_DURATIONS", "sometimes"),
        ("STUDIO_SIM_STRICT", "very"),
    ],
)
def test_a_bad_value_refuses_to_start_with_the_variable_named(tmp_path, name, value) -> None:
    done = load(tmp_path, **{name: value})
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert name in done.stderr
