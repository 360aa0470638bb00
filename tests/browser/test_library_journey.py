"""The library in a real browser: a prompt written, edited twice, diffed and run, its video
filed under the version; two presets saved, stacked and submitted; a template with two
variables × two values run as a 4-job batch that finishes; a library exported and
imported again by a teammate; a recipe card opened in the studio form and run."""

import json
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def unique(word: str) -> str:
    return f"{word} {uuid.uuid4().hex[:6]}"


def new_prompt(page, title: str, text: str, tags: str = "") -> None:
    page.goto("/library/prompts/new/")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Text", exact=True).fill(text)
    page.get_by_label("Tags").fill(tags)
    page.get_by_role("button", name="Save prompt").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


def test_a_prompt_is_versioned_diffed_and_its_video_filed_under_the_version(page, stack) -> None:
    log_in(page, stack)
    title = unique("Lighthouse")
    new_prompt(page, title, "A lighthouse on a cliff in fog", tags="coast, night")
    expect(page.locator(".message")).to_contain_text("version 1")

    text = page.get_by_label("Text", exact=True)
    text.fill("A white lighthouse on a cliff in thick fog")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".message")).to_contain_text("Saved as version 2")
    page.get_by_label("Notes").fill("Slower waves next time")
    page.get_by_label("Text", exact=True).fill("A white lighthouse on a cliff at dusk")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".message")).to_contain_text("Saved as version 3")
    expect(page.locator("article.version")).to_have_count(3)

    page.get_by_role("link", name="Compare versions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Version 2 → version 3")
    text_diff = page.get_by_role("region", name="Text")
    expect(text_diff.locator("del")).to_have_text(["in thick fog"])
    expect(text_diff.locator("ins")).to_have_text(["at dusk"])
    page.get_by_label("From").select_option("1")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Version 1 → version 3")
    expect(text_diff.locator("ins").first).to_have_text("white ")

    page.get_by_role("link", name=title).click()
    version_two = page.locator("#v2")
    version_two.get_by_role("link", name="Use in studio").click()
    expect(page.get_by_label("Prompt")).to_have_value("A white lighthouse on a cliff in thick fog")
    expect(page.locator(".from-version")).to_contain_text("version 2")
    page.get_by_role("button", name="Generate", exact=True).click()
    card = page.locator(".card", has_text="A white lighthouse on a cliff in thick fog")
    expect(card).to_have_class(re.compile(r"\bis-succeeded\b"), timeout=30_000)

    page.goto("/library/")
    page.get_by_role("link", name=title).click()
    expect(page.locator("#v2 .tile.is-succeeded")).to_have_count(1)
    expect(page.locator("#v2 [data-version-numbers]")).to_contain_text("1 run · 100% succeeded")
    expect(page.locator("#v3 .tile")).to_have_count(0)
    expect(page.locator("#v1 .tile")).to_have_count(0)


def save_preset(page, name: str, **choices: str) -> None:
    page.goto("/library/presets/")
    form = page.locator("form.preset-form")
    form.get_by_label("Preset name").fill(name)
    for label, value in choices.items():
        form.get_by_label(label.replace("_", " "), exact=True).select_option(value)
    form.get_by_role("button", name="Save preset").click()
    expect(page.locator(".message")).to_contain_text(f"Saved the preset “{name}”")


def test_two_presets_stack_on_the_studio_form_and_the_job_records_them(page, stack) -> None:
    log_in(page, stack)
    vertical, long = unique("Vertical"), unique("Pro long")
    save_preset(page, vertical, Aspect_ratio="9:16", Mode="std")
    save_preset(page, long, Mode="pro", Duration="10")

    page.goto("/")
    prompt = "A paper crane unfolds on a windowsill"
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Add a preset").select_option(label=vertical)
    expect(page.locator(".preset-chip")).to_have_count(1)
    page.get_by_label("Add a preset").select_option(label=long)
    expect(page.locator(".preset-chip")).to_have_text([re.compile(vertical), re.compile(long)])
    set_by = page.get_by_role("list", name="Values set by presets")
    expect(set_by).to_contain_text(f"Aspect ratio: 9:16 from “{vertical}”")
    expect(set_by).to_contain_text(f"Mode: pro from “{long}”")  # the later one wins
    expect(set_by).to_contain_text(f"Duration: 10 from “{long}”")
    expect(page.get_by_label("Aspect ratio")).to_have_value("9:16")
    expect(page.get_by_label("Mode", exact=True)).to_have_value("pro")
    expect(page.get_by_label("Duration")).to_have_value("10")
    expect(page.get_by_label("Prompt")).to_have_value(prompt)  # kept while stacking

    page.get_by_role("button", name="Generate", exact=True).click()
    card = page.locator(".card", has_text=prompt)
    expect(card.locator(".meta")).to_contain_text("pro · 10 s · 9:16")
    expect(card).to_have_class(re.compile(r"\bis-succeeded\b"), timeout=40_000)
    card.get_by_role("link", name=prompt).click()
    expect(page.locator(".sources")).to_contain_text(f"{vertical}, then {long}")


def test_a_template_with_two_variables_runs_as_a_batch_of_four(page, stack) -> None:
    polls: list[int] = []
    page.on("response", lambda r: "/library/batches/" in r.url and polls.append(r.status))
    log_in(page, stack)
    page.get_by_label("Prompt").fill("A {animal} crosses a {place} at dusk")
    animal = page.get_by_label("Values for {animal}")
    expect(animal).to_be_visible()
    animal.fill("fox\nheron")
    page.get_by_label("Values for {place}").fill("bridge\nfield")
    preview = page.locator("#batch-preview")
    expect(preview).to_contain_text("4 jobs")
    expect(preview).to_contain_text("units")

    page.get_by_role("button", name="Generate batch").click()
    page.wait_for_url(re.compile(r"/library/batches/[0-9a-f-]+/$"))
    expect(page.locator(".tile")).to_have_count(4)
    expect(page.locator(".tile-label").first).to_have_text("animal: fox · place: bridge")
    expect(page.locator("[data-progress]")).to_have_text("4 / 4 done", timeout=60_000)
    expect(page.locator("[data-batch-finished]")).to_have_text("Batch finished: 4 of 4 succeeded.")
    expect(page.locator("#batch-announcer")).to_contain_text("Batch finished")
    page.wait_for_timeout(4_500)  # two more poll intervals: nothing may follow the 286
    assert polls and polls[-1] == 286 and polls.count(286) == 1, polls


def test_a_library_is_exported_and_imported_again(page, stack) -> None:
    log_in(page, stack)
    title = unique("Export me")
    new_prompt(page, title, "A kite over {place}", tags="export")
    page.get_by_label("Text", exact=True).fill("A red kite over {place}")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".message")).to_contain_text("version 2")

    page.goto("/library/")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export my library").click()
    exported = json.loads(download.value.path().read_text(encoding="utf-8"))
    (mine,) = [p for p in exported["prompts"] if p["title"] == title]
    assert [v["text"] for v in mine["versions"]] == [
        "A kite over {place}",
        "A red kite over {place}",
    ]

    name = f"mate{uuid.uuid4().hex[:6]}"
    stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({name!r}, password='a-long-test-password')",
    )
    page.get_by_role("button", name="Log out").click()
    log_in(page, stack, name, "a-long-test-password")
    page.goto("/library/import/")
    page.get_by_label("Library export or recipe card").set_input_files(download.value.path())
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator(".message")).to_contain_text(f"Imported {len(exported['prompts'])} prompt")
    page.get_by_role("link", name=title).click()
    expect(page.locator("article.version")).to_have_count(2)
    expect(page.locator(".detail-header .meta")).to_contain_text(f"by {name}")

    page.goto("/library/")
    with page.expect_download() as again:
        page.get_by_role("link", name="Export my library").click()
    reexported = json.loads(again.value.path().read_text(encoding="utf-8"))
    assert reexported["prompts"] == exported["prompts"]
    assert reexported["presets"] == exported["presets"]

    page.goto("/library/import/")
    page.get_by_label("Library export or recipe card").set_input_files(
        files=[{"name": "bad.json", "mimeType": "application/json", "buffer": b'{"format": 1'}]
    )
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#id_import_file_error")).to_contain_text("not valid JSON")


def test_a_recipe_card_opens_the_studio_form_priced_and_runs_only_on_generate(page, stack) -> None:
    log_in(page, stack)
    prompt = unique("A paper boat drifts down a rainy street")
    request = {"model_name": "kling-v1-6", "prompt": prompt, "mode": "std", "duration": "10"}
    card = {"format": "kling-prompt-studio.recipe", "version": 1, "request": request}
    page.goto("/library/import/")
    creates = stack.sim_stats()["creates"]
    page.get_by_label("Library export or recipe card").set_input_files(
        files=[
            {"name": "r.json", "mimeType": "application/json", "buffer": json.dumps(card).encode()}
        ]
    )
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator(".message")).to_contain_text("Nothing is queued yet")
    expect(page.get_by_label("Prompt")).to_have_value(prompt)
    expect(page.get_by_label("Duration")).to_have_value("10")
    expect(page.locator("[data-estimate]")).to_have_text("4 units")
    assert stack.sim_stats()["creates"] == creates  # opening it paid for nothing
    page.get_by_role("button", name="Generate", exact=True).click()
    card_in_queue = page.locator(".card", has_text=prompt)
    expect(card_in_queue).to_have_class(re.compile(r"\bis-succeeded\b"), timeout=30_000)
    assert stack.sim_stats()["creates"] == creates + 1
