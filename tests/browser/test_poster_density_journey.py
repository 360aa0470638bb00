"""Issue 12, 2: posters sharp on high-density screens. In Debian's chromium at
deviceScaleFactor 2 a tile's <img> loads the 2x poster from its srcset; at 1 it loads the
1x, on the studio's queue and on History, each through the studio's access-checked media
path. (What the pages render: tests/test_posters.py.)"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = pytest.mark.browser

LOADED = "i => i.complete && i.naturalWidth > 0 && !!i.currentSrc"


def poster_of(page, prompt: str):
    return page.locator(".card, .tile", has_text=prompt).locator("[data-inline-video] img")


def picked(page, prompt: str) -> str:
    img = poster_of(page, prompt)
    expect(img).to_have_count(1, timeout=40_000)
    img.scroll_into_view_if_needed()
    page.wait_for_function(LOADED, arg=img.element_handle(), timeout=15_000)
    return img.evaluate("i => new URL(i.currentSrc).pathname")


@pytest.mark.parametrize(("scale", "name"), [(2, "poster.jpg"), (1, "poster-1x.jpg")])
def test_the_browser_loads_the_poster_for_its_pixel_density(browser, stack, scale, name) -> None:
    context = browser.new_context(
        base_url=stack.url, viewport={"width": 1280, "height": 900}, device_scale_factor=scale
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    try:
        log_in(page, stack)
        assert page.evaluate("devicePixelRatio") == scale
        prompt = f"A lighthouse beam sweeping the fog at {scale}x"
        page.get_by_label("Prompt").fill(prompt)
        page.get_by_label("Prompt").press("Control+Enter")
        expect(page.locator(".card", has_text=prompt)).to_have_count(1)
        path = picked(page, prompt)
        assert re.fullmatch(rf"/generations/[0-9a-f-]{{36}}/{re.escape(name)}", path), path
        srcset = poster_of(page, prompt).get_attribute("srcset")
        assert "poster-1x.jpg 1x" in srcset and "poster.jpg 2x" in srcset
        page.goto("/history/")
        assert picked(page, prompt).endswith(f"/{name}")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"poster-density-{scale}x.png"))
    finally:
        context.close()
    assert not problems, f"browser console errors: {problems}"
