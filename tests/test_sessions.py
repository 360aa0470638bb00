"""Signed-in requests read their session and user with plain SQL (studio/accounts/
sessions.py, StudioModelBackend.get_user): the same answers as Django's own reads. An
expired session, a deactivated or deleted account or a session naming no account signs
the person out; nothing else does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.models import Session
from django.shortcuts import resolve_url
from django.utils import timezone

from studio.accounts.backends import StudioModelBackend
from studio.composer.views import to_cursor
from tests.factories import HTMX

pytestmark = pytest.mark.django_db


def poll(client):
    since = to_cursor(timezone.now())
    return client.get("/queue/updates/", {"since": since}, **HTMX)


def signed_out(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(
        resolve_url(settings.LOGIN_URL)
    )


def only_session() -> Session:
    (session,) = Session.objects.all()
    return session


def test_the_studio_reads_sessions_with_its_own_engine() -> None:
    assert settings.SESSION_ENGINE == "studio.accounts.sessions"


def test_a_live_session_keeps_its_person_signed_in(client, owner) -> None:
    assert poll(client).status_code in (200, 286)
    assert client.get("/history/").context["user"] == owner


def test_an_expired_session_signs_out(client, owner) -> None:
    assert not signed_out(poll(client))
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert signed_out(poll(client))


def test_a_session_about_to_expire_still_counts(client, owner) -> None:
    Session.objects.update(expire_date=timezone.now() + timedelta(seconds=30))
    assert not signed_out(poll(client))


def test_another_key_finds_nothing(client, owner) -> None:
    client.cookies[settings.SESSION_COOKIE_NAME] = only_session().session_key[:-1] + "x"
    assert signed_out(poll(client))


@pytest.mark.parametrize("change", ["deactivate", "delete", "unknown id"])
def test_a_session_without_an_active_account_signs_out(client, owner, change) -> None:
    if change == "deactivate":
        get_user_model().objects.filter(pk=owner.pk).update(is_active=False)
    elif change == "delete":
        owner.delete()
    else:
        session = client.session
        session[SESSION_KEY] = str(owner.pk + 1000)
        session.save()
    assert signed_out(poll(client))


def test_the_user_read_is_the_orm_s(owner) -> None:
    owner.last_login = timezone.now()
    owner.save()
    found = StudioModelBackend().get_user(str(owner.pk))
    expected = get_user_model().objects.get(pk=owner.pk)
    fields = [f.attname for f in get_user_model()._meta.concrete_fields]
    assert [getattr(found, f) for f in fields] == [getattr(expected, f) for f in fields]
    assert timezone.is_aware(found.last_login) and timezone.is_aware(found.date_joined)
    assert found._state.adding is False and found._state.db == "default"


def test_a_key_with_no_live_session_is_not_kept() -> None:
    """As Django's store: an unknown key is dropped, so saving makes a fresh one (no one
    can choose the key of a session they are then given)."""
    from studio.accounts.sessions import SessionStore

    store = SessionStore("a-key-nobody-was-given")
    assert store.load() == {}
    assert store.session_key is None
    store["x"] = 1
    store.save()
    assert store.session_key not in (None, "a-key-nobody-was-given")
