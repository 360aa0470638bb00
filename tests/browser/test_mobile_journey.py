"""Issue 12, 8: the studio on a phone (390x844). After Generate the new card is in the
window, clear of the fixed Generate bar (and a wide window is not scrolled); the nav folds
into a menu that opens by keyboard and whose links navigate; the compare page keeps its
play/scrub bar in view with the videos; no main page is wider than the phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import MAIN_PAGES, log_in, screenshot
from tests.browser.test_accessibility import serious
from tests.browser.test_studio_reach_journey import PASSWORD, add_creator_with_queue

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}

# The element is on screen and not under the fixed Generate bar at the bottom (if any).
CLEAR_OF_BAR = """el => { const r = el.getBoundingClientRect();
  const bar = document.querySelector('.composer > .budget');
  const fixed = bar && getComputedStyle(bar).position === 'fixed';
  const bottom = fixed ? bar.getBoundingClientRect().top : innerHeight;
  return r.height > 0 && r.top >= 0 && r.bottom <= bottom; }"""
IN_WINDOW = """el => { const r = el.getBoundingClientRect();
  return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight
    && r.left >= 0 && r.right <= innerWidth; }"""


def generate(page, prompt: str, ratio: str = "16:9"):
    form = page.locator("#generate-form")
    form.get_by_label("Prompt").fill(prompt)
    form.get_by_label("Aspect ratio").select_option(ratio)
    form.locator(".generate-row button").click()
    card = page.locator(".card", has_text=prompt)
    expect(card).to_have_count(1)
    return card


def test_the_new_card_is_in_view_after_generate_on_a_phone(page, stack) -> None:
    add_creator_with_queue(stack, "pocket_maker", 3)
    page.set_viewport_size(PHONE)
    log_in(page, stack, "pocket_maker", PASSWORD)
    assert page.evaluate("scrollY") == 0
    queue = page.locator("#queue-list")
    assert not queue.evaluate(CLEAR_OF_BAR), "the queue was in view before: nothing to prove"
    card = generate(page, "A paper boat on a puddle, seen on a phone")
    page.wait_for_function(CLEAR_OF_BAR, arg=card.element_handle(), timeout=5_000)
    page.wait_for_timeout(600)  # a smooth scroll has ended: still in view, not past it
    assert card.evaluate(CLEAR_OF_BAR)


def test_a_wide_window_is_not_scrolled_by_generate(page, stack) -> None:
    add_creator_with_queue(stack, "desk_maker", 12)
    log_in(page, stack, "desk_maker", PASSWORD)
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_timeout(100)
    assert page.evaluate("scrollY") > 0
    # What the window shows stays where it is (the page may grow above it by the new card).
    oldest = page.locator("#queue-list .card").last
    before = oldest.evaluate("el => el.getBoundingClientRect().top")
    assert oldest.evaluate(IN_WINDOW)
    generate(page, "A paper boat on a puddle, seen on a desk")
    page.wait_for_timeout(800)
    assert abs(oldest.evaluate("el => el.getBoundingClientRect().top") - before) < 2


def test_the_nav_folds_into_a_menu_that_opens_by_keyboard(page, stack) -> None:
    page.set_viewport_size(PHONE)
    log_in(page, stack)
    nav = page.get_by_role("navigation", name="Main")
    menu = nav.get_by_role("button", name="Menu")
    history = nav.get_by_role("link", name="History", exact=True)
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(history).to_be_hidden()
    header = page.locator(".site-header nav").bounding_box()
    assert header["height"] < 100, header  # one row: the name and the button
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(history).to_be_visible()
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    assert history.evaluate(IN_WINDOW)
    assert not serious(page), serious(page)  # axe on the open menu, light and dark
    page.emulate_media(color_scheme="dark")
    assert not serious(page), serious(page)
    page.emulate_media(color_scheme="light")
    screenshot(page, "menu-390.png", readme="menu-390.png")
    page.keyboard.press("Tab")  # the first link follows the button
    expect(nav.get_by_role("link", name="Studio", exact=True)).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    expect(history).to_be_hidden()
    page.keyboard.press("Space")
    expect(history).to_be_visible()
    history.click()
    expect(page).to_have_url(re.compile(r"/history/$"))
    expect(nav.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")

    page.set_viewport_size({"width": 1280, "height": 900})  # a wide window: no menu
    expect(menu).to_be_hidden()
    expect(nav.get_by_role("link", name="Library", exact=True)).to_be_visible()


PHONE_PAGES = [*MAIN_PAGES, "/ops/health/", "/review/shares/"]


def test_compare_keeps_its_bar_with_the_videos_and_no_page_overflows(page, stack) -> None:
    page.set_viewport_size(PHONE)
    log_in(page, stack)
    tall = [generate(page, f"A tall reed sways, take {n}, on a phone", "9:16") for n in (1, 2)]
    for card in tall:
        expect(card).to_have_class(re.compile(r"\bis-succeeded\b"), timeout=40_000)
    details = [
        card.get_by_role("link", name=re.compile("A tall reed")).get_attribute("href")
        for card in tall
    ]
    ids = [url.strip("/").split("/")[-1] for url in details]
    page.goto(f"/compare/?ids={ids[0]},{ids[1]}")
    bar = page.locator("[data-sync-controls]")
    expect(bar).to_be_visible()
    videos = page.locator("video[data-sync]")
    expect(videos).to_have_count(2)
    for part in (
        videos.nth(0),
        videos.nth(1),
        bar.get_by_role("button", name="Play all"),
        bar.get_by_label("Position of all videos"),
    ):
        assert part.evaluate(IN_WINDOW), part
    bar.get_by_role("button", name="Play all").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('video[data-sync]')].every(v => !v.paused)"
    )
    screenshot(page, "compare-390.png")

    for url in [*PHONE_PAGES, details[0], f"/compare/?ids={ids[0]},{ids[1]}", f"/review/{ids[0]}/"]:
        page.goto(url)
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= 390, f"{url} is {width} px wide on a 390 px phone"
