"""Review like a post-production tool, in a real browser: a reviewer steps to a frame, leaves
a range comment with a drawing and asks for changes; the creator sees the markers, jumps to
one, replies, remixes from the note; the new take joins the shot's stack; the reviewer
approves it and the note's thread closes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.browser.test_review_journey import PASSWORD, add_user, second_page  # noqa: F401

pytestmark = pytest.mark.browser


def seek(page, selector: str, seconds: float) -> None:
    page.locator(selector).evaluate(
        "(v, t) => new Promise(ok => { const go = () => { v.pause(); v.currentTime = t; "
        "v.addEventListener('seeked', ok, {once: true}); }; "
        "v.readyState ? go() : v.addEventListener('loadedmetadata', go, {once: true}); })",
        seconds,
    )


def make_video(page, prompt: str) -> str:
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Prompt").press("Control+Enter")
    card = page.locator(".card", has_text=prompt).first
    expect(card).to_have_class(re.compile(r"\bis-succeeded\b"), timeout=30_000)
    card.get_by_role("link", name=prompt).first.click()
    expect(page.locator("[data-review-player]")).to_be_visible()
    return page.url


def video_for_review(page, reviewer, stack, names: tuple[str, str], prompt: str) -> str:
    """New accounts `names` (a creator and a reviewer): the creator makes a video of
    `prompt` on `page` (make_video: its page's URL, returned), then the reviewer signs in
    on `reviewer`, their queue holding it."""
    creator, reviewer_name = names
    add_user(stack, creator)
    add_user(stack, reviewer_name, "reviewer")
    log_in(page, stack, creator, PASSWORD)
    url = make_video(page, prompt)
    log_in(reviewer, stack, reviewer_name, PASSWORD)
    return url


def test_a_note_on_the_timeline_becomes_an_approved_retake(page, second_page, stack) -> None:  # noqa: F811
    prompt = "A paper boat sails down a rainy gutter"
    reviewer = second_page
    take_one = video_for_review(page, reviewer, stack, ("cleo", "rhea"), prompt)
    reviewer.get_by_role("link", name=prompt).first.click()
    player = reviewer.locator("[data-review-player]")
    expect(player).to_have_attribute("data-fps", "10")  # the simulator renders 10 fps
    seek(reviewer, "#review-video", 1.0)
    player.get_by_role("button", name="Frame ▶").click()  # one frame on: 1.1 s
    expect(player.locator("[data-timecode]")).to_have_text("00:00:01:01")
    form = reviewer.locator("[data-comment-form]")
    form.get_by_role("button", name="Mark in").click()
    expect(form.get_by_label("In (seconds)")).to_have_value("1.100")
    seek(reviewer, "#review-video", 2.0)
    form.get_by_role("button", name="Mark out").click()
    expect(form.get_by_label("Out (seconds)")).to_have_value("2.000")
    form.get_by_label("Draw", exact=True).check()
    form.get_by_label("Tool").select_option("box")
    form.get_by_label("Colour").select_option("yellow")
    layer = reviewer.locator("[data-drawing-layer]")
    layer.scroll_into_view_if_needed()
    box = layer.bounding_box()
    reviewer.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
    reviewer.mouse.down()
    reviewer.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=5)
    reviewer.mouse.up()
    expect(form.locator("[data-draw-count]")).to_have_text("1 shape drawn.")
    form.get_by_label("Comment").fill("The boat drifts out of frame here")
    form.get_by_role("button", name="Add comment").click()
    expect(reviewer.locator(".messages")).to_contain_text("Comment added.")
    reviewer.get_by_label("Ask for changes").check()
    reviewer.locator(".decision-form").get_by_label("Comment").fill("Keep the boat centred")
    reviewer.locator(".decision-form").get_by_label("At (seconds into the video)").fill("0.5")
    reviewer.get_by_role("button", name="Save decision").click()
    expect(reviewer.locator(".messages")).to_contain_text("Changes requested")

    page.goto(take_one)
    markers = page.locator(".marker-track [data-marker]")
    expect(markers).to_have_count(2)
    range_thread = page.locator(".thread", has_text="The boat drifts out of frame here")
    expect(range_thread).to_contain_text("00:00:01:01 – 00:00:02:00")
    expect(range_thread).to_contain_text("with a drawing")
    markers.nth(1).click()  # markers in time order: the range comment is second
    expect(page.locator("#generation-player")).to_have_js_property("currentTime", 1.1)
    drawn = page.locator(".drawing.is-shown[data-drawing] rect.ink-yellow")
    expect(drawn).to_have_count(1)
    # The box covers the same part of the frame it was drawn on: 20-60 % across, 20-50 % down.
    frame = page.locator("#generation-player").bounding_box()
    box = drawn.bounding_box()
    assert abs((box["x"] - frame["x"]) / frame["width"] - 0.2) < 0.03
    assert abs((box["x"] + box["width"] - frame["x"]) / frame["width"] - 0.6) < 0.03
    assert abs((box["y"] - frame["y"]) / frame["height"] - 0.2) < 0.03
    assert abs((box["y"] + box["height"] - frame["y"]) / frame["height"] - 0.5) < 0.03
    range_thread.get_by_text("Reply", exact=True).click()
    range_thread.get_by_label(re.compile("Reply to rhea")).fill("I will widen the shot")
    range_thread.get_by_role("button", name="Send reply").click()
    expect(page.locator(".replies")).to_contain_text("I will widen the shot")

    # The range note (with its drawing) on a video sent back for changes becomes the retake.
    note = range_thread
    note.get_by_role("link", name="Remix from this note").click()
    expect(page.locator(".note-beside")).to_contain_text("The boat drifts out of frame here")
    expect(page.locator(".note-beside")).to_contain_text("with a drawing")
    page.get_by_label("Prompt").fill(prompt + ", centred")
    page.get_by_role("button", name="Generate", exact=True).click()
    card = page.locator(".card", has_text=prompt + ", centred")
    expect(card).to_have_class(re.compile(r"\bis-succeeded\b"), timeout=30_000)
    card.get_by_role("link", name=prompt + ", centred").first.click()
    expect(page.locator(".take-line")).to_contain_text("Take 2 of a shot with 2 takes")
    expect(page.locator(".take-line")).to_contain_text("retake of the note")
    take_two = page.url
    page.get_by_role("link", name="See all takes").click()
    takes = page.locator(".take-stack .take-title")
    expect(takes).to_have_count(2)
    expect(takes.first).to_contain_text("Take 2")
    expect(takes.nth(1)).to_contain_text("Changes requested")

    reviewer.goto(take_two.replace("/generations/", "/review/"))
    reviewer.get_by_label("Approve for team use").check()
    reviewer.get_by_role("button", name="Save decision").click()
    expect(reviewer.locator(".messages")).to_contain_text("Approved")

    page.reload()
    expect(page.locator(".approved-take")).to_contain_text("take 2")
    page.goto(take_one)
    expect(note).to_contain_text("was approved")
    expect(page.get_by_role("link", name="Remix from this note")).to_have_count(0)
    changes = page.locator(".thread", has_text="Keep the boat centred")
    expect(changes).to_contain_text("was approved")  # every earlier note of the shot closed
