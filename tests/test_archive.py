"""Archive (issue 12, 3): its owner takes a finished generation out of the studio queue and
History's default view; the Archived filter shows it, Unarchive brings it back. Nothing else
moves: its files, its review, the gallery. A running job cannot be archived. The browser
side: tests/browser/test_archive_journey.py."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from studio.generations.models import Generation
from studio.review.models import Review
from tests.factories import HTMX, make_generation, make_user, signed_in

pytestmark = pytest.mark.django_db

ARCHIVE_FORM = re.compile(r'<form id="archive-([0-9a-f-]+)"')


def listed(response) -> list[str]:
    return re.findall(r'name="ids" value="([0-9a-f-]+)"', response.content.decode())


def archive(client, generation, archived: bool = True, shown_on: str = "tile", **headers):
    data = {"archive": "1" if archived else "0", "shown_on": shown_on, "next": "/history/"}
    return client.post(f"/generations/{generation.pk}/archive/", data, **headers)


def finished(owner, **kw) -> Generation:
    return make_generation(owner, status="succeeded", video="videos/v.mp4", poster="p.jpg", **kw)


def test_an_archived_tile_leaves_history_and_the_archived_filter_shows_it(client, owner) -> None:
    kept, gone = finished(owner, prompt="Kept"), finished(owner, prompt="Gone")
    response = archive(client, gone, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="activity-announcer" hx-swap-oob="innerHTML"' in html and "Archived: Gone" in html
    assert listed(client.get("/history/")) == [str(kept.pk)]
    archived = client.get("/history/", {"archived": "only"})
    assert listed(archived) == [str(gone.pk)]
    assert ">Unarchive</button>" in archived.content.decode()
    assert set(listed(client.get("/history/", {"archived": "all"}))) == {str(kept.pk), str(gone.pk)}


def test_unarchive_brings_it_back(client, owner) -> None:
    generation = finished(owner, prompt="Back again")
    archive(client, generation, **HTMX)
    response = archive(client, generation, archived=False, **HTMX)
    assert "Unarchived: Back again" in response.content.decode()
    generation.refresh_from_db()
    assert generation.archived_at is None
    assert listed(client.get("/history/")) == [str(generation.pk)]


def test_a_bad_filter_still_hides_the_archived(client, owner) -> None:
    generation = finished(owner)
    archive(client, generation)
    assert listed(client.get("/history/", {"date_from": "not a date"})) == []


def test_the_studio_queue_drops_an_archived_card_and_its_poll_never_brings_it_back(
    client, owner
) -> None:
    shown, gone = finished(owner, prompt="Shown"), finished(owner, prompt="Gone")
    running = make_generation(owner, status="processing", prompt="Running")
    page = client.get("/").content.decode()
    assert f'hx-target="#gen-{gone.pk}" hx-swap="delete"' in page
    archive(client, gone, shown_on="card", **HTMX)
    page = client.get("/").content.decode()
    assert f'id="gen-{gone.pk}"' not in page and f'id="gen-{shown.pk}"' in page
    # The card changing later (a verdict, say) is not sent to the queue again.
    Generation.objects.filter(pk=gone.pk).update(updated_at=timezone.now())
    poll = client.get("/queue/updates/", {"since": "0"}, **HTMX).content.decode()
    assert f"gen-{gone.pk}" not in poll and f"gen-{running.pk}" in poll


def test_archiving_does_not_touch_updated_at_the_files_or_the_review(client, owner, reviewer):
    generation = finished(owner, video_bytes=10)
    Review.decide(generation, make_user("cleo", roles=("reviewer",)), "approved", "Good")
    generation.refresh_from_db()
    before = Generation.objects.values().get(pk=generation.pk)
    archive(client, generation, **HTMX)
    after = Generation.objects.values().get(pk=generation.pk)
    assert after.pop("archived_at") is not None and before.pop("archived_at") is None
    assert after == before  # video, poster, byte counts, updated_at, team_visible
    assert Review.objects.get(generation=generation).verdict == "approved"


def test_an_approved_archived_video_stays_in_the_gallery(client, owner, teammate) -> None:
    generation = finished(owner, prompt="Approved aurora")
    Review.decide(generation, make_user("cleo", roles=("reviewer",)), "approved", "Great")
    archive(client, generation)
    assert "Approved aurora" in signed_in(teammate).get("/gallery/").content.decode()


def test_a_running_job_offers_no_archive_and_is_refused(client, owner) -> None:
    running = make_generation(owner, status="processing")
    attention = make_generation(owner, status="attention")
    assert ARCHIVE_FORM.findall(client.get("/").content.decode()) == []
    for job in (running, attention):
        response = archive(client, job, **HTMX)
        assert response["HX-Refresh"] == "true"
        job.refresh_from_db()
        assert job.archived_at is None
    assert (
        "Not archived: a job is archived once it has finished." in client.get("/").content.decode()
    )
    assert f'id="gen-{running.pk}"' in client.get("/").content.decode()  # still tracked


@pytest.mark.parametrize("role", ["teammate", "reviewer", "admin"])
def test_only_the_owner_may_archive(client, owner, role) -> None:
    generation = finished(owner)
    Review.decide(generation, make_user("cleo", roles=("reviewer",)), "approved", "Good")
    other = signed_in(make_user(f"other-{role}", roles=(role,) if role != "teammate" else None))
    html = other.get(f"/generations/{generation.pk}/").content.decode()
    assert other.get(f"/generations/{generation.pk}/").status_code == 200  # they may see it
    assert "archive-form" not in html
    assert archive(other, generation).status_code == 404
    generation.refresh_from_db()
    assert generation.archived_at is None


def test_without_javascript_it_is_a_post_back_to_the_page(client, owner) -> None:
    generation = finished(owner, prompt="Plain post")
    response = archive(client, generation)
    assert response.status_code == 302 and response["Location"] == "/history/"
    assert "Archived: Plain post." in client.get("/history/").content.decode()
    away = client.post(
        f"/generations/{generation.pk}/archive/", {"archive": "0", "next": "https://evil.test/"}
    )
    assert away["Location"] == generation.get_absolute_url()


def test_the_generation_page_swaps_its_form_in_place(client, owner) -> None:
    generation = finished(owner, prompt="On its page")
    page = client.get(f"/generations/{generation.pk}/").content.decode()
    assert f'<form id="archive-{generation.pk}"' in page and 'hx-target="this"' in page
    response = archive(client, generation, shown_on="page", **HTMX).content.decode()
    assert response.lstrip().startswith(f'<form id="archive-{generation.pk}"')
    assert ">Unarchive</button>" in response and 'id="detail-announcer"' in response
    assert "Archived</span>" in client.get(f"/generations/{generation.pk}/").content.decode()
