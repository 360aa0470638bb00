"""Issue 12, 5: budget feedback in the browser, on a phone (390x844). With 2 units left,
Generate is offered for a 1.5-unit video and disabled, with the panel's reason, for a
pricier one; a batch preview says what the budget leaves after it, and a batch over the
budget is refused with its total before anything is made."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot

pytestmark = pytest.mark.browser

PASSWORD = "a-long-budget-password"


def test_budget_feedback_before_anything_is_paid(page, stack) -> None:
    stack.manage(
        "shell",
        "-c",
        "from decimal import Decimal\n"
        "from django.contrib.auth import get_user_model\n"
        "from studio.review.models import Budget\n"
        f"user = get_user_model().objects.create_user('budgeted', password={PASSWORD!r})\n"
        "Budget.objects.create(user=user, monthly_units=Decimal(2))\n",
    )
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, stack, "budgeted", PASSWORD)
    generate = page.locator("#generate-form .generate-row button")
    page.get_by_label("Model").select_option("kling-v1")
    page.get_by_label("Mode", exact=True).select_option("std")
    expect(page.locator("[data-estimate]")).to_have_text("1 unit")
    expect(generate).to_be_enabled()
    page.get_by_label("Duration").select_option("10")
    page.get_by_label("Mode", exact=True).select_option("pro")
    expect(generate).to_be_disabled()
    reason = page.locator("#budget-over-reason")
    expect(reason).to_be_visible()
    expect(reason).to_contain_text("would go over the budget")
    assert generate.get_attribute("aria-describedby") == "budget-over-reason"
    screenshot(page, "budget-blocked-390.png", readme="budget-390.png")
    page.get_by_label("Prompt").press("Control+Enter")  # the shortcut is blocked too
    page.get_by_label("Duration").select_option("5")
    page.get_by_label("Mode", exact=True).select_option("std")
    expect(page.locator("[data-estimate]")).to_have_text("1 unit")
    expect(generate).to_be_enabled()
    expect(reason).to_be_hidden()

    # A batch: what it leaves, then one over the budget, refused with its total.
    page.get_by_label("Prompt").fill("A {animal} at dawn")
    values = page.get_by_label("Values for {animal}")  # the variations open for a variable
    expect(values).to_be_visible(timeout=15_000)
    values.fill("fox")
    expect(page.locator("#batch-preview")).to_contain_text("Leaves 1 of the 2 units left")
    values.fill("fox\nowl\nhare")
    expect(page.locator("#batch-preview")).to_contain_text(
        "this batch of 3 jobs would use about 3 units in all, but you have 2 of 2"
    )
    page.get_by_role("button", name="Generate batch").click()
    expect(page.locator("#variations .error-list")).to_contain_text("this batch of 3 jobs")
    expect(page.locator(".card")).to_have_count(0)  # nothing was queued
