"""Issue 12, 4: the studio says when work is done, wherever you are. A job started on the
studio shows in the nav, the tab title and the favicon, its card counts the time; on History
its tile goes from running to playable by itself; when it finishes the nav lists it, the
title counts it, an opted-in browser notification says so, and the page's one poll stops."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Stack, log_in, screenshot

pytestmark = pytest.mark.browser

# Records what the page would show as notifications (the headless browser shows none).
FAKE_NOTIFICATION = """
window.__notes = [];
class FakeNotification {
  constructor(title, options) { window.__notes.push({title, body: options.body}); }
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
}
window.Notification = FakeNotification;
"""


PASSWORD = "a-long-activity-password"


def add_creator(stack: Stack, username: str) -> None:
    """A creator of their own: the nav counts only their jobs, not other journeys'."""
    code = (
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_user({username!r}, password={PASSWORD!r})\n"
    )
    stack.manage("shell", "-c", code)


def test_a_finished_job_is_announced_on_every_page(page, stack) -> None:
    page.add_init_script(FAKE_NOTIFICATION)
    polls: list[int] = []
    page.on("response", lambda r: "/activity/" in r.url and polls.append(r.status))
    add_creator(stack, "notified")
    log_in(page, stack, "notified", PASSWORD)
    nav = page.locator("#activity")
    prompt = "A heron waits in the reeds"
    httpx.post(f"{stack.simulator_url}/_sim/config", json={"finish_after": 12}).raise_for_status()
    try:
        page.get_by_label("Prompt").fill(prompt)
        page.get_by_label("Prompt").press("Control+Enter")
        card = page.locator(".card", has_text=prompt)
        expect(nav).to_contain_text("1 running", timeout=10_000)
        expect(page).to_have_title(re.compile(r"^\(1 running\) "))
        assert page.locator('link[rel="icon"]').get_attribute("data-badge") == "running-1"
        clock = card.locator("[data-clock]")
        first = clock.inner_text()
        page.wait_for_timeout(2_200)
        assert clock.inner_text() != first, "the card's clock does not tick"
        nav.get_by_role("button", name="Notify me when done").click()
        expect(nav.get_by_role("button", name="Notifications on")).to_be_visible()

        page.goto("/history/")
        tile = page.locator(".tile", has_text=prompt)
        expect(tile).to_have_class(re.compile(r"\bis-(queued|submitted|processing)\b"))
        expect(tile.locator("[data-clock]")).to_be_visible()
        expect(page).to_have_title(re.compile(r"^\(1 running\) History"))
    finally:
        httpx.post(f"{stack.simulator_url}/_sim/config", json={"finish_after": 3})
    # It finishes while History is open: the tile, the nav, the title and a notification.
    expect(tile).to_have_class(re.compile(r"\bis-succeeded\b"), timeout=40_000)
    expect(tile.get_by_role("button", name=f"Play: {prompt}")).to_be_visible()
    expect(nav).to_contain_text("1 finished")
    expect(nav.get_by_role("link", name=re.compile("A heron waits"))).to_be_visible()
    expect(page).to_have_title(re.compile(r"^\(1 done\) History"))
    page.wait_for_function("window.__notes.length === 1")
    assert page.evaluate("window.__notes") == [{"title": "Video ready", "body": prompt}]
    screenshot(page, "activity-history.png", readme="history-live.png")
    # The poll stopped with the 286, and nothing is notified twice.
    page.wait_for_timeout(7_000)
    assert polls and polls[-1] == 286 and polls.count(286) == 1, polls
    assert page.evaluate("window.__notes.length") == 1
    page.goto("/library/")  # a new page opened after: nothing new, no poll, no title count
    expect(page).to_have_title(re.compile(r"^Library"))
