"""Issue 12, 3: archive. A finished video is archived from its History tile and leaves the
list; the Archived filter shows it with Unarchive, which brings it back; a queue card is
archived in place too. axe finds nothing serious or critical in the new states."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, log_in
from tests.browser.test_accessibility import serious

pytestmark = pytest.mark.browser


def finished_card(page, prompt: str):
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Prompt").press("Control+Enter")
    card = page.locator(".card", has_text=prompt)
    expect(card).to_have_class(re.compile(r"\bis-succeeded\b"), timeout=40_000)
    return card


def test_archive_from_a_tile_the_archived_filter_and_unarchive(page, stack) -> None:
    log_in(page, stack)
    token = uuid.uuid4().hex[:6]  # the session's other journeys make boats too
    prompt = f"A paper boat {token} drifting past the archive steps"
    older = f"A second paper boat {token}, older, under the archive bridge"
    finished_card(page, older)
    finished_card(page, prompt)
    card = finished_card(page, "A queue card that gets archived in place")

    # On the queue: the card goes at once, and the live region says where it went.
    card.get_by_role("button", name=re.compile("^Archive")).click()
    expect(card).to_have_count(0)
    expect(page.locator("#activity-announcer")).to_contain_text("Archived: A queue card")
    page.reload()
    expect(page.locator(".card", has_text="A queue card that gets archived")).to_have_count(0)

    page.goto(f"/history/?q={token}")
    tile = page.locator(".tile", has_text=prompt)
    expect(page.locator(".tile")).to_have_count(2)
    tile.get_by_role("button", name=re.compile("^Archive")).focus()
    page.keyboard.press("Enter")
    expect(tile).to_have_count(0)
    expect(page.locator("#activity-announcer")).to_contain_text("Archived: A paper boat")
    # The focus stays in the list: on the next tile's prompt, not the top of the page.
    expect(page.get_by_role("link", name=older)).to_be_focused()
    page.reload()
    expect(page.locator(".tile", has_text=prompt)).to_have_count(0)

    # The Archived filter shows it, marked, with Unarchive.
    page.get_by_label("Archived").select_option("only")
    page.get_by_role("button", name="Filter").click()
    tile = page.locator(".tile", has_text=prompt)
    expect(tile.locator(".badge-archived")).to_have_text("Archived")
    assert serious(page) == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "archived-filter.png"), caret="initial")
    tile.get_by_role("button", name=re.compile("^Unarchive")).click()
    expect(tile).to_have_count(0)  # no longer archived: out of this list
    expect(page.locator("#activity-announcer")).to_contain_text("Unarchived: A paper boat")

    page.goto(f"/history/?q={token}")
    expect(page.locator(".tile", has_text=prompt)).to_have_count(1)

    # The generation page: the form swaps in place, and axe is content with both states.
    page.locator(".tile", has_text=prompt).get_by_role("link", name=prompt).click()
    page.get_by_role("button", name=re.compile("^Archive")).click()
    expect(page.locator(".archive-form .badge-archived")).to_have_text("Archived")
    expect(page.locator("#detail-announcer")).to_contain_text("Archived: A paper boat")
    assert serious(page) == []
    page.get_by_role("button", name=re.compile("^Unarchive")).click()
    expect(page.get_by_role("button", name=re.compile("^Archive"))).to_be_visible()
