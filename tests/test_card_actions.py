"""What queue cards and history tiles offer (issue 12, 3): Remix, Run again, add to compare,
Keep (the star of the prompt the video came from); a failed card, Remix with its fix hint.
The browser side: tests/browser/test_card_actions_journey.py."""

from __future__ import annotations

import re
from decimal import Decimal

from studio.generations.models import Generation
from studio.library.models import Star
from studio.review.models import Budget
from tests.factories import HTMX, make_generation, make_prompt

ONE_UNIT = {"model_name": "kling-v1", "mode": "std", "duration": "5"}


def card(html: str, generation) -> str:
    found = re.search(rf'<article id="gen-{generation.pk}".*?</article>', html, re.S)
    assert found, f"no card for {generation.pk}"
    return found[0]


def test_a_finished_card_offers_remix_run_again_compare_and_download(client, owner) -> None:
    done = make_generation(owner, status="succeeded", video="videos/v.mp4", poster="p.jpg")
    html = card(client.get("/").content.decode(), done)
    assert f'href="/?remix={done.pk}">Remix</a>' in html
    assert f'hx-post="/generations/{done.pk}/run-again/"' in html
    assert 'name="csrfmiddlewaretoken"' in html  # and a plain POST without JavaScript
    assert f'data-compare-add="{done.pk}"' in html
    assert f"/generations/{done.pk}/video.mp4?download=1" in html


def test_a_failed_card_offers_remix_with_its_fix_hint(client, owner) -> None:
    failed = make_generation(owner, status="failed", error_code="1301", status_msg="Blocked")
    html = card(client.get("/").content.decode(), failed)
    assert "Remix to fix it</a>" in html
    assert '<p class="hint">' in html and "prompt" in html.split('<p class="hint">')[1].lower()
    assert "data-compare-add" not in html  # nothing to watch


def test_a_running_card_cannot_be_run_again_yet(client, owner) -> None:
    running = make_generation(owner, status="processing")
    html = card(client.get("/").content.decode(), running)
    assert "run-again" not in html and "Remix</a>" in html


def test_history_tiles_carry_the_actions_without_nesting_forms(client, owner) -> None:
    done = make_generation(owner, status="succeeded", video="videos/v.mp4", poster="p.jpg")
    html = client.get("/history/").content.decode()
    compare = re.search(r'<form method="get" action="/compare/".*?</form>', html, re.S)[0]
    assert "<form" not in compare[5:]  # the compare form holds only its bar
    assert f'value="{done.pk}" form="compare-form"' in html
    assert f'action="/generations/{done.pk}/run-again/"' in html
    assert f'href="/?remix={done.pk}"' in html


def test_run_again_from_a_card_refreshes_the_page_with_the_new_job(client, owner, queue) -> None:
    done = make_generation(owner, status="succeeded", **ONE_UNIT)
    response = client.post(f"/generations/{done.pk}/run-again/", **HTMX)
    assert response.status_code == 200 and response["HX-Refresh"] == "true"
    again = Generation.objects.exclude(pk=done.pk).get()
    assert again.params() == done.params()
    page = client.get("/").content.decode()
    assert "Queued again with the same parameters." in page and f"gen-{again.pk}" in page


def test_a_refused_run_again_from_a_card_says_why_on_the_page(client, owner, queue) -> None:
    done = make_generation(owner, status="succeeded", **ONE_UNIT)
    Budget.objects.create(user=owner, monthly_units=Decimal("0.5"))
    response = client.post(f"/generations/{done.pk}/run-again/", **HTMX)
    assert response["HX-Refresh"] == "true"
    assert Generation.objects.count() == 1
    assert "Not sent" in client.get("/").content.decode()


def test_keep_stars_the_prompt_the_video_came_from(client, owner, teammate) -> None:
    prompt = make_prompt(owner, title="Harbour", visibility="team")
    version = prompt.versions.get()
    done = make_generation(owner, status="succeeded", prompt_version=version)
    plain = make_generation(owner, status="succeeded")
    html = client.get("/").content.decode()
    assert f'action="/library/prompts/{prompt.pk}/star/"' in card(html, done)
    assert "star-form" not in card(html, plain)  # composed by hand: no prompt to star
    client.post(f"/library/prompts/{prompt.pk}/star/", **HTMX)
    assert Star.objects.filter(user=owner, prompt=prompt).exists()
    assert 'aria-pressed="true"' in card(client.get("/").content.decode(), done)


def test_keep_is_not_offered_for_a_prompt_the_viewer_may_not_see(client, owner, teammate) -> None:
    private = make_prompt(teammate, title="Secret", visibility="private")
    theirs = make_generation(owner, status="succeeded", prompt_version=private.versions.get())
    assert "star-form" not in card(client.get("/").content.decode(), theirs)


def test_back_to_the_studio_loads_the_queue_again(client, owner) -> None:
    # A copy from the browser's cache showed the queue as first loaded, with no poll.
    assert "no-store" in client.get("/")["Cache-Control"]
