"""Needs attention (docs/reliability.md R57): a create whose outcome repeated lookups cannot
settle stops being sent, shows why on its page, cards and History, and waits for an admin,
who marks it failed or retries it deliberately (audited). Faults come from the simulator:
`lose_creates` (every create answers 504 and makes nothing) and `lookups_fail` (every lookup
by external_task_id answers 500), over real HTTP in-process and with a real worker."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from studio.generations import pipeline
from studio.generations.models import Generation, Status
from studio.review.models import AuditEntry
from tests.drive import drive, make_due, params, sweep
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def submit_until_it_stops(row: Generation, tries: int = 10) -> Generation:
    """Submit attempts as the worker makes them, each after its backoff, until the row
    leaves queued (or `tries` run out)."""
    for _ in range(tries):
        make_due(row)
        pipeline.submit(row.pk)
        row.refresh_from_db()
        if row.status != Status.QUEUED:
            break
    return row


@pytest.fixture
def lost(upstream, queue, settings, owner) -> Generation:
    """The owner's generation whose creates never come back: it needs attention."""
    settings.STUDIO_RECONCILE_LOOKUPS = 3
    upstream.config.lose_creates = True
    row = pipeline.create_generation(owner, params("A heron over a lost gateway"))
    return submit_until_it_stops(row)


def test_creates_lost_on_the_way_need_attention_after_three_empty_lookups(lost, upstream):
    assert lost.status == Status.NEEDS_ATTENTION
    assert lost.lookup_attempts == 3
    assert lost.submit_uncertain and lost.error_code == "unreconciled"
    assert "could not find out whether this video was created upstream" in lost.status_msg
    assert "3 lookups by its id found nothing" in lost.status_msg
    assert "not sent again on a guess" in lost.status_msg
    assert lost.events.last().status == Status.NEEDS_ATTENTION
    stats = upstream.stats()
    # Three creates reached the upstream (each looked up first), none made a task; then no more.
    assert stats["create_attempts_by_external_id"] == {lost.external_task_id: 3}
    assert stats["creates"] == 0
    make_due(lost)
    assert pipeline.submit(lost.pk) is False
    assert sweep().claimed == 0
    assert upstream.stats()["create_attempts_by_external_id"] == {lost.external_task_id: 3}


def test_a_create_that_landed_but_cannot_be_looked_up_is_never_sent_again(
    upstream, queue, settings
):
    settings.STUDIO_RECONCILE_LOOKUP_FAILURES = 4
    upstream.config.lookups_fail = True
    row = pipeline.create_generation(make_user(), params("A fox #ambiguous-504"))
    row = submit_until_it_stops(row)

    assert row.status == Status.NEEDS_ATTENTION
    assert row.lookup_failures == 4 and row.lookup_attempts == 0
    assert "4 lookups by its id failed" in row.status_msg and "HTTP 500" in row.status_msg
    assert upstream.create_count(row.external_task_id) == 1
    assert upstream.stats()["create_attempts_by_external_id"] == {row.external_task_id: 1}


def test_it_shows_on_the_generation_page_the_queue_card_and_history(lost, client):
    page = client.get(lost.get_absolute_url()).content.decode()
    assert "Needs attention:" in page and "not sent again on a guess" in page
    assert "An admin decides whether to retry it or mark it failed" in page
    studio = client.get("/").content.decode()  # the queue's cards
    card = studio[studio.index(f'id="gen-{lost.pk}"') :]
    card = card[: card.index("</article>")]
    assert "badge-attention" in card and "Needs attention: " in card
    assert "An admin decides" in card
    tiles = client.get("/history/").content.decode()
    assert "badge-attention" in tiles and "An admin decides" in tiles
    rows = client.get("/history/?view=list").content.decode()
    assert "Needs attention" in rows and "not sent again on a guess" in rows  # its title


def test_an_admin_sees_the_way_to_decide(lost, client, admin):
    from tests.factories import make_generation

    make_generation(admin, prompt="an unrelated finished one", status=Status.SUCCEEDED)
    client.force_login(admin)
    page = client.get(lost.get_absolute_url()).content.decode()
    assert "/admin/generations/generation/?status__exact=attention" in page
    link = re.search(r'href="(/admin/generations/generation/\?[^"]+)"', page)[1]
    listing = client.get(link.replace("&amp;", "&")).content.decode()
    assert lost.prompt in listing and "retry_attention" in listing and "fail_attention" in listing
    assert "an unrelated finished one" not in listing
    assert "1 generation waits for an admin" in client.get("/ops/health/").content.decode()


def test_an_admin_marks_it_failed_and_that_is_audited(lost, client, admin, upstream):
    client.force_login(admin)
    url = "/admin/generations/generation/"
    client.post(url, {"action": "fail_attention", "_selected_action": [lost.pk]})
    lost.refresh_from_db()
    assert lost.status == Status.FAILED and lost.error_code == "attention_failed"
    assert "Marked failed by an admin" in lost.status_msg
    entry = AuditEntry.objects.get(action="admin.action.fail_attention")
    assert entry.actor == admin and str(lost.pk) in str(entry.after)
    assert upstream.stats()["create_attempts_by_external_id"] == {lost.external_task_id: 3}


def test_an_admin_retries_it_deliberately_and_it_finishes_with_one_create(
    lost, client, admin, upstream, queue, django_capture_on_commit_callbacks
):
    upstream.config.lose_creates = False  # the gateway works again
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/generations/generation/",
            {"action": "retry_attention", "_selected_action": [lost.pk]},
        )
    lost.refresh_from_db()
    assert lost.status == Status.QUEUED and lost.submit_uncertain
    assert lost.lookup_attempts == 0 and lost.lookup_failures == 0
    assert ("submit", (str(lost.pk),)) in queue
    assert f"Retried by {admin.get_username()}" in lost.events.last().note
    assert AuditEntry.objects.filter(action="admin.action.retry_attention").exists()
    drive(lost)  # looks it up once more (nothing), then sends it with the same id
    assert lost.status == Status.SUCCEEDED
    assert upstream.create_count(lost.external_task_id) == 1
    assert upstream.create_count() == 1


def test_only_admins_may_decide(lost, reviewer, owner):
    browser = Client()
    browser.force_login(reviewer)
    url = "/admin/generations/generation/"
    listing = browser.get(url).content.decode()
    assert "fail_attention" not in listing and "retry_attention" not in listing
    browser.post(url, {"action": "fail_attention", "_selected_action": [lost.pk]})
    browser.force_login(owner)
    assert browser.get(url).status_code in (302, 403)
    lost.refresh_from_db()
    assert lost.status == Status.NEEDS_ATTENTION


# ------------------------------------------------------------------ with a real worker


@pytest.fixture
def system_env() -> dict[str, str]:
    return {"STUDIO_RECONCILE_LOOKUPS": "2", "STUDIO_POLL_MIN_SECONDS": "0.2"}


def test_a_real_worker_stops_resending_lost_creates_and_an_admin_retry_finishes_them(system):
    system.start_simulator("--processing-after", "0.2", "--finish-after", "0.5", "--fps", "2")
    system.manage("migrate", "-v0")
    system.sim_config(lose_creates=True)
    system.start_worker()
    ids = system.create([f"lost {n}: a lantern over a canyon" for n in range(3)])

    def all_waiting() -> bool:
        return system.statuses() == {"attention": 3}

    system.wait(all_waiting, 120, "every generation to need attention")
    attempts = system.sim_stats()["create_attempts_by_external_id"]
    assert sorted(attempts.values()) == [2, 2, 2]  # two creates each, then they stopped
    assert system.sim_stats()["creates"] == 0

    system.sim_config(lose_creates=False)
    script = (
        "from studio.generations import pipeline\n"
        "from studio.generations.models import Generation\n"
        f"for row in Generation.objects.filter(pk__in={ids!r}):\n"
        "    assert row.retry_after_attention(None)\n"
        "    pipeline.enqueue('submit', str(row.pk))\n"
    )
    system.manage("shell", "-c", script)
    system.wait(system.all_final, 120, "the retried generations to finish")
    assert system.statuses() == {"succeeded": 3}
    system.assert_one_create_each()


def test_it_stays_in_the_studio_queue_behind_newer_videos(lost, client, owner):
    from studio.composer.views import QUEUE_SIZE
    from tests.factories import make_generation

    for n in range(QUEUE_SIZE + 2):
        make_generation(owner, prompt=f"newer {n}", status=Status.SUCCEEDED)
    assert f'id="gen-{lost.pk}"' in client.get("/").content.decode()
