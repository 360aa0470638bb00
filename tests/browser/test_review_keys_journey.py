"""Keyboard-only review of three videos: the `?` list of shortcuts, play and pause, a frame
step, approve with A, ask for changes with C and Ctrl+Enter, and on to the next video each
time until the queue is empty."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.browser.test_review_journey import PASSWORD, add_user, second_page  # noqa: F401

pytestmark = pytest.mark.browser


def clear_the_queue(reviewer) -> None:
    """Approve whatever waits, a page at a time, with the queue's own bulk approval."""
    reviewer.goto("/review/")
    for _ in range(20):
        if reviewer.locator("#bulk-form").count() == 0:
            return
        reviewer.get_by_label("Tick all on this page").check()
        reviewer.locator("#bulk-verdict").select_option("approved")
        reviewer.get_by_role("button", name="Apply to ticked").click()
        expect(reviewer.locator(".messages")).to_contain_text("Approved:")


def test_a_reviewer_reviews_three_videos_by_keyboard(page, second_page, stack) -> None:  # noqa: F811
    add_user(stack, "kira")
    add_user(stack, "kurt", "reviewer")
    prompts = [f"A {colour} kite over the dunes" for colour in ("red", "green", "blue")]
    reviewer = second_page
    log_in(reviewer, stack, "kurt", PASSWORD)
    clear_the_queue(reviewer)  # earlier journeys' videos: bulk approval from the queue
    log_in(page, stack, "kira", PASSWORD)
    for prompt in prompts:
        page.get_by_label("Prompt").fill(prompt)
        page.get_by_label("Prompt").press("Control+Enter")
        expect(page.locator(".card", has_text=prompt)).to_have_count(1)
    for prompt in prompts:
        card = page.locator(".card", has_text=prompt)
        expect(card).to_have_class(re.compile(r"\bis-succeeded\b"), timeout=45_000)

    reviewer.goto("/review/")
    reviewer.locator(".tile a.card-media").first.click()
    heading = reviewer.get_by_role("heading", level=1)
    first = heading.inner_text()

    reviewer.keyboard.press("?")
    dialog = reviewer.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Next / previous video in the queue")
    reviewer.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    video = reviewer.locator("#review-video")
    expect(video).to_have_js_property("readyState", 4, timeout=10_000)
    reviewer.keyboard.press("l")
    expect(video).to_have_js_property("paused", False)
    reviewer.keyboard.press("k")
    expect(video).to_have_js_property("paused", True)
    paused_at = video.evaluate("v => v.currentTime")  # under 1 s unless the machine is slow
    reviewer.keyboard.press("j")  # a second back, not before the start
    expected = max(0, paused_at - 1)
    reviewer.wait_for_function(
        "([v, t]) => Math.abs(v.currentTime - t) < 0.001", arg=[video.element_handle(), expected]
    )
    reviewer.keyboard.press(".")
    expect(reviewer.locator("[data-timecode]")).to_have_text("00:00:00:01")
    reviewer.keyboard.press("n")  # next, and back
    expect(heading).not_to_have_text(first)
    reviewer.keyboard.press("p")
    expect(heading).to_have_text(first)

    reviewer.keyboard.press("a")
    expect(reviewer.locator(".messages")).to_contain_text("Approved")
    second = heading.inner_text()
    assert second != first
    reviewer.keyboard.press("c")
    expect(reviewer.locator(".decision-form textarea")).to_be_focused()
    reviewer.keyboard.type("Slow the camera down")
    reviewer.keyboard.press("Control+Enter")
    expect(reviewer.locator(".messages")).to_contain_text("Changes requested")
    assert heading.inner_text() not in (first, second)
    reviewer.keyboard.press("a")
    expect(reviewer).to_have_url(re.compile(r"/review/$"))  # nothing left: the queue
    expect(reviewer.locator(".empty-state").first).to_contain_text("Nothing to review")
    recent = reviewer.locator(
        "#recent-title + .table-wrap tbody tr", has_text="kite over the dunes"
    )
    expect(recent).to_have_count(3)
    expect(recent.filter(has_text="Slow the camera down")).to_have_count(1)
