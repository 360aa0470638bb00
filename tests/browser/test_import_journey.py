"""Issue 12, 9: the import page's one drop zone. A library export and a recipe card are each
dropped on it and go where they belong (the library; the studio form, nothing queued); a
file of neither kind is named next to the field. axe finds nothing serious or critical on
the page with that message. With JavaScript off the plain file input imports alone; the input
without a drop, JavaScript on:
tests/browser/test_library_journey.py."""

from __future__ import annotations

import json
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.browser.test_accessibility import serious

pytestmark = pytest.mark.browser

FIELD = "Library export or recipe card"


def drop(page, name: str, data: object) -> None:
    """Drag a file onto the zone and let go, as the desktop would."""
    text = data if isinstance(data, str) else json.dumps(data)
    transfer = page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, {type: "application/json"}));
            return transfer;
        }""",
        [name, text],
    )
    zone = page.locator("[data-drop-zone]")
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    expect(zone).to_have_class("field drop-zone is-dragover")
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    expect(page.locator("[data-drop-name]")).to_have_text(f"Ready to import: {name}")
    assert page.url.endswith("/library/import/")  # the browser did not open the file


def test_each_kind_dropped_on_the_zone_goes_where_it_belongs(page, stack) -> None:
    log_in(page, stack)
    title = f"Dropped lighthouse {uuid.uuid4().hex[:6]}"
    export = {
        "format": "kling-prompt-studio.library",
        "version": 1,
        "prompts": [{"title": title, "versions": [{"number": 1, "text": "A lighthouse"}]}],
        "presets": [],
    }
    page.goto("/library/import/")
    drop(page, "library.json", export)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator(".message")).to_contain_text("Imported 1 prompt and 0 presets.")
    expect(page.get_by_role("link", name=title)).to_be_visible()

    prompt = f"A dropped paper kite {uuid.uuid4().hex[:6]}"
    card = {
        "format": "kling-prompt-studio.recipe",
        "version": 1,
        "request": {"model_name": "kling-v1-6", "prompt": prompt, "duration": "5"},
    }
    creates = stack.sim_stats()["creates"]
    page.goto("/library/import/")
    drop(page, "recipe.json", card)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator(".message")).to_contain_text("Nothing is queued yet")
    expect(page.get_by_label("Prompt")).to_have_value(prompt)
    assert stack.sim_stats()["creates"] == creates

    page.goto("/library/import/")
    drop(page, "notes.json", {"shopping": ["milk"]})
    page.get_by_role("button", name="Import", exact=True).click()
    error = page.locator("#id_import_file_error")
    expect(error).to_contain_text("a library export")
    expect(error).to_contain_text("a recipe card")
    expect(page.get_by_label(FIELD)).to_have_attribute(
        "aria-describedby", "id_import_file_helptext id_import_file_error"
    )
    assert serious(page) == []


def test_without_javascript_the_plain_file_field_imports(browser, stack) -> None:
    context = browser.new_context(base_url=stack.url, java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, stack)
        prompt = f"A kite chosen without a script {uuid.uuid4().hex[:6]}"
        card = {
            "format": "kling-prompt-studio.recipe",
            "version": 1,
            "request": {"model_name": "kling-v1-6", "prompt": prompt, "duration": "5"},
        }
        page.goto("/library/import/")
        raw = json.dumps(card).encode()
        page.get_by_label(FIELD).set_input_files(
            files=[{"name": "r.json", "mimeType": "application/json", "buffer": raw}]
        )
        page.get_by_role("button", name="Import", exact=True).click()
        expect(page.get_by_label("Prompt")).to_have_value(prompt)
    finally:
        context.close()
