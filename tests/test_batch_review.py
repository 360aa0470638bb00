"""A batch shown before anything is paid, and compared after (issue 12, 6): the preview lists
every expanded prompt with its parameters; the batch page compares the finished ones and
sends reviewers to approve the best. The browser side: tests/browser/test_batch_journey.py."""

from __future__ import annotations

import uuid

from studio.library.models import Batch
from tests.factories import HTMX, make_generation, studio_form


def batch_data(**overrides) -> dict:
    data = studio_form(prompt="A {animal} in the {place}", presets="", prompt_version="")
    del data["client_request_id"]
    return data | {
        "var_animal": "fox\nowl",
        "var_place": "forest\nmeadow",
        "sweep_cfg": "0.3, 0.7",
        "model_name": "kling-v1",
        "batch_id": str(uuid.uuid4()),
        **overrides,
    }


def test_the_preview_lists_every_prompt_with_its_parameters(client, owner) -> None:
    html = client.post("/library/batches/preview/", batch_data(), **HTMX).content.decode()
    assert "Show the 8 prompts it sends" in html
    for animal in ("fox", "owl"):
        for place in ("forest", "meadow"):
            assert html.count(f"A {animal} in the {place}</span>") == 2  # cfg 0.3 and 0.7
    assert html.count("Kling 1.0 · std · 5 s · 16:9 · cfg 0.3") == 4
    assert html.count("· cfg 0.7</span>") == 4


def test_the_batch_page_compares_finished_videos_and_reviewers_approve(
    client, owner, admin
) -> None:
    batch = Batch.objects.create(owner=owner, template="A {x}", variables={"x": ["a", "b"]}, size=3)
    done = [
        make_generation(owner, status="succeeded", video="v.mp4", batch=batch) for _ in range(2)
    ]
    running = make_generation(owner, status="processing", batch=batch)
    batch.items = [
        {"label": f"x: {n}", "generation": str(g.pk)} for n, g in enumerate([*done, running])
    ]
    batch.save()
    html = client.get(batch.get_absolute_url()).content.decode()
    assert 'id="batch-compare" data-compare-form' in html
    for generation in done:
        assert f'value="{generation.pk}" form="batch-compare"' in html
    assert f'value="{running.pk}"' not in html
    assert 'href="/review/' not in html  # creators do not review
    client.force_login(admin)  # an admin reviews, and sees every batch
    html = client.get(batch.get_absolute_url()).content.decode()
    assert f'href="/review/{done[0].pk}/" aria-label="Review and approve: x: 0"' in html


def test_a_reviewer_approves_the_best_from_the_batch_page(client, owner, admin) -> None:
    from studio.review.models import Review

    batch = Batch.objects.create(owner=owner, template="A {x}", variables={"x": ["a"]}, size=1)
    best = make_generation(owner, status="succeeded", video="v.mp4", batch=batch)
    batch.items = [{"label": "x: a", "generation": str(best.pk)}]
    batch.save()
    client.force_login(admin)
    html = client.get(batch.get_absolute_url()).content.decode()
    assert 'aria-label="Approve as the best: x: a"' in html
    data = {"verdict": "approved", "next": batch.get_absolute_url()}
    response = client.post(f"/review/{best.pk}/", data)
    assert response.status_code == 302 and response["Location"] == batch.get_absolute_url()
    assert Review.objects.get(generation=best).verdict == "approved"
    elsewhere = client.post(f"/review/{best.pk}/", {**data, "next": "https://evil.example/"})
    assert "evil" not in elsewhere["Location"]  # only back into the studio
