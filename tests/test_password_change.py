"""Everyone signed in changes their own password from the user menu, with Django's views."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import make_user

pytestmark = pytest.mark.django_db

OLD, NEW = "a-long-test-password", "lantern-harbour-9731"


def signed_in_with(username: str, password: str) -> Client:
    browser = Client()
    response = browser.post("/login/", {"username": username, "password": password})
    assert response.status_code == 302, "sign-in refused"
    return browser


def test_a_creator_changes_their_password_from_the_user_menu() -> None:
    make_user("cora")
    browser, elsewhere = signed_in_with("cora", OLD), signed_in_with("cora", OLD)
    assert 'href="/password/">Change password</a>' in browser.get("/").content.decode()
    page = browser.get("/password/")
    assert page.status_code == 200 and "Old password" in page.content.decode()
    response = browser.post(
        "/password/", {"old_password": OLD, "new_password1": NEW, "new_password2": NEW}
    )
    assert response.status_code == 302 and response["Location"] == "/password/done/"
    assert "Password changed" in browser.get("/password/done/").content.decode()
    assert browser.get("/").status_code == 200  # still signed in here
    assert elsewhere.get("/").status_code == 302  # other sessions signed out
    assert Client().post("/login/", {"username": "cora", "password": OLD}).status_code == 200
    signed_in_with("cora", NEW)


def test_a_wrong_old_password_or_a_weak_new_one_changes_nothing() -> None:
    make_user("cora")
    browser = signed_in_with("cora", OLD)
    wrong = browser.post(
        "/password/", {"old_password": "guess", "new_password1": NEW, "new_password2": NEW}
    )
    assert wrong.status_code == 200 and wrong.context["form"].errors["old_password"]
    weak = browser.post(
        "/password/", {"old_password": OLD, "new_password1": "cora", "new_password2": "cora"}
    )
    assert weak.status_code == 200 and weak.context["form"].errors["new_password2"]
    assert 'class="field has-error"' in weak.content.decode()
    signed_in_with("cora", OLD)


def test_signed_out_visitors_are_sent_to_sign_in() -> None:
    response = Client().get("/password/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
