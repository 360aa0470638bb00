"""Issue 12, 7: what the studio shows is in people's words. A job with a simple zoom shows
"just now" on its card; compare says "Zoom +5", not JSON; the generation page's request body
wraps inside its box on a phone and can be reached by keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def send(page, prompt: str, zoom: str = "") -> None:
    page.get_by_label("Model").select_option("kling-v1")
    page.get_by_label("Mode", exact=True).select_option("std")
    page.get_by_label("Duration").select_option("5")
    page.get_by_label("Movement").select_option("simple" if zoom else "")
    if zoom:
        page.get_by_label("Zoom").fill(zoom)
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Prompt").press("Control+Enter")
    expect(page.locator(".card", has_text=prompt[:40])).to_have_count(1)


def test_parameters_read_in_words(page, stack) -> None:
    log_in(page, stack)
    send(page, "A lighthouse, the camera zooms in " + "slowly " * 40, zoom="5")
    send(page, "A lighthouse, the camera stays")
    zoomed = page.locator(".card", has_text="the camera zooms in")
    expect(zoomed.locator("time")).to_have_text("just now")
    for text in ("zooms in", "stays"):
        card = page.locator(".card", has_text=text)
        expect(card).to_have_class(re.compile(r"\bis-succeeded\b"), timeout=40_000)
        card.get_by_role("button", name="Add to compare").click()
    page.locator("[data-compare-tray]").get_by_role("link").click()
    row = page.locator("tr", has_text="Camera control")
    expect(row).to_contain_text("Zoom +5")
    expect(row).to_contain_text("none")
    expect(row).not_to_contain_text("config")

    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name=re.compile("the camera zooms in")).click()
    body = page.locator("pre.json")
    assert body.evaluate("b => b.scrollWidth <= b.clientWidth + 1"), (
        "the request body does not wrap"
    )
    body.focus()
    expect(body).to_be_focused()
