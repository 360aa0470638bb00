"""Issue 12, 2: results play where they appear. Queue cards, history tiles and the batch page
play their video in place (click; a muted preview under a hovering mouse), one at a time, in
the video's own shape, and a card updated by the queue's poll keeps playing. On a phone
(390x844) a tap plays it."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = pytest.mark.browser

PLAYING = (
    "b => { const v = b.querySelector('video'); return !!v && !v.paused && v.currentTime > 0.2; }"
)


def make_video(page, prompt: str, ratio: str) -> None:
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Aspect ratio").select_option(ratio)
    page.get_by_label("Prompt").press("Control+Enter")
    expect(page.locator(".card", has_text=prompt)).to_have_count(1)


def box_of(page, prompt: str):
    return page.locator(".card, .tile", has_text=prompt).locator("[data-inline-video]")


def size(locator) -> tuple[float, float]:
    found = locator.bounding_box()
    return found["width"], found["height"]


def test_results_play_in_place_one_at_a_time_in_their_shape(page, stack) -> None:
    log_in(page, stack)
    make_video(page, "A tall lighthouse in a storm", "9:16")
    make_video(page, "A wide harbour at dusk", "16:9")
    make_video(page, "A square buoy in the fog", "1:1")
    for prompt in ("A tall lighthouse", "A wide harbour", "A square buoy"):
        expect(box_of(page, prompt)).to_have_count(1, timeout=40_000)
    width, height = size(box_of(page, "A tall lighthouse"))
    assert height > 1.6 * width, (width, height)  # 9:16, not letterboxed into 16:9
    width, height = size(box_of(page, "A wide harbour"))
    assert width > 1.6 * height, (width, height)
    width, height = size(box_of(page, "A square buoy"))
    assert abs(width - height) < 3, (width, height)
    assert page.locator("[data-inline-video] video").count() == 0  # nothing loads first
    expect(page.locator("[data-inline-video] img").first).to_have_attribute("loading", "lazy")

    tall, wide = box_of(page, "A tall lighthouse"), box_of(page, "A wide harbour")
    tall.get_by_role("button", name="Play: A tall lighthouse in a storm").click()
    page.wait_for_function(PLAYING, arg=tall.element_handle(), timeout=15_000)
    video = tall.locator("video")
    assert video.evaluate("v => v.controls && !v.muted && v.preload === 'none'")
    assert tall.evaluate("b => b.getBoundingClientRect().width") > 200  # it spans the card

    # A new job keeps the queue polling: the playing card is swapped and keeps playing.
    httpx.post(f"{stack.simulator_url}/_sim/config", json={"finish_after": 8}).raise_for_status()
    try:
        started_at = tall.evaluate(
            "b => { const v = b.querySelector('video'); v.dataset.mark = 'same';"
            " return v.currentTime; }"
        )
        page.get_by_label("Prompt").fill("A slow kite keeps the queue polling")
        page.locator("#generate-form .generate-row button").click()
        expect(page.locator(".card", has_text="A slow kite")).to_have_class(
            re.compile(r"\bis-(submitted|processing)\b"), timeout=15_000
        )
        # Its row changes (as a verdict would change it): the next poll swaps its card.
        page.locator(".card", has_text="A tall lighthouse").evaluate(
            "c => { c.dataset.mark = 'old'; }"
        )
        stack.manage(
            "shell",
            "-c",
            "from django.utils import timezone\n"
            "from studio.generations.models import Generation\n"
            "Generation.objects.filter(prompt__startswith='A tall lighthouse')"
            ".update(updated_at=timezone.now())",
        )
        expect(page.locator(".card[data-mark='old']")).to_have_count(0, timeout=10_000)
        # The same element, and it went on playing (the simulator's video lasts 5 s).
        assert tall.locator("video").get_attribute("data-mark") == "same"
        assert tall.locator("video").evaluate(f"v => v.ended || v.currentTime > {started_at} + 2")
    finally:
        httpx.post(f"{stack.simulator_url}/_sim/config", json={"finish_after": 3})

    # One at a time: starting the wide one stops the tall one.
    wide.get_by_role("button", name=re.compile("^Play: A wide harbour")).click()
    page.wait_for_function(PLAYING, arg=wide.element_handle(), timeout=15_000)
    expect(tall.locator("video")).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    # caret="initial": hiding the caret leaves style="" behind, which htmx copies (CSP)
    page.screenshot(path=str(ARTIFACTS / "inline-play-queue.png"), caret="initial")

    # History: a hovering mouse previews a tile, muted, and leaving stops it.
    page.goto("/history/")
    tile = box_of(page, "A square buoy")
    tile.hover()
    page.wait_for_function(PLAYING, arg=tile.element_handle(), timeout=15_000)
    assert tile.locator("video").evaluate("v => v.muted && !v.controls")
    page.mouse.move(0, 0)
    expect(tile.locator("video")).to_have_count(0)
    tall = box_of(page, "A tall lighthouse")
    tall.click()
    page.wait_for_function(PLAYING, arg=tall.element_handle(), timeout=15_000)
    width, height = size(tall)
    assert height > 1.6 * width


def test_a_tap_plays_a_result_in_place_on_a_phone(browser, stack) -> None:
    context = browser.new_context(
        base_url=stack.url, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        log_in(page, stack)
        make_video(page, "A tall waterfall on a phone", "9:16")
        tall = box_of(page, "A tall waterfall on a phone")
        expect(tall).to_have_count(1, timeout=40_000)
        tall.get_by_role("button").tap()
        page.wait_for_function(PLAYING, arg=tall.element_handle(), timeout=15_000)
        assert tall.locator("video").evaluate("v => v.controls && v.playsInline")
        width, height = size(tall)
        assert height > 1.6 * width and width <= 390
        # caret="initial": hiding the caret leaves style="" behind, which htmx copies (CSP)
        page.screenshot(path=str(ARTIFACTS / "inline-play-390.png"), caret="initial")
    finally:
        context.close()
    assert not problems, problems
