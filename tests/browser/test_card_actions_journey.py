"""Issue 12, 3: queue cards and history tiles carry their actions. Two finished cards are
picked for compare from the queue and compared; a card runs again without leaving the page;
a refused prompt's card offers Remix with its fix hint, which opens the form prefilled; a
History tile runs again too."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = pytest.mark.browser


def send(page, prompt: str) -> None:
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Prompt").press("Control+Enter")
    expect(page.locator(".card", has_text=prompt)).to_have_count(1)


def test_cards_compare_run_again_and_remix_a_failure(page, stack) -> None:
    log_in(page, stack)
    send(page, "A red kite over the dunes")
    send(page, "A blue kite over the sea")
    send(page, "A blocked kite #reject-1301")
    red, blue = (page.locator(".card", has_text=t) for t in ("A red kite", "A blue kite"))
    for card in (red, blue):
        expect(card).to_have_class(re.compile(r"\bis-succeeded\b"), timeout=40_000)

    # Add to compare: a tray counts the picks and opens the compare page.
    tray = page.locator("[data-compare-tray]")
    expect(tray).to_be_hidden()
    red.get_by_role("button", name="Add to compare").click()
    expect(tray).to_contain_text("Pick one more")
    blue.get_by_role("button", name="Add to compare").click()
    expect(blue.get_by_role("button", name="Add to compare")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(tray.get_by_role("link")).to_have_text("Compare 2 picked")
    ARTIFACTS.mkdir(exist_ok=True)
    # caret="initial": hiding the caret leaves style="" behind, which htmx copies (CSP)
    page.screenshot(path=str(ARTIFACTS / "card-actions.png"), caret="initial")
    tray.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/compare/\?ids="))
    expect(page.locator("video[data-sync]")).to_have_count(2)
    page.go_back()
    expect(tray.get_by_role("link")).to_have_text("Compare 2 picked")  # kept for the tab
    tray.get_by_role("button", name="Clear").click()
    expect(tray).to_be_hidden()

    # Run again from the card: the page shows the new job at the top and says so.
    red.get_by_role("button", name=re.compile("^Run again")).click()
    expect(page.locator(".messages")).to_contain_text("Queued again with the same parameters.")
    expect(page.locator(".card", has_text="A red kite")).to_have_count(2)
    expect(page.locator("#queue-list .card").first).to_contain_text("A red kite")

    # A failed card: its reason, the fix hint and Remix, which keeps the prompt.
    blocked = page.locator(".card", has_text="A blocked kite")
    expect(blocked).to_have_class(re.compile(r"\bis-failed\b"), timeout=40_000)
    expect(blocked.locator(".hint")).to_be_visible()
    blocked.get_by_role("link", name="Remix to fix it").click()
    expect(page.locator(".remix-note")).to_contain_text("Remixing")
    expect(page.get_by_label("Prompt")).to_have_value("A blocked kite #reject-1301")

    # History: the tile runs again as well, and the compare boxes still count.
    page.goto("/history/")
    tile = page.locator(".tile", has_text="A blue kite")
    tile.get_by_label("Compare").check()
    expect(page.locator("[data-compare-status]")).to_have_text("1 selected: tick at least two.")
    tile.get_by_role("button", name=re.compile("^Run again")).click()
    expect(page.locator(".messages")).to_contain_text("Queued again")
    expect(page.locator(".tile", has_text="A blue kite")).to_have_count(2)
