"""Budgets and spend: the estimate reserved with each generation, refusals before anything is
sent (and under concurrency, docs/reliability.md R22), the 80 % warning, the charged units, the
spend page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from studio.generations import pipeline
from studio.generations.models import Generation
from studio.review import budgets
from studio.review.models import Budget, Charge
from tests.drive import at_once
from tests.factories import HTMX, finish, make_generation, make_task

pytestmark = pytest.mark.django_db

ONE_UNIT = {  # kling-v1 std 5 s: 1 unit in the default price table
    "model_name": "kling-v1",
    "prompt": "A lighthouse beam sweeps over fog",
    "mode": "std",
    "duration": "5",
    "aspect_ratio": "16:9",
}
FORM = {**ONE_UNIT, "negative_prompt": "", "cfg_scale": "0.5"}


def test_each_generation_reserves_its_estimate(owner, queue) -> None:
    generation = pipeline.create_generation(owner, {**ONE_UNIT, "mode": "pro"})
    charge = Charge.objects.get(generation=generation)
    assert charge.estimated_units == Decimal("3.5") and charge.owner == owner
    assert budgets.allowances(owner) == []  # no budget: nothing limits


def test_a_submission_over_budget_is_refused_before_anything_is_sent(
    client, owner, queue, django_capture_on_commit_callbacks
):
    Budget.objects.create(user=owner, monthly_units=Decimal("1.5"))
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/generations/new/", FORM).status_code == 302  # 1 of 1.5 used
        response = client.post("/generations/new/", FORM, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and response["HX-Retarget"] == "#generate-form"
    assert "Not sent: this video would use about 1 unit, but you have 0.5 of 1.5" in html
    assert Generation.objects.count() == 1 and Charge.objects.count() == 1
    assert queue == [("submit", (str(Generation.objects.get().pk),))]


def test_the_team_budget_refuses_too(owner, teammate, queue) -> None:
    Budget.objects.create(user=None, monthly_units=Decimal(2))
    pipeline.create_generation(teammate, ONE_UNIT)
    pipeline.create_generation(owner, ONE_UNIT)
    with pytest.raises(budgets.OverBudget, match="the team has 0 of 2"):
        pipeline.create_generation(owner, ONE_UNIT)


def test_run_again_over_budget_says_why(client, owner, queue) -> None:
    first = pipeline.create_generation(owner, ONE_UNIT)
    Budget.objects.create(user=owner, monthly_units=Decimal(1))
    response = client.post(f"/generations/{first.pk}/run-again/", follow=True)
    assert "Not sent" in response.content.decode()
    assert Generation.objects.count() == 1


def test_failed_videos_count_nothing_and_charges_replace_estimates(owner, queue) -> None:
    Budget.objects.create(user=owner, monthly_units=Decimal(2))
    failed = pipeline.create_generation(owner, ONE_UNIT)
    failed.mark_failed_upstream(make_task("failed", status_msg="Content moderation"))
    failed.refresh_from_db()
    assert failed.units_charged == 0  # not charged: the upstream said nothing
    done = pipeline.create_generation(owner, ONE_UNIT)
    finish(done, units=Decimal("0.5"))
    assert budgets.allowances(owner)[0].spent == Decimal("0.5")
    pipeline.create_generation(owner, ONE_UNIT)  # 1.5 of 2: fits
    with pytest.raises(budgets.OverBudget):
        pipeline.create_generation(owner, ONE_UNIT)


def test_a_failure_the_upstream_charged_for_keeps_its_charge(owner, queue) -> None:
    generation = pipeline.create_generation(owner, ONE_UNIT)
    generation.mark_failed_upstream(make_task("failed", final_unit_deduction=Decimal(1)))
    generation.refresh_from_db()
    assert generation.units_charged == 1


def test_last_months_spend_does_not_count(owner, queue) -> None:
    Budget.objects.create(user=owner, monthly_units=Decimal(1))
    old = pipeline.create_generation(owner, ONE_UNIT)
    earlier = budgets.month_range()[0] - timedelta(days=3)
    Charge.objects.filter(pk=old.pk).update(created_at=earlier)
    budgets.rebuild_rollup()  # the charge was moved behind the studio's back
    pipeline.create_generation(owner, ONE_UNIT)


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_submissions_against_a_budget_of_three_accept_exactly_three(owner, queue):
    Budget.objects.create(user=owner, monthly_units=Decimal(3))
    accepted: list[Generation] = []
    refused: list[str] = []

    def submit(n: int) -> None:
        try:
            accepted.append(pipeline.create_generation(owner, {**ONE_UNIT, "prompt": f"p{n}"}))
        except budgets.OverBudget as refusal:
            refused.append(str(refusal))

    at_once(submit, 10)
    assert len(accepted) == 3 and len(refused) == 7
    assert Generation.objects.count() == 3 and Charge.objects.count() == 3
    assert len(queue) == 3


def test_the_studio_shows_what_is_left_and_warns_at_80_percent(client, owner, queue) -> None:
    Budget.objects.create(user=owner, monthly_units=Decimal(5))
    html = client.get("/").content.decode()
    assert "Your budget" in html and "<strong>5</strong> of 5 units left" in html
    assert 'data-budget-left="5"' in html and "is-warn" not in html
    for _ in range(4):
        pipeline.create_generation(owner, ONE_UNIT)
    html = client.get("/").content.decode()
    assert "<strong>1</strong> of 5 units left" in html
    assert 'class="budget is-warn' in html and "80 % used" in html


def test_the_studio_shows_the_estimate_and_the_price_table(client, owner) -> None:
    html = client.get("/").content.decode()
    assert 'id="unit-prices"' in html and "per_second" in html
    assert "Estimated cost: <strong data-estimate>" in html  # for the default model
    assert "No monthly budget is set for you." in html


def test_a_submission_refreshes_the_budget_panel(client, owner, queue) -> None:
    Budget.objects.create(user=owner, monthly_units=Decimal(3))
    response = client.post("/generations/new/", FORM, **HTMX)
    html = response.content.decode()
    assert 'id="budget-panel"' in html and 'hx-swap-oob="true"' in html
    assert "<strong>2</strong> of 3 units left" in html


def test_the_spend_page_shows_people_models_and_charts(
    client, owner, teammate, admin, queue
) -> None:
    Budget.objects.create(user=owner, monthly_units=Decimal(20))
    done = pipeline.create_generation(owner, ONE_UNIT)
    finish(done, units=Decimal("1.25"))
    pipeline.create_generation(owner, {**ONE_UNIT, "model_name": "kling-v2-master", "mode": ""})
    pipeline.create_generation(teammate, ONE_UNIT)
    client.force_login(admin)
    html = client.get("/spend/").content.decode()
    assert f"Spend in {timezone.localdate():%B %Y}" in html
    people = html.split('id="people-title"')[1].split('id="models-title"')[0]
    assert people.index("cora") < people.index("tess")  # the biggest spender first
    assert "11.25" in people and "<svg" in people and 'class="chart-bar"' in people
    models = html.split('id="models-title"')[1]
    assert "Kling 2.0 Master" in models and "Kling 1.0" in models
    assert "<strong>12.25</strong> units this month" in html
    last = client.get("/spend/", {"month": "2001-01"}).content.decode()
    assert "Spend in January 2001" in last and "Nothing spent this month." in last


# The first and last months of the calendar were a 500 (found by tests/test_properties.py):
# the page links the month before and after.
@pytest.mark.parametrize("month", ["0001-01", "9999-12", "0000-05", "2026-13", "²⁰²⁶-01", "x"])
def test_a_month_the_page_cannot_show_shows_this_month(client, admin, month: str) -> None:
    client.force_login(admin)
    html = client.get("/spend/", {"month": month}).content.decode()
    assert f"Spend in {timezone.localdate():%B %Y}" in html
    assert "Spend in February 0001" in client.get("/spend/", {"month": "0001-02"}).content.decode()
    assert "Spend in November 9999" in client.get("/spend/", {"month": "9999-11"}).content.decode()


def test_the_month_range_is_the_calendar_month() -> None:
    start, end = budgets.month_range(timezone.now().replace(month=12, day=31))
    assert (start.month, start.day, end.month, end.year - start.year) == (12, 1, 1, 1)


def test_make_generation_rows_without_charges_count_nothing(owner) -> None:
    make_generation(owner)  # written directly, as before the review app: no Charge
    assert Charge.objects.count() == 0
    assert budgets.summary(owner)["left"] is None
