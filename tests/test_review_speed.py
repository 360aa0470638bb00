"""Reviewing at speed: bulk approve and reject from the review queue (a rejection says why,
a self-approval is refused per video), the queue's filters (creator, prompt, model, batch,
waiting time), and the next and previous video the review page's keys go to."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from studio.review.models import AuditEntry, Review
from tests.factories import give_roles, make_generation

pytestmark = pytest.mark.django_db


def waiting(owner, prompt: str, hours: float = 0, **kw):
    kw.setdefault("finished_at", timezone.now() - timedelta(hours=hours))
    return make_generation(owner, prompt=prompt, status="succeeded", **kw)


def test_a_reviewer_approves_several_videos_from_the_queue(reviewer_client, owner) -> None:
    one, two, three = (waiting(owner, f"Lantern {n}", hours=n) for n in (3, 2, 1))
    response = reviewer_client.post(
        "/review/bulk/", {"ids": [one.pk, two.pk], "verdict": "approved"}, follow=True
    )
    assert "Approved: 2 videos." in response.content.decode()
    assert set(Review.objects.values_list("generation_id", flat=True)) == {one.pk, two.pk}
    assert AuditEntry.objects.filter(action="review.approved").count() == 2
    queue = reviewer_client.get("/review/").content.decode()
    waiting_part = queue.split('id="waiting-title"')[1].split('id="recent-title"')[0]
    assert "Lantern 1" in waiting_part and "Lantern 3" not in waiting_part
    assert three.pk not in Review.objects.values_list("generation_id", flat=True)


def test_a_bulk_rejection_needs_a_reason_and_nothing_is_decided_without_one(
    reviewer_client, owner
) -> None:
    one = waiting(owner, "Lantern")
    response = reviewer_client.post(
        "/review/bulk/", {"ids": [one.pk], "verdict": "rejected"}, follow=True
    )
    assert "Say why they are rejected." in response.content.decode()
    assert not Review.objects.exists()
    reviewer_client.post(
        "/review/bulk/", {"ids": [one.pk], "verdict": "rejected", "comment": "Off brief"}
    )
    review = Review.objects.get()
    assert (review.verdict, review.comment) == ("rejected", "Off brief")
    assert review.generation.comments.get().body == "Off brief"  # a thread, as one by one


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"verdict": "approved"}, "Tick the videos to decide on."),
        ({"ids": ["not-a-uuid"], "verdict": "approved"}, "is not a valid UUID"),
        ({"ids": ["00000000-0000-0000-0000-000000000000"], "verdict": "approved"}, "no longer"),
        ({"ids": "__pk__", "verdict": "changes"}, "Select a valid choice"),
    ],
)
def test_bad_bulk_requests_are_refused_with_a_message(reviewer_client, owner, data, message):
    one = waiting(owner, "Lantern")
    data = {**data, "ids": [one.pk]} if data.get("ids") == "__pk__" else data
    response = reviewer_client.post("/review/bulk/", data, follow=True)
    assert response.status_code == 200 and message in response.content.decode()
    assert not Review.objects.exists()


def test_bulk_review_only_reaches_waiting_videos_one_may_review(
    reviewer_client, client, owner, reviewer
) -> None:
    running = make_generation(owner, prompt="Running", status="processing")
    decided = waiting(owner, "Decided")
    Review.decide(decided, reviewer, "changes", "Warmer")
    reviewer_client.post("/review/bulk/", {"ids": [running.pk, decided.pk], "verdict": "approved"})
    assert Review.objects.get(generation=decided).verdict == "changes"
    assert not Review.objects.filter(generation=running).exists()
    mine = waiting(owner, "Mine")
    assert (
        client.post("/review/bulk/", {"ids": [mine.pk], "verdict": "approved"}).status_code == 403
    )


def test_a_bulk_approval_skips_the_reviewers_own_video(reviewer_client, reviewer, owner):
    give_roles(reviewer, "reviewer", "creator")
    own = waiting(reviewer, "My own lantern")
    theirs = waiting(owner, "Their lantern")
    response = reviewer_client.post(
        "/review/bulk/", {"ids": [own.pk, theirs.pk], "verdict": "approved"}, follow=True
    )
    page = response.content.decode()
    assert "Approved: 1 video." in page and "Not decided: My own lantern" in page
    assert list(Review.objects.values_list("generation_id", flat=True)) == [theirs.pk]


def test_the_queue_filters_by_creator_prompt_model_batch_and_waiting_time(
    reviewer_client, owner, teammate
) -> None:
    from studio.library.models import Batch

    batch = Batch.objects.create(owner=owner, template="A {x} lantern", size=1)
    waiting(owner, "Old paper lantern", hours=30)
    waiting(owner, "Fresh paper lantern", hours=0.1, model_name="kling-v1")
    waiting(teammate, "Teammate lantern", hours=2)
    waiting(owner, "Batch lantern", hours=0.2, batch=batch)

    def shown(**query) -> set[str]:
        page = reviewer_client.get("/review/", query).content.decode()
        part = page.split('id="waiting-title"')[1].split('id="recent-title"')[0]
        names = ("Old paper", "Fresh paper", "Teammate lantern", "Batch lantern")
        return {name for name in names if name in part}

    assert shown() == {"Old paper", "Fresh paper", "Teammate lantern", "Batch lantern"}
    assert shown(owner=teammate.pk) == {"Teammate lantern"}
    assert shown(q="paper") == {"Old paper", "Fresh paper"}
    assert shown(model_name="kling-v1") == {"Fresh paper"}
    assert shown(batch=str(batch.pk)) == {"Batch lantern"}
    assert shown(waiting="24") == {"Old paper"}
    assert shown(waiting="1") == {"Old paper", "Teammate lantern"}
    assert shown(owner="999999") == {
        "Old paper",
        "Fresh paper",
        "Teammate lantern",
        "Batch lantern",
    }
    assert (
        "Select a valid choice"
        in reviewer_client.get("/review/", {"waiting": "5"}).content.decode()
    )


def test_the_review_page_links_the_next_and_previous_waiting_videos(reviewer_client, owner) -> None:
    first, middle, last = (
        waiting(owner, f"Queue {n}", hours=h) for n, h in ((1, 3), (2, 2), (3, 1))
    )
    page = reviewer_client.get(f"/review/{middle.pk}/").content.decode()
    assert f'href="/review/{last.pk}/" data-key-next' in page
    assert f'href="/review/{first.pk}/" data-key-previous' in page
    assert 'id="shortcuts"' in page and "<kbd>J</kbd>" in page
    page = reviewer_client.get(f"/review/{last.pk}/").content.decode()
    assert f'href="/review/{first.pk}/" data-key-next' in page  # wraps to the oldest
