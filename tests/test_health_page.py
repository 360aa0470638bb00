"""The admins' health page and `/healthz?deep=1` (docs/reliability.md R53-R55): each check red
outside its bound with the reason, admins only, and, with a real worker, red while the worker
is stopped and green again once it is back."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from studio.generations import vitals
from studio.generations.models import Status
from studio.ops.models import Backup
from tests.factories import HTMX, make_generation
from tests.system import running, sign_in

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"


def beat(seconds_ago: float = 0, **fields) -> vitals.WorkerHeartbeat:
    heart = vitals.WorkerHeartbeat(name="quiet-heron", host="worker-1", pid=4242, **fields)
    heart.beat()
    when = timezone.now() - timedelta(seconds=seconds_ago)
    vitals.WorkerHeartbeat.objects.filter(cluster=heart.cluster).update(seen_at=when)
    return heart


def row(html: str, title: str) -> str:
    found = re.search(
        rf'<tr class="(health-row-\w+)" data-check="{re.escape(title)}">(.*?)</tr>', html, re.S
    )
    assert found, f"no {title} row"
    return found.group(1) + found.group(2)


@pytest.fixture
def admin_client(admin) -> Client:
    browser = Client()
    browser.force_login(admin)
    return browser


def page(admin_client: Client) -> str:
    response = admin_client.get("/ops/health/")
    assert response.status_code == 200
    return response.content.decode()


# ------------------------------------------------------------------ who may see it


def test_only_admins_see_the_health_page_and_its_nav_link(client, owner, reviewer, outsider, admin):
    for person in (owner, reviewer, outsider):
        client.force_login(person)
        assert client.get("/ops/health/").status_code == 403
        assert 'href="/ops/health/"' not in client.get("/gallery/").content.decode()
    client.force_login(admin)
    assert client.get("/ops/health/").status_code == 200
    assert 'href="/ops/health/"' in client.get("/gallery/").content.decode()
    client.logout()
    assert client.get("/ops/health/").status_code == 302  # to the sign-in page


def test_the_checks_refresh_as_a_fragment(admin_client):
    response = admin_client.get("/ops/health/", headers={**HTMX, "HX-Target": "health-checks"})
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="health-checks"')
    assert "<h1>" not in html


# ------------------------------------------------------------------ the worker


def test_no_heartbeat_is_red_and_deep_healthz_says_503_without_details(admin_client):
    assert "health-row-red" in row(page(admin_client), "Worker heartbeat")
    answer = Client().get("/healthz?deep=1")
    assert answer.status_code == 503
    assert answer.content.startswith(b"worker down: no worker has reported")
    assert Client().get("/healthz").content == b"ok\n"  # the plain check is unchanged


def test_a_fresh_heartbeat_is_green_and_an_old_one_red_with_its_age(admin_client, settings):
    settings.STUDIO_HEALTH_WORKER_SECONDS = 60
    heart = beat(seconds_ago=5)
    html = page(admin_client)
    assert "health-row-ok" in row(html, "Worker heartbeat")
    assert "quiet-heron" in html and "worker-1, pid 4242" in html
    assert Client().get("/healthz?deep=1").status_code == 200

    vitals.WorkerHeartbeat.objects.filter(cluster=heart.cluster).update(
        seen_at=timezone.now() - timedelta(seconds=300)
    )
    worker = row(page(admin_client), "Worker heartbeat")
    assert "health-row-red" in worker
    assert "no worker seen for 300 s (the bound is 60 s)" in worker
    deep = Client().get("/healthz?deep=1")
    assert deep.status_code == 503
    assert b"no worker seen for 300 s" in deep.content
    assert b"worker-1" not in deep.content and b"4242" not in deep.content


def test_a_cleanly_stopped_worker_is_red_at_once(admin_client):
    beat().stop()
    worker = row(page(admin_client), "Worker heartbeat")
    assert "health-row-red" in worker
    assert "the worker stopped" in worker


# ------------------------------------------------------------------ the queue and the upstream


def test_an_overdue_row_and_stalled_rows_turn_red(admin_client, admin, settings):
    settings.STUDIO_HEALTH_DUE_SECONDS = 60
    beat()
    overdue = make_generation(
        admin,
        status=Status.PROCESSING,
        task_id="1",
        next_poll_at=timezone.now() - timedelta(minutes=10),
    )
    make_generation(admin, status=Status.PROCESSING, task_id="2", stalled=True)
    html = page(admin_client)
    due = row(html, "Oldest due generation")
    assert "health-row-red" in due and str(overdue.pk) in due
    assert "health-row-red" in row(html, "Stalled generations")


def test_the_error_rate_by_code_turns_red_above_its_bound(admin_client, settings):
    settings.STUDIO_HEALTH_ERROR_RATE = 0.2
    vitals.tally(vitals.POLL, Counter({"": 16, "5000": 3}))
    assert "health-row-ok" in row(page(admin_client), "Upstream errors (last hour)")
    vitals.tally(vitals.CREATE, Counter({"1302": 6}))
    html = page(admin_client)
    errors = row(html, "Upstream errors (last hour)")
    assert "health-row-red" in errors and "36% of 25 calls" in errors and "1302 ×6" in errors
    assert '<th scope="row">5000</th><td>3</td>' in html


def test_the_last_successful_poll_is_red_only_while_rows_wait_upstream(
    admin_client, admin, settings
):
    settings.STUDIO_HEALTH_POLL_SECONDS = 60
    assert "health-row-ok" in row(page(admin_client), "Last successful poll")
    make_generation(
        admin,
        status=Status.SUBMITTED,
        task_id="9",
        submitted_at=timezone.now() - timedelta(minutes=5),
    )
    assert "health-row-red" in row(page(admin_client), "Last successful poll")
    vitals.tally(vitals.POLL, Counter({"": 1}))
    assert "health-row-ok" in row(page(admin_client), "Last successful poll")


def test_the_queue_depth_turns_red_above_its_bound(admin_client, settings):
    from django_q.brokers import get_broker

    from studio.ops import health

    broker = get_broker()
    settings.STUDIO_HEALTH_QUEUE_MAX = health._broker_size() + 1
    try:
        broker.enqueue("health-probe")
        assert "health-row-ok" in row(page(admin_client), "Task queue")
        broker.enqueue("health-probe")
        queue = row(page(admin_client), "Task queue")
        assert "health-row-red" in queue
        assert f"{settings.STUDIO_HEALTH_QUEUE_MAX + 1} waiting" in queue
    finally:
        if settings.REDIS_URL:  # the ORM broker's rows go with the test's transaction
            broker.connection.lrem(broker.list_key, 0, "health-probe")


# ------------------------------------------------------------------ disks and backups


def test_too_little_disk_free_is_red(admin_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.STUDIO_HEALTH_DISK_FREE_MB = 1
    assert "health-row-ok" in row(page(admin_client), "Disk free: media")
    settings.STUDIO_HEALTH_DISK_FREE_MB = 10**9  # a petabyte
    media = row(page(admin_client), "Disk free: media")
    assert "health-row-red" in media and "will fail to save" in media


def test_the_last_backup_is_red_when_missing_old_or_failed(admin_client, settings):
    settings.STUDIO_HEALTH_BACKUP_HOURS = 24
    assert "No backup has ever been made" in row(page(admin_client), "Last backup")
    Backup.objects.create(ok=True, path="/backups/studio-backup-x", finished_at=timezone.now())
    assert "health-row-ok" in row(page(admin_client), "Last backup")
    Backup.objects.update(finished_at=timezone.now() - timedelta(hours=30))
    Backup.objects.create(ok=False, message="disk full", finished_at=timezone.now())
    backup = row(page(admin_client), "Last backup")
    assert "health-row-red" in backup and "older than 24 hours" in backup and "disk full" in backup


# ------------------------------------------------------------------ a real worker


@pytest.fixture
def system_env() -> dict[str, str]:
    return {"STUDIO_HEARTBEAT_SECONDS": "0.5", "STUDIO_HEALTH_WORKER_SECONDS": "4"}


@pytest.mark.django_db(transaction=True)
def test_the_page_goes_red_when_the_worker_stops_and_green_when_it_is_back(system):
    red_while_stopped(system)


@pytest.mark.skipif(
    not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
    reason="the PostgreSQL + Redis pass",
)
def test_on_postgres_and_redis_too(tmp_path, system_env):
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = f"studio_health_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        database = f"{url.rsplit('/', 1)[0]}/{name}"
        options = {"database_url": database, "redis_url": os.environ["REDIS_URL"]}
        with running(tmp_path / "data", **options, **system_env) as system:
            red_while_stopped(system)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def red_while_stopped(system) -> None:
    """Red before a worker runs, green with it, red through the bound after a SIGKILL,
    green again once another starts, and the job made meanwhile finishes."""
    system.start_simulator("--processing-after", "0.2", "--finish-after", "0.5")
    system.manage("migrate", "-v0")
    system.manage(
        "shell",
        "-c",
        "from tests.factories import make_user; "
        f"make_user('ada', roles=('admin',), password={PASSWORD!r})",
    )
    url = system.start_web()
    browser = sign_in(url, "ada", PASSWORD)

    def worker_row() -> str:
        return row(browser.get("/ops/health/").text, "Worker heartbeat")

    def green() -> bool:
        return "health-row-ok" in worker_row() and browser.get("/healthz?deep=1").status_code == 200

    def red() -> bool:
        return (
            "health-row-red" in worker_row() and browser.get("/healthz?deep=1").status_code == 503
        )

    assert red()  # no worker yet
    worker = system.start_worker()
    system.wait(green, 60, "the page to go green with the worker running")

    started = time.monotonic()
    worker.kill()  # SIGKILL: no chance to say it stopped; the bound decides
    system.wait(red, 30, "the page to go red after the worker was killed")
    assert time.monotonic() - started >= 2  # red through the bound, not at once
    assert "no worker seen for" in worker_row()
    [job] = system.create(["a heron while the worker is down"])

    system.start_worker("worker-again")
    system.wait(green, 60, "the page to go green again with the worker back")
    system.wait(system.all_final, 60, "the job made while it was down to finish")
    assert system.statuses() == {"succeeded": 1}
    clusters = browser.get("/ops/health/").text
    assert "health-row-ok" in row(clusters, "Oldest due generation")
    assert job not in clusters  # finished: no longer the oldest due row
    assert "silent (killed, or its machine is down)" in clusters and "running" in clusters
    browser.close()


def test_a_media_folder_not_made_yet_is_measured_on_its_disk(admin_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "not" / "yet"
    settings.STUDIO_HEALTH_DISK_FREE_MB = 1
    media = row(page(admin_client), "Disk free: media")
    assert "health-row-ok" in media and "GB free of" in media
