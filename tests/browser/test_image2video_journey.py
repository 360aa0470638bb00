"""The image-to-video journey in a real browser (issue 14 #5–#8): upload a picture, generate,
see the video play and start on the picture; continue from its last frame, generate the
next shot, follow the link back. And a bad picture: a field error, the form kept."""

from __future__ import annotations

import io
import re

import av
import pytest
from playwright.sync_api import expect

from tests import images as pictures
from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = pytest.mark.browser

# Each script gives up after 15 s, so a video that never loads fails the test, never hangs it.
VIDEO_READY = """v => new Promise((ok, no) => { setTimeout(() => no('no metadata'), 15000);
  v.readyState ? ok(v.duration) : v.addEventListener('loadedmetadata', () => ok(v.duration)); })"""
PLAYS = """v => new Promise((ok, no) => { setTimeout(() => no('did not play'), 15000);
  v.muted = true; v.addEventListener('timeupdate', () => v.currentTime > 0 && ok(v.currentTime));
  v.play(); })"""


def first_frame_corner(page, video) -> tuple:
    """The colour near the bottom-right corner of the video's first frame, from the file the
    browser was given (fetched with the page's session; the media may come from another
    origin, whose pixels a canvas may not read)."""
    response = page.request.get(video.evaluate("v => v.currentSrc"))
    assert response.ok, response.status
    with av.open(io.BytesIO(response.body())) as container:
        frame = next(container.decode(video=0)).to_image()
    return frame.getpixel((frame.width - 6, frame.height - 6))


def choose_image_mode(page) -> None:
    page.get_by_label("An image").check()
    expect(page.get_by_label("Start image")).to_be_visible()
    expect(page.get_by_label("Aspect ratio")).to_be_hidden()  # the video follows the image
    expect(page.get_by_label("Sound", exact=True)).to_be_hidden()


def wait_for_card(page, prompt: str):
    card = page.locator(".card", has_text=prompt)
    expect(card).to_have_count(1)
    expect(card).to_have_class(re.compile(r"\bis-succeeded\b"), timeout=45_000)
    return card


def test_a_bad_picture_is_refused_beside_its_field_with_the_form_kept(page, stack, tmp_path):
    log_in(page, stack)
    choose_image_mode(page)
    bad = tmp_path / "print.jpg"
    bad.write_bytes(pictures.cmyk_jpeg())
    page.get_by_label("Prompt").fill("A harbour at dusk, print colours")
    page.get_by_label("Start image").set_input_files(str(bad))
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(page.locator("#id_image_error")).to_contain_text("CMYK")
    expect(page.get_by_label("Prompt")).to_have_value("A harbour at dusk, print colours")
    expect(page.get_by_label("An image")).to_be_checked()
    expect(page.get_by_label("Aspect ratio")).to_be_hidden()


def test_upload_generate_play_continue_and_follow_the_link_back(page, stack, tmp_path):
    log_in(page, stack)
    choose_image_mode(page)
    # Image-only models are offered here, and the end image follows the mode.
    expect(page.get_by_label("Model").locator('option[value="kling-v1-5"]')).to_be_enabled()
    page.get_by_label("Model").select_option("kling-v2-6")
    page.get_by_label("Mode", exact=True).select_option("std")
    expect(page.get_by_label("End image")).to_be_disabled()
    expect(page.locator('[data-reason-for="image_tail"]')).to_contain_text("only in pro mode")

    still = tmp_path / "lantern.png"
    still.write_bytes(pictures.picture((640, 400), color=pictures.RED))
    first = "A red lantern sways in the wind"
    page.get_by_label("Start image").set_input_files(str(still))
    page.get_by_label("Prompt").fill(first)
    page.get_by_label("Prompt").press("Control+Enter")
    card = wait_for_card(page, first)
    expect(card).to_contain_text("From an image")

    card.get_by_role("link", name=first).click()
    video = page.locator("video").first
    assert video.evaluate(VIDEO_READY) > 0
    assert video.evaluate(PLAYS) > 0
    corner = first_frame_corner(page, video)  # the video starts on the uploaded picture
    assert all(abs(a - b) < 60 for a, b in zip(corner, pictures.RED, strict=True)), corner
    expect(page.get_by_role("img", name="Start image")).to_be_visible()
    source_url = page.url

    page.get_by_role("button", name="Continue from last frame").click()
    page.wait_for_url(re.compile(r"/\?image=[0-9a-f-]+$"))
    expect(page.get_by_label("An image")).to_be_checked()
    expect(page.get_by_role("img", name="Start image chosen")).to_be_visible()
    expect(page.get_by_label("Prompt")).to_have_value(first)  # carried on from the source
    second = "The lantern's light fades into the night"
    page.get_by_label("Prompt").fill(second)
    page.get_by_role("button", name="Generate", exact=True).click()
    card = wait_for_card(page, second)

    card.get_by_role("link", name=second).click()
    assert page.locator("video").first.evaluate(VIDEO_READY) > 0
    back = page.locator("[data-continues]")
    expect(back).to_contain_text("Continues")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "image2video-continued.png"))
    second_url = page.url
    back.get_by_role("link").click()
    page.wait_for_url(source_url)
    expect(page.locator(".continuations")).to_contain_text(second)
    page.locator(".continuations").get_by_role("link", name=second).click()
    page.wait_for_url(second_url)


def test_start_from_this_frame_takes_the_frame_the_player_shows(page, stack, tmp_path):
    log_in(page, stack)
    prompt = "A kite climbs over the dunes"
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Prompt").press("Control+Enter")
    wait_for_card(page, prompt).get_by_role("link", name=prompt).click()
    video = page.locator("video").first
    assert video.evaluate(VIDEO_READY) > 0
    video.evaluate(
        """v => new Promise(ok => { v.addEventListener('seeked', ok, {once: true});
        v.currentTime = 2.05; })"""
    )
    page.get_by_role("button", name="Start from this frame").click()
    page.wait_for_url(re.compile(r"/\?image=[0-9a-f-]+$"))
    expect(page.get_by_label("An image")).to_be_checked()
    seconds = float(page.locator("[data-frame-seconds]").inner_text())
    assert 1.9 <= seconds <= 2.05, seconds  # the frame shown at 2.05 s (10 fps)
