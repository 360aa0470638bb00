"""The studio page's one poll: changed cards only, HTTP 286 when idle, constant cost."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from studio.composer.views import to_cursor
from studio.generations.models import Generation, Status
from tests.factories import HTMX, finish, make_generation, make_task

pytestmark = pytest.mark.django_db


def age(*generations: Generation, minutes: int = 60) -> None:
    """Pretend the rows were made and last changed a while ago."""
    past = timezone.now() - timedelta(minutes=minutes)
    Generation.objects.filter(pk__in=[g.pk for g in generations]).update(
        created_at=past, updated_at=past
    )


def poll(client, since: str, known: str | None = None):
    params = {"since": since}
    if known:
        params["known"] = known
    return client.get("/queue/updates/", params, **HTMX)


def card_ids(html: str) -> set[str]:
    return set(re.findall(r'<article id="gen-([0-9a-f-]+)"', html))


def test_only_cards_changed_since_the_cursor_come_back(client, owner) -> None:
    running = make_generation(owner, status="processing", prompt="Still running")
    quiet = make_generation(owner, status="submitted", prompt="Nothing new")
    done = make_generation(owner, status="succeeded", prompt="Long done")
    age(running, quiet, done)
    cursor = to_cursor(timezone.now() - timedelta(minutes=10))

    assert card_ids(poll(client, cursor).content.decode()) == set()

    running.refresh_from_db()
    video = make_task("succeed", video_url="https://cdn.example-kling.test/out/v.mp4")
    assert running.mark_storing(video, next_poll_at=timezone.now())
    response = poll(client, cursor)
    html = response.content.decode()
    assert response.status_code == 200
    assert card_ids(html) == {str(running.pk)}
    assert f'<article id="gen-{running.pk}" class="card is-storing" hx-swap-oob="true">' in html
    # The new cursor is the change's own time, and the change is announced.
    running.refresh_from_db()
    assert f'id="queue-since" name="since" value="{to_cursor(running.updated_at)}"' in html
    assert 'id="queue-announcer" hx-swap-oob="innerHTML">Storing: Still running.' in html


# "²" passed str.isdigit() and then int() refused it, and 19 nines reach past the year 9999:
# both were a 500 (found by tests/test_properties.py). Such a cursor means now.
@pytest.mark.parametrize("cursor", ["²", "٣٣", "9" * 19, "-1", " 1", "1.5", "9" * 20])
def test_a_cursor_that_is_no_moment_counts_as_now(client, owner, cursor: str) -> None:
    make_generation(owner, status=Status.PROCESSING)
    response = poll(client, cursor, cursor)
    assert response.status_code == 200
    assert card_ids(response.content.decode()) == card_ids(poll(client, "").content.decode())


def test_polling_stops_with_286_once_nothing_is_active(client, owner) -> None:
    generation = make_generation(owner, status="processing")
    age(generation)
    cursor = to_cursor(timezone.now() - timedelta(minutes=10))
    assert poll(client, cursor).status_code == 200

    generation.refresh_from_db()
    generation.mark_failed_upstream(
        make_task("failed", status_msg="content moderation did not pass")
    )
    response = poll(client, cursor)
    assert response.status_code == 286
    # The last change still arrives with the 286, so the card shows the outcome.
    assert card_ids(response.content.decode()) == {str(generation.pk)}
    assert "content moderation did not pass" in response.content.decode()


def test_an_idle_user_gets_286_at_once(client, owner) -> None:
    make_generation(owner, status="succeeded")
    assert poll(client, to_cursor(timezone.now())).status_code == 286


def test_other_peoples_changes_are_not_sent(client, owner, teammate) -> None:
    make_generation(owner, status="processing")
    stranger = make_generation(teammate, status="processing")
    response = poll(client, to_cursor(timezone.now() - timedelta(minutes=1)))
    assert str(stranger.pk) not in response.content.decode()


def test_admins_get_only_their_own_queue(client, admin, teammate) -> None:
    client.force_login(admin)
    make_generation(admin, status="processing")
    theirs = make_generation(teammate, status="processing")
    response = poll(client, to_cursor(timezone.now() - timedelta(minutes=1)))
    assert str(theirs.pk) not in response.content.decode()


def test_cards_made_after_the_page_was_drawn_are_left_to_the_page(client, owner) -> None:
    on_page = make_generation(owner, status="processing")
    age(on_page, minutes=5)
    known = to_cursor(timezone.now() - timedelta(minutes=1))
    elsewhere = make_generation(owner, status="queued")  # e.g. made in another tab
    on_page.refresh_from_db()
    finish(on_page)
    html = poll(client, to_cursor(timezone.now() - timedelta(minutes=2)), known).content.decode()
    assert card_ids(html) == {str(on_page.pk)}
    assert str(elsewhere.pk) not in html


def test_a_change_stamped_just_before_the_cursor_is_still_delivered(client, owner) -> None:
    # A worker may stamp updated_at, then wait for the write lock; its change can become
    # visible after a later-stamped one was already seen.
    late = make_generation(owner, status="processing")
    stamp = timezone.now() - timedelta(seconds=2)
    Generation.objects.filter(pk=late.pk).update(updated_at=stamp, status=Status.STORING)
    html = poll(client, to_cursor(stamp + timedelta(seconds=1))).content.decode()
    assert card_ids(html) == {str(late.pk)}
    assert "queue-announcer" not in html  # re-sent quietly, it was not new to the cursor


def test_a_missing_or_bad_cursor_is_harmless(client, owner) -> None:
    make_generation(owner, status="processing")
    assert client.get("/queue/updates/", {"since": "nonsense"}, **HTMX).status_code == 200
    assert client.get("/queue/updates/", **HTMX).status_code == 200


@pytest.mark.parametrize("rows", [10, 200])
def test_the_poll_costs_the_same_queries_whatever_the_history_size(client, owner, rows) -> None:
    # Every row changed recently: the answer carries them all, the query count stays put.
    for n in range(rows):
        make_generation(owner, status="processing" if n % 2 else "succeeded", prompt=f"p{n}")
    cursor = to_cursor(timezone.now() - timedelta(minutes=1))
    poll(client, cursor)  # the usual time of a kind of job is cached after the first (timing.py)
    with CaptureQueriesContext(connection) as queries:
        response = poll(client, cursor)
    assert response.status_code == 200
    assert len(card_ids(response.content.decode())) == rows
    # session, user, the role's permissions (one query), the changed ids, their cards,
    # which of them changed status (for the live region), the nav's counts (one statement
    # of two index lookups, activity.py); a running card among them answers "is anything
    # active?" without another query
    assert len(queries) == 7, [q["sql"] for q in queries]


@pytest.mark.parametrize("rows", [10, 300])
def test_a_poll_with_no_news_costs_five_queries_whatever_the_history_size(
    client, owner, rows
) -> None:
    for n in range(rows):
        make_generation(owner, status="processing" if n % 2 else "succeeded", prompt=f"p{n}")
    with CaptureQueriesContext(connection) as queries:
        response = poll(client, to_cursor(timezone.now() + timedelta(minutes=1)))
    assert response.status_code == 200
    assert card_ids(response.content.decode()) == set()
    # session, user, the role's permissions, the changed ids (none), "is anything active?"
    assert len(queries) == 5, [q["sql"] for q in queries]


def test_the_poll_is_login_only(client) -> None:
    response = client.get("/queue/updates/", **HTMX)
    assert response.status_code == 302


def test_an_old_cursor_gets_at_most_the_latest_changes(client, owner, monkeypatch) -> None:
    monkeypatch.setattr("studio.composer.views.QUEUE_MAX", 3)
    rows = [make_generation(owner, status="processing", prompt=f"p{n}") for n in range(5)]
    for n, row in enumerate(rows):  # distinct, increasing change times
        stamp = timezone.now() - timedelta(minutes=10 - n)
        Generation.objects.filter(pk=row.pk).update(updated_at=stamp)
    html = poll(client, to_cursor(timezone.now() - timedelta(days=30))).content.decode()
    assert card_ids(html) == {str(r.pk) for r in rows[2:]}


@pytest.mark.parametrize("running", [True, False])
def test_a_poll_with_no_news_answers_what_the_fragment_renders(client, owner, running) -> None:
    """No card changed: the answer is written without the template engine, and says
    exactly what the queue-updates fragment says with no cards, counts or news."""
    from django.template.loader import render_to_string

    age(make_generation(owner, status="processing" if running else "succeeded"))
    since = to_cursor(timezone.now() - timedelta(minutes=1))
    response = poll(client, since)
    assert response.status_code == (200 if running else 286)
    context = {"changed": [], "news": [], "since": since, "activity": None}
    fragment = render_to_string("composer/studio.html#queue-updates", context)
    assert response.content.decode().split() == fragment.split()
    assert f'id="queue-since" name="since" value="{since}" hx-swap-oob="true"' in fragment
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "Content-Security-Policy" in response and response["X-Frame-Options"] == "DENY"
