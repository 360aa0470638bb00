"""Templates and variation batches: counting jobs, previewing their cost, the confirmation
over STUDIO_BATCH_CONFIRM_OVER, submitting all or nothing, and the batch page's progress."""

from __future__ import annotations

import tracemalloc
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from studio.generations.models import Generation, Status
from studio.library import batches
from studio.library.models import Batch
from studio.review.models import Budget
from studio.review.pricing import estimate_units
from tests.factories import HTMX, make_generation, make_preset, make_prompt, make_user, studio_form

pytestmark = pytest.mark.django_db

TEMPLATE = "A {animal} walks through a {place} at dawn"


def batch_data(**overrides) -> dict:
    data = studio_form(prompt=TEMPLATE, cfg_scale="0.5", presets="", prompt_version="")
    del data["client_request_id"]  # a batch is named by its batch_id
    return data | {
        "var_animal": "fox\nowl",
        "var_place": "forest\r\nmeadow\n\nforest",
        "sweep_cfg": "",
        "batch_id": str(uuid.uuid4()),
        **overrides,
    }


def query(data: dict) -> QueryDict:
    result = QueryDict(mutable=True)
    for key, value in data.items():
        if isinstance(value, list):
            result.setlist(key, [str(v) for v in value])
        else:
            result[key] = str(value)
    return result


# ---------------------------------------------------------------------------- counting


def test_two_variables_with_two_values_make_four_jobs(owner) -> None:
    plan = batches.plan_batch(owner, query(batch_data()))
    assert plan.ok and plan.size == 4
    assert [job.params["prompt"] for job in plan.jobs] == [
        "A fox walks through a forest at dawn",
        "A fox walks through a meadow at dawn",
        "A owl walks through a forest at dawn",
        "A owl walks through a meadow at dawn",
    ]
    assert plan.jobs[0].label == "animal: fox · place: forest"


def test_sweeps_multiply_the_jobs(owner) -> None:
    pro = make_preset(owner, "Pro", {"mode": "pro"})
    long = make_preset(owner, "Long", {"duration": "10"})
    data = batch_data(sweep_cfg="0.3, 0.7", sweep_preset=[pro.pk, long.pk])
    plan = batches.plan_batch(owner, query(data))
    assert plan.ok and plan.size == 4 * 2 * 2 == len(plan.jobs)
    job = plan.jobs[-1]
    assert (job.params["duration"], job.params["cfg_scale"]) == ("10", 0.7)
    assert job.presets == [long.record()]
    assert job.label.endswith("preset Long · cfg_scale 0.7")
    assert plan.sweep == {
        "presets": [{"id": pro.pk, "name": "Pro"}, {"id": long.pk, "name": "Long"}],
        "cfg_scale": [0.3, 0.7],
    }


def test_a_sweep_alone_is_a_batch(owner) -> None:
    data = batch_data(prompt="A quiet lake", sweep_cfg="0.2 0.4 0.6")
    plan = batches.plan_batch(owner, query(data))
    assert plan.ok and plan.size == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"var_place": " \n "}, "Give at least one value for {place}"),
        ({"prompt": "No variables here"}, "Put a {variable} in the prompt"),
        ({"sweep_cfg": "0.3, lots"}, "cfg_scale values must be numbers"),
        ({"model_name": "kling-v2-6", "cfg_scale": "", "sweep_cfg": "0.3"}, "does not take cfg"),
        ({"var_animal": "\n".join(f"a{n}" for n in range(60))}, "at most 100"),
        ({"var_animal": "x" * 500}, "the limit is 500"),
    ],
)
def test_a_batch_that_cannot_run_says_why(owner, overrides: dict, message: str) -> None:
    plan = batches.plan_batch(owner, query(batch_data(**overrides)))
    assert not plan.ok
    assert message in " ".join(plan.errors)


# ---------------------------------------------------------------------------- cost preview


def test_the_preview_counts_jobs_and_estimates_their_cost(client, owner) -> None:
    data = batch_data(sweep_cfg="0.3, 0.7")
    response = client.post("/library/batches/preview/", data, **HTMX)
    plan = response.context["plan"]
    expected = sum(estimate_units(job.params) for job in plan.jobs)
    assert plan.size == 8 and plan.units == expected > 0
    html = response.content.decode()
    assert "8 jobs" in html and f"estimated <strong>{expected.normalize():f} units" in html
    assert 'name="var_animal"' in html and 'name="var_place"' in html
    assert not Batch.objects.exists() and not Generation.objects.exists()


def test_the_preview_alone_is_swapped_when_a_value_changes(client, owner) -> None:
    response = client.post(
        "/library/batches/preview/", batch_data(), HTTP_HX_TARGET="batch-preview", **HTMX
    )
    html = response.content.decode()
    assert "4 jobs" in html and 'id="batch-preview"' not in html and "var_animal" not in html


def test_an_unknown_price_says_so_instead_of_guessing(client, owner, settings) -> None:
    settings.STUDIO_UNIT_PRICES = {}
    plan = client.post("/library/batches/preview/", batch_data(), **HTMX).context["plan"]
    assert plan.ok and plan.units is None and "No unit price" in plan.price_note


def test_the_studio_form_shows_a_field_per_variable(client, owner) -> None:
    version = make_prompt(owner, text=TEMPLATE).latest_version()
    html = client.get(f"/?prompt_version={version.pk}").content.decode()
    assert 'id="id_var_animal"' in html and 'id="id_var_place"' in html
    assert '<details id="variations"' in html and " open" in html


# ---------------------------------------------------------------------------- submitting


def test_generate_batch_queues_every_job_under_one_batch(client, owner, queue) -> None:
    version = make_prompt(owner, text=TEMPLATE).latest_version()
    response = client.post("/library/batches/new/", batch_data(prompt_version=version.pk), **HTMX)
    batch = Batch.objects.get()
    assert response["HX-Redirect"] == batch.get_absolute_url()
    generations = list(batch.generations.order_by("prompt"))
    assert len(generations) == batch.size == 4
    assert {g.prompt_version for g in generations} == {version}
    assert batch.prompt_version == version and batch.template == TEMPLATE
    assert batch.variables == {"animal": ["fox", "owl"], "place": ["forest", "meadow"]}
    assert [item["label"] for item in batch.items][0] == "animal: fox · place: forest"
    assert batch.estimated_units == sum(estimate_units(g.params()) for g in generations)


def test_a_double_click_makes_one_batch(client, owner, queue) -> None:
    data = batch_data()
    client.post("/library/batches/new/", data, **HTMX)
    client.post("/library/batches/new/", data, **HTMX)
    assert Batch.objects.count() == 1 and Generation.objects.count() == 4


def test_a_big_batch_asks_for_confirmation_first(client, owner, settings, queue) -> None:
    settings.STUDIO_BATCH_CONFIRM_OVER = 3
    response = client.post("/library/batches/new/", batch_data(), **HTMX)
    html = response.content.decode()
    assert "Yes, generate 4 jobs" in html and response["HX-Retarget"] == "#variations"
    assert not Batch.objects.exists()
    # A confirmation for another size (the values changed since) asks again.
    client.post("/library/batches/new/", batch_data(confirm="3"), **HTMX)
    assert not Batch.objects.exists()
    client.post("/library/batches/new/", batch_data(confirm="4"), **HTMX)
    assert Batch.objects.get().size == 4


def test_a_batch_over_budget_is_not_half_sent(client, owner, queue) -> None:
    one = estimate_units(batch_data() | {"prompt": "x"})
    Budget.objects.create(user=owner, monthly_units=one * Decimal("2.5"))
    response = client.post("/library/batches/new/", batch_data(), **HTMX)
    assert "Not sent" in response.content.decode()
    assert not Batch.objects.exists() and not Generation.objects.exists()


def test_a_refused_job_sends_nothing(client, owner, queue) -> None:
    data = batch_data(model_name="kling-v2-6", cfg_scale="", sweep_cfg="0.5")
    response = client.post("/library/batches/new/", data, **HTMX)
    assert "would be refused" in response.content.decode()
    assert not Generation.objects.exists()


def test_a_single_generate_refuses_unfilled_variables(client, owner, queue) -> None:
    response = client.post("/generations/new/", batch_data(client_request_id=str(uuid.uuid4())))
    assert "has {animal} to fill in" in response.content.decode()
    assert not Generation.objects.exists()


def test_without_javascript_a_batch_redirects_to_its_page(client, owner, queue) -> None:
    response = client.post("/library/batches/new/", batch_data())
    assert (
        response.status_code == 302
        and response["Location"] == Batch.objects.get().get_absolute_url()
    )


# ---------------------------------------------------------------------------- the batch page


def make_batch(owner, statuses: list[Status]) -> Batch:
    batch = Batch.objects.create(owner=owner, template=TEMPLATE, size=len(statuses))
    items = []
    for n, status in enumerate(statuses):
        generation = make_generation(owner, prompt=f"job {n}", status=status, batch=batch)
        items.append({"generation": str(generation.pk), "label": f"job {n}"})
    batch.items = items
    batch.save()
    return batch


def test_the_batch_page_shows_progress_and_polls_while_active(client, owner) -> None:
    batch = make_batch(owner, [Status.SUCCEEDED, Status.FAILED, Status.PROCESSING, Status.QUEUED])
    html = client.get(batch.get_absolute_url()).content.decode()
    assert "2 / 4 done" in html and "1 failed" in html and 'hx-trigger="every 2s"' in html
    poll = client.get(batch.get_absolute_url(), HTTP_HX_TARGET="batch-live", **HTMX)
    assert poll.status_code == 200 and "job 3" in poll.content.decode()


def test_a_finished_batch_says_so_and_stops_the_polling(client, owner) -> None:
    batch = make_batch(owner, [Status.SUCCEEDED, Status.PROCESSING])
    Generation.objects.filter(status=Status.PROCESSING).update(status=Status.SUCCEEDED)
    poll = client.get(f"{batch.get_absolute_url()}?seen=1", HTTP_HX_TARGET="batch-live", **HTMX)
    html = poll.content.decode()
    assert poll.status_code == 286
    assert "2 / 2 done" in html and "Batch finished: 2 of 2 succeeded" in html
    assert "hx-trigger" not in html.split("</section>")[0]
    assert 'id="batch-announcer" hx-swap-oob="innerHTML">Batch finished' in html


def test_the_batch_page_costs_the_same_queries_at_any_size(client, owner) -> None:
    def queries(batch: Batch) -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get(batch.get_absolute_url(), HTTP_HX_TARGET="batch-live", **HTMX)
        return len(captured)

    assert queries(make_batch(owner, [Status.QUEUED] * 2)) == queries(
        make_batch(owner, [Status.QUEUED] * 30)
    )


def test_others_batches_404(client, owner, teammate) -> None:
    batch = make_batch(teammate, [Status.QUEUED])
    assert client.get(batch.get_absolute_url()).status_code == 404


def test_the_library_lists_my_recent_batches(client, owner, teammate) -> None:
    mine = make_batch(owner, [Status.QUEUED])
    theirs = make_batch(teammate, [Status.QUEUED])
    html = client.get("/library/").content.decode()
    assert mine.get_absolute_url() in html and theirs.get_absolute_url() not in html


def test_another_persons_batch_is_hidden_from_a_creator_who_also_reviews(
    client, owner, admin
) -> None:
    batch = make_batch(owner, [Status.SUCCEEDED])
    both = make_user("creator-reviewer", roles=("creator", "reviewer"))
    assert both.is_staff  # reviewers are staff for the admin; that must not widen batches
    client.force_login(both)
    assert client.get(batch.get_absolute_url()).status_code == 404
    assert Batch.objects.visible_to(admin).filter(pk=batch.pk).exists()


def test_an_admin_sees_a_batch_without_its_private_prompt_title_and_preset_names(
    client, owner, admin, queue
) -> None:
    version = make_prompt(owner, title="Secret fox", text=TEMPLATE).latest_version()
    private = make_preset(owner, "Hidden pro", {"mode": "pro"})
    shared = make_preset(owner, "Team tall", {"aspect_ratio": "9:16"}, visibility="team")
    data = batch_data(prompt_version=version.pk, sweep_preset=[private.pk, shared.pk])
    client.post("/library/batches/new/", data, **HTMX)
    batch = Batch.objects.get()
    mine = client.get(batch.get_absolute_url()).content.decode()
    assert "Secret fox" in mine and "Hidden pro" in mine and "Team tall" in mine
    client.force_login(admin)  # admins see every batch, not others' private library
    for html in (
        client.get(batch.get_absolute_url()).content.decode(),
        client.get(batch.get_absolute_url(), HTTP_HX_TARGET="batch-live", **HTMX).content.decode(),
    ):
        assert "Secret fox" not in html and "Hidden pro" not in html
        assert "Team tall" in html and "a private preset" in html
    private.delete()  # a gone preset's name stays its owner's
    html = client.get(batch.get_absolute_url()).content.decode()
    assert "Hidden pro" not in html


# ---------------------------------------------------------------------------- limits (issue 10 #2)


def test_a_huge_batch_is_refused_before_any_combination_is_built(owner) -> None:
    """Four variables of 60 values were 12,960,000 combinations, all built before the
    maximum was checked (1.1 GB); now the count alone refuses it."""
    prompt = "A {a} and a {b} and a {c} and a {d}"
    values = {f"var_{name}": "\n".join(f"{name}{n}" for n in range(60)) for name in "abcd"}
    tracemalloc.start()
    try:
        plan = batches.plan_batch(owner, query(batch_data(prompt=prompt, **values)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plan.errors == ["A batch may have at most 100 jobs; this one would have more."]
    assert plan.jobs == [] and peak < 5_000_000


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"prompt": " ".join(f"{{v{n}}}" for n in range(11)), "var_v0": "x"},
            "The text has 11 variables; the limit is 10.",
        ),
        (
            {"var_animal": "\n".join(f"a{n}" for n in range(101))},
            "{animal} has 101 values; a variable may have at most 100.",
        ),
        ({"var_place": "y" * 501}, "A value of {place} is over 500 characters, the limit."),
    ],
)
def test_each_batch_limit_says_which_it_is(owner, overrides: dict, message: str) -> None:
    plan = batches.plan_batch(owner, query(batch_data(**overrides)))
    assert message in plan.errors and plan.jobs == []


def test_the_batch_limits_are_settings(owner, settings) -> None:
    settings.STUDIO_BATCH_MAX_VALUES = 2
    settings.STUDIO_BATCH_VALUE_MAX_CHARS = 3
    plan = batches.plan_batch(owner, query(batch_data(var_animal="fox\ncat\nowl")))
    assert "{animal} has 3 values; a variable may have at most 2." in plan.errors
    plan = batches.plan_batch(owner, query(batch_data(var_animal="fox\nbear")))
    assert "A value of {animal} is over 3 characters, the limit." in plan.errors
