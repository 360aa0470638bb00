"""Issue 12, 6: a batch is seen whole before it is paid, and compared once it is done. The
preview lists every prompt it sends with its parameters; the batch page compares the
finished videos and offers a reviewer (an admin here) each one to review and approve."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def test_a_batch_is_listed_before_it_is_sent_and_compared_after(page, stack) -> None:
    log_in(page, stack)
    page.get_by_label("Model").select_option("kling-v1")
    page.get_by_label("Prompt").fill("A {animal} crossing a rope bridge")
    values = page.get_by_label("Values for {animal}")
    expect(values).to_be_visible(timeout=15_000)
    values.fill("fox\nowl")
    preview = page.locator("#batch-preview")
    expect(preview).to_contain_text("2 jobs")
    preview.get_by_text("Show the 2 prompts it sends").click()
    listed = preview.locator(".batch-job-list li")
    expect(listed).to_have_count(2)
    expect(listed.nth(0)).to_contain_text("A fox crossing a rope bridge")
    expect(listed.nth(1)).to_contain_text("A owl crossing a rope bridge")
    expect(listed.nth(0)).to_contain_text("Kling 1.0 · std · 5 s · 16:9")

    page.get_by_role("button", name="Generate batch").click()
    expect(page).to_have_url(re.compile(r"/library/batches/[0-9a-f-]+/$"))
    expect(page.locator("[data-batch-finished]")).to_be_visible(timeout=60_000)
    batch_url = page.url
    # The reviewer picks the best: approved from the batch page, and back on it.
    page.get_by_role("button", name="Approve as the best: animal: owl").click()
    expect(page.locator(".messages")).to_contain_text("Approved: A owl crossing a rope bridge")
    assert page.url == batch_url
    for tile in page.locator("#batch-live .tile").all():
        expect(tile.get_by_role("link", name=re.compile("^Review and approve"))).to_be_visible()
        tile.get_by_label("Compare").check()
    expect(page.locator("[data-compare-status]")).to_have_text("2 selected.")
    page.get_by_role("button", name="Compare these").click()
    expect(page).to_have_url(re.compile(r"/compare/\?ids="))
    expect(page.locator("video[data-sync]")).to_have_count(2)
