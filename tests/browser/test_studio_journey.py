"""The studio journey in a real browser: the form adapts to the model, a job is sent with
Ctrl+Enter, its card finishes in place by polling, polling stops, and the video plays."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SUCCEEDED, generate, log_in, screenshot, slow_upstream

pytestmark = pytest.mark.browser


def test_the_form_adapts_to_the_model(page, stack) -> None:
    log_in(page, stack)
    # Inside the form: the queue beside it holds other journeys' cards ("...camera zooms...").
    form = page.locator("#generate-form")
    model = form.get_by_label("Model")
    model.select_option("kling-v1")
    expect(form.get_by_label("cfg_scale")).to_be_enabled()
    expect(form.get_by_label("Movement")).to_be_enabled()
    form.get_by_label("Movement").select_option("simple")
    expect(form.get_by_label("Zoom")).to_be_visible()
    model.select_option("kling-v2-master")
    expect(form.get_by_label("Mode", exact=True)).to_be_disabled()
    expect(form.locator('[data-reason-for="mode"]')).to_contain_text("no std/pro")
    expect(form.get_by_label("cfg_scale")).to_be_disabled()
    expect(form.get_by_label("Movement")).to_be_disabled()
    model.select_option("kling-v3")
    expect(form.get_by_label("Duration").locator("option")).to_have_count(2)
    form.get_by_label("Prompt").fill("x" * 501)
    expect(page.locator('[data-count-for="id_prompt"]')).to_have_text("501 / 500")
    form.get_by_label("Prompt").press("Control+Enter")
    expect(page.locator("#id_prompt_error")).to_contain_text("the limit is 500")
    expect(form.get_by_label("Model")).to_have_value("kling-v3")  # kept, and still adapted
    expect(form.get_by_label("Duration").locator("option")).to_have_count(2)


def test_the_sound_choice_shows_its_price_and_is_sent(page, stack) -> None:
    log_in(page, stack)
    model, mode, sound = (
        page.get_by_label(name, exact=True) for name in ("Model", "Mode", "Sound")
    )
    price = page.locator("[data-sound-price]")
    model.select_option("kling-v1")
    expect(sound).to_be_disabled()
    expect(page.locator('[data-reason-for="sound"]')).to_have_text(
        "Kling 1.0 makes no sound, so no sound is sent."
    )
    expect(price).to_be_hidden()
    model.select_option("kling-v2-6")
    mode.select_option("std")
    expect(sound).to_be_disabled()
    expect(page.locator('[data-reason-for="sound"]')).to_contain_text("only in pro mode")
    mode.select_option("pro")
    expect(sound).to_be_enabled()
    expect(sound).to_have_value("off")
    expect(page.locator("[data-estimate]")).to_have_text("2.5 units")
    expect(price).to_have_text("Sound off: 2.5 units; on: 5 units (sound prices are unverified).")
    sound.select_option("on")
    expect(page.locator("[data-estimate]")).to_have_text("5 units")
    prompt = "A brass band marches past a fountain"
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Prompt").press("Control+Enter")
    card = page.locator(".card", has_text=prompt)
    expect(card).to_have_count(1)
    card.get_by_role("link", name=prompt).click()
    expect(page.locator("dt:has-text('Sound') + dd")).to_have_text("on")
    expect(page.locator("pre.json")).to_contain_text('"sound": "on"')


def test_a_job_finishes_in_place_and_the_polling_stops(page, stack) -> None:
    polls: list[int] = []
    page.on("response", lambda r: "/queue/updates/" in r.url and polls.append(r.status))
    log_in(page, stack)
    # Every announcement the aria-live region makes, in order.
    page.evaluate(
        """() => { window.announced = [];
        new MutationObserver(() => window.announced.push(
            document.querySelector('#queue-announcer').textContent))
        .observe(document.querySelector('#queue-announcer'),
                 {childList: true, characterData: true, subtree: true}); }"""
    )
    # A slower upstream clock for this job, so each state lasts longer than a page poll.
    prompt = "A paper lantern drifts over a quiet harbour"
    with slow_upstream(stack, 8):
        card = generate(page, prompt)
        expect(card).to_have_count(1)
        expect(card).to_have_class(re.compile(r"\bis-processing\b"), timeout=15_000)
        expect(card).to_have_class(SUCCEEDED, timeout=30_000)
    announced = " | ".join(page.evaluate("window.announced"))
    assert re.search(r"Queued.*Processing.*Succeeded", announced), announced
    expect(card.locator("img")).to_be_visible()
    expect(page.locator("#queue-announcer")).to_contain_text("Succeeded")
    page.wait_for_timeout(4_500)  # two more poll intervals: no request may follow the 286
    assert polls and polls[-1] == 286 and polls.count(286) == 1, polls
    screenshot(page, "studio-finished.png", readme="studio.png")  # the README's picture

    card.get_by_role("link", name=prompt).click()
    video = page.locator("video")
    expect(video).to_have_attribute("src", re.compile(r"/generations/[0-9a-f-]+/video\.mp4$"))
    duration = video.evaluate(
        "v => new Promise(ok => v.readyState ? ok(v.duration)"
        " : v.addEventListener('loadedmetadata', () => ok(v.duration)))"
    )
    assert duration > 0
    expect(page.get_by_role("button", name="Run again")).to_be_visible()
