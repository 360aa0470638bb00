"""Budget feedback before anything is paid (issue 12, 5): Generate is disabled with the
panel's reason when the job would be refused; a batch preview says what the budget leaves
after it; a batch over a budget is refused with the batch's total, before any job is made.
The browser side: tests/browser/test_budget_feedback_journey.py."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

from studio.generations.models import Generation
from studio.library.models import Batch
from studio.review.models import Budget
from studio.review.pricing import estimate_units
from tests.factories import HTMX, studio_form

TEMPLATE = "A {animal} in the {place}"


def batch_data(**overrides) -> dict:
    data = studio_form(prompt=TEMPLATE, presets="", prompt_version="")
    del data["client_request_id"]
    return data | {
        "var_animal": "fox\nowl",
        "var_place": "forest\nmeadow",
        "sweep_cfg": "",
        "batch_id": str(uuid.uuid4()),
        **overrides,
    }


def one_video() -> Decimal:
    return estimate_units(studio_form())


def generate_button(html: str) -> str:
    return re.search(r'<div class="submit-row generate-row">\s*<button[^>]*>', html)[0]


def test_generate_is_disabled_with_the_reason_when_the_video_would_be_refused(client, owner):
    Budget.objects.create(user=owner, monthly_units=one_video() / 2)
    html = client.get("/").content.decode()
    assert "disabled" in generate_button(html)
    assert 'aria-describedby="budget-over-reason"' in generate_button(html)
    reason = re.search(r'<p class="budget-over error" id="budget-over-reason"[^>]*>', html)[0]
    assert "hidden" not in reason


def test_generate_is_enabled_within_the_budget(client, owner) -> None:
    Budget.objects.create(user=owner, monthly_units=one_video() * 3)
    assert "disabled" not in generate_button(client.get("/").content.decode())


def test_the_preview_says_what_the_budget_leaves_after_the_batch(client, owner) -> None:
    Budget.objects.create(user=owner, monthly_units=one_video() * 10)
    plan = client.post("/library/batches/preview/", batch_data(), **HTMX).context["plan"]
    html = client.post("/library/batches/preview/", batch_data(), **HTMX).content.decode()
    assert plan.size == 4 and plan.left_after == one_video() * 6
    left = f"{(one_video() * 6).normalize():f}"
    assert f"Leaves <strong>{left}</strong> of the" in html


def test_a_batch_over_budget_is_refused_with_its_total_and_nothing_is_made(client, owner, queue):
    Budget.objects.create(user=owner, monthly_units=one_video() * Decimal("2.5"))
    preview = client.post("/library/batches/preview/", batch_data(), **HTMX).content.decode()
    total = f"{(one_video() * 4).normalize():f}"
    assert f"this batch of 4 jobs would use about {total} units in all" in preview
    response = client.post("/library/batches/new/", batch_data(), **HTMX)
    html = response.content.decode()
    assert f"this batch of 4 jobs would use about {total} units in all" in html
    assert "this video would use" not in html  # not one video's price
    assert not Batch.objects.exists() and not Generation.objects.exists()
    assert queue == []
