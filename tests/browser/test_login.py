"""The first journey: the printed admin signs in and lands on the studio."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def test_the_first_admin_signs_in_and_sees_the_studio(page, stack) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/"))
    log_in(page, stack)
    expect(page.get_by_role("navigation")).to_contain_text("Studio")
    expect(page.get_by_text(re.compile("Simulator mode"))).to_be_visible()
    expect(page.get_by_label("Prompt")).to_be_visible()


def test_a_wrong_password_is_refused_with_a_message(page, stack) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(stack.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name=re.compile("sign in|log in", re.I)).click()
    expect(page.locator("form")).to_contain_text(re.compile("correct username and password"))
    expect(page).to_have_url(re.compile(r"/login/"))
