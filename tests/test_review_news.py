"""Notifications of review: a creator sees in the nav how many verdicts and comments others
left on their work since they last looked, and the news page lists them (guests' too);
their own comments and other people's work never count."""

from __future__ import annotations

import pytest
from django.utils import timezone

from studio.review import news, threads
from studio.review.models import Review, Verdict
from tests.factories import make_generation

pytestmark = pytest.mark.django_db


def finished(owner, prompt: str):
    return make_generation(
        owner, prompt=prompt, status="succeeded", finished_at=timezone.now(), video="videos/v.mp4"
    )


def notice(client) -> str:
    html = client.get("/history/").content.decode()
    found = html.split('class="review-news"')
    return found[1].split(">", 1)[1].split("<", 1)[0] if len(found) > 1 else ""


def test_a_creator_sees_new_verdicts_and_comments_on_their_work(
    client, owner, reviewer, teammate
) -> None:
    video = finished(owner, "A tin robot waves")
    assert notice(client) == ""
    Review.decide(video, reviewer, Verdict.CHANGES, "Wave slower", at_seconds=1.0)
    note = video.comments.get()
    threads.add(video, {"body": "Also the light", "start_seconds": 2.0}, author=reviewer)
    threads.add(video, {"body": "Love it", "start_seconds": 3.0}, guest_name="Gus")
    threads.add(video, {"body": "Will do", "parent": note}, author=owner)  # their own
    theirs = finished(teammate, "Someone else's robot")
    Review.decide(theirs, reviewer, Verdict.APPROVED)
    assert notice(client) == "3 new on your videos"

    page = client.get("/review/news/").content.decode()
    assert page.index("Love it") < page.index("Also the light") < page.index("Wave slower")
    assert "Changes requested" in page and "badge-guest" in page and "Gus" in page
    assert "Will do" not in page and "Someone else" not in page
    assert page.count('class="news-item is-new"') == 3
    assert notice(client) == ""  # seen
    again = client.get("/review/news/").content.decode()
    assert 'class="news-item is-new"' not in again and "Love it" in again
    threads.add(video, {"body": "One more", "start_seconds": 1.0}, author=reviewer)
    assert notice(client) == "1 new on your videos"


def test_the_count_is_bounded(client, owner, reviewer) -> None:
    video = finished(owner, "A busy robot")
    for n in range(news.SHOWN + 5):
        threads.add(video, {"body": f"Note {n}", "start_seconds": 1.0}, author=reviewer)
    assert notice(client) == f"{news.SHOWN} new on your videos"
