"""The upstream's callbacks: a good token makes the row due now; anything else changes nothing."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from studio.generations import pipeline
from studio.generations.models import Generation, Status
from tests.drive import submitted
from tests.factories import make_generation, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)  # anonymous, and CSRF is on: as the upstream


def hook(row_or_pk, token: str | None = None) -> str:
    pk = getattr(row_or_pk, "pk", row_or_pk)
    return f"/hooks/kling/{pk}/{token or pipeline.callback_token(pk)}/"


def processing(owner, **kw) -> Generation:
    later = timezone.now() + timedelta(seconds=20)
    fields = {"status": Status.PROCESSING, "task_id": "880000000000000123", "next_poll_at": later}
    return make_generation(owner, **{**fields, **kw})


def snapshot(row: Generation) -> dict:
    return Generation.objects.filter(pk=row.pk).values().get()


def callback_body(**kw) -> str:
    body = {"task_id": "880000000000000123", "task_status": "processing", **kw}
    return json.dumps(body)


def test_a_good_token_makes_the_row_due_now_and_starts_a_sweep(csrf_client, queue):
    row = processing(make_user())
    before = snapshot(row)

    response = csrf_client.post(hook(row), callback_body(), content_type="application/json")

    assert response.status_code == 200
    after = snapshot(row)
    assert after["next_poll_at"] <= timezone.now()
    assert {k: v for k, v in after.items() if k != "next_poll_at"} == {
        k: v for k, v in before.items() if k != "next_poll_at"
    }
    assert queue == [("sweep", ())]


def test_the_token_is_an_hmac_of_the_generation_id(settings):
    row_pk = "7d3f2c1e-0000-4000-8000-000000000000"
    token = pipeline.callback_token(row_pk)
    assert len(token) == 64
    settings.SECRET_KEY = "another-secret-key-" * 3
    assert pipeline.callback_token(row_pk) != token


@pytest.mark.parametrize("which", ["wrong", "other generation's", "empty-ish"])
def test_a_wrong_token_gets_404_and_changes_nothing(csrf_client, queue, which):
    owner = make_user()
    row = processing(owner)
    other = processing(owner)
    token = {
        "wrong": "0" * 64,
        "other generation's": pipeline.callback_token(other.pk),
        "empty-ish": "x",
    }[which]
    before = snapshot(row)

    response = csrf_client.post(hook(row, token), callback_body(), content_type="application/json")

    assert response.status_code == 404
    assert snapshot(row) == before
    assert queue == []


def test_an_unknown_generation_gets_404(csrf_client, queue):
    pk = "7d3f2c1e-0000-4000-8000-000000000000"
    response = csrf_client.post(hook(pk), callback_body(), content_type="application/json")
    assert response.status_code == 404
    assert queue == []


@pytest.mark.parametrize("status", [Status.SUCCEEDED, Status.FAILED])
def test_a_finished_generation_gets_404(csrf_client, queue, status):
    row = processing(make_user(), status=status, next_poll_at=None)
    before = snapshot(row)
    response = csrf_client.post(hook(row), callback_body(), content_type="application/json")
    assert response.status_code == 404
    assert snapshot(row) == before


def test_duplicate_callbacks_are_harmless(csrf_client, queue):
    row = processing(make_user())
    for _ in range(5):
        response = csrf_client.post(hook(row), callback_body(), content_type="application/json")
        assert response.status_code == 200
    row.refresh_from_db()
    assert row.status == Status.PROCESSING
    assert row.events.count() == 0
    assert row.next_poll_at <= timezone.now()


def test_the_body_is_never_trusted(csrf_client, queue):
    row = processing(make_user())
    forged = callback_body(
        task_status="succeed",
        task_result={"videos": [{"id": "v", "url": "http://169.254.169.254/latest/meta-data/"}]},
    )
    response = csrf_client.post(hook(row), forged, content_type="application/json")
    assert response.status_code == 200
    row.refresh_from_db()
    assert row.status == Status.PROCESSING
    assert row.result_url == ""
    assert row.upstream_status == ""


def test_only_post_is_accepted(csrf_client, queue):
    row = processing(make_user())
    before = snapshot(row)
    assert csrf_client.get(hook(row)).status_code == 405
    assert snapshot(row) == before


def test_a_body_over_64_kb_is_refused(csrf_client, queue):
    row = processing(make_user())
    before = snapshot(row)
    body = callback_body(task_status_msg="x" * 70_000)
    response = csrf_client.post(hook(row), body, content_type="application/json")
    assert response.status_code == 413
    assert snapshot(row) == before


def test_a_queued_row_is_not_hurried(csrf_client, queue):
    """Only a submitted or processing row is polled; a queued one may be backing off."""
    row = processing(make_user(), status=Status.QUEUED, task_id="")
    before = snapshot(row)
    response = csrf_client.post(hook(row), callback_body(), content_type="application/json")
    assert response.status_code == 200
    assert snapshot(row) == before


def test_the_token_never_reaches_the_logs(csrf_client, queue, caplog):
    caplog.set_level("DEBUG")
    row = processing(make_user())
    done = processing(make_user("done"), status=Status.SUCCEEDED, next_poll_at=None)
    good = pipeline.callback_token(row.pk)
    csrf_client.post(hook(row), callback_body(), content_type="application/json")
    csrf_client.post(hook(row, "f" * 64), callback_body(), content_type="application/json")
    csrf_client.post(hook(done), callback_body(), content_type="application/json")
    assert good not in caplog.text
    assert "f" * 64 not in caplog.text
    assert pipeline.callback_token(done.pk) not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_simulator_calls_back_and_the_row_becomes_due(upstream, queue, live_server, settings):
    settings.STUDIO_PUBLIC_URL = live_server.url
    settings.POLL_MIN_SECONDS = 60  # so only the callback can make it due soon
    row = submitted()
    assert row.next_poll_at > timezone.now() + timedelta(seconds=50)

    deadline = time.monotonic() + 5
    while row.next_poll_at > timezone.now():  # `processing` comes after 0.2 s, then a POST
        assert time.monotonic() < deadline, "no callback arrived"
        time.sleep(0.05)
        row.refresh_from_db()
    assert row.status == Status.SUBMITTED  # the callback said processing; only a poll moves it


@pytest.mark.parametrize("cut", ["one character", "all but the last", "one more"])
def test_no_prefix_or_extension_of_the_token_is_accepted(csrf_client, queue, cut):
    """The whole token is compared (hmac.compare_digest): a `startswith` check let a
    one-character token through."""
    row = processing(make_user())
    good = pipeline.callback_token(row.pk)
    token = {"one character": good[:1], "all but the last": good[:-1], "one more": good + "0"}
    before = snapshot(row)
    body = callback_body()
    response = csrf_client.post(hook(row, token[cut]), body, content_type="application/json")
    assert response.status_code == 404
    assert snapshot(row) == before and queue == []


# ------------------------------------------------------------------ the per-address rate limit


def test_an_address_over_the_rate_limit_gets_429_with_retry_after(csrf_client, queue, settings):
    settings.STUDIO_WEBHOOK_RATE_LIMIT = 3
    settings.STUDIO_WEBHOOK_RATE_WINDOW = 60
    row = processing(make_user())
    answers = [
        csrf_client.post(hook(row), callback_body(), content_type="application/json")
        for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert 1 <= int(answers[3]["Retry-After"]) <= 60
    assert str(row.pk) not in answers[3].content.decode()
    # Refused before anything is read: a wrong token from that address is 429 too.
    assert (
        csrf_client.post(hook(row, "0" * 64), "{}", content_type="application/json").status_code
        == 429
    )
    # Another address is counted on its own.
    other = csrf_client.post(
        hook(row), callback_body(), content_type="application/json", REMOTE_ADDR="203.0.113.9"
    )
    assert other.status_code == 200


def test_the_limit_counts_per_window_and_behind_a_proxy_per_client(csrf_client, queue, settings):
    settings.STUDIO_WEBHOOK_RATE_LIMIT = 2
    settings.STUDIO_WEBHOOK_RATE_WINDOW = 3
    settings.AXES_IPWARE_PROXY_COUNT = 1
    row = processing(make_user())

    def post(client_address: str) -> int:
        return csrf_client.post(
            hook(row),
            callback_body(),
            content_type="application/json",
            HTTP_X_FORWARDED_FOR=f"10.9.9.9, {client_address}",
        ).status_code

    time.sleep(3 - time.time() % 3 + 0.05)  # start at the beginning of a window
    assert [post("198.51.100.7") for _ in range(3)] == [200, 200, 429]
    assert post("198.51.100.8") == 200  # the proxy's own address is not what counts
    time.sleep(3 - time.time() % 3 + 0.05)  # the next window
    assert post("198.51.100.7") == 200


def test_the_counts_take_bounded_memory(settings, queue):
    from django.core.cache import caches
    from django.test import override_settings

    from studio.generations.webhooks import over_limit

    small = {
        **settings.CACHES,
        "webhooks": {**settings.CACHES["webhooks"], "OPTIONS": {"MAX_ENTRIES": 100}},
    }
    with override_settings(CACHES=small):
        for n in range(5000):
            over_limit(f"2001:db8::{n:x}")
        assert len(caches["webhooks"]._cache) <= 100
