"""Property tests (Hypothesis, tests/test_properties.py's rules) over what this issue added
that takes what a person sends: a guest's comment through a share link, the share form, the
review queue's filters and its bulk verdicts. For any input: no 500, an answer in time, and
nothing stored unless the form took it."""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from studio.review import sharing
from studio.review.models import Comment, Review, ShareLink
from tests.factories import make_generation, signed_in
from tests.test_properties import DRAWING, PROPERTY, TEXT, answer, draw_form, field

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(owner, reviewer) -> dict:
    video = make_generation(owner, status="succeeded", video="videos/v.mp4", video_seconds=5.0)
    link, token = sharing.create(reviewer, "video", video.pk, days=1, can_comment=True)
    return {"video": video, "token": token, "link": link, "reviewer": signed_in(reviewer)}


@PROPERTY
@given(data=st.data())
def test_guest_comments_never_fail_and_store_only_what_the_form_took(shared, data) -> None:
    video, token = shared["video"], shared["token"]
    fields = {
        "name": st.one_of(TEXT, field("Gus", "g" * 81)),
        "body": st.one_of(TEXT, field("Warmer", "b" * 2001)),
        "start_seconds": field(0, 1.5, 5, 3601, -1),
        "end_seconds": field(2.5, 6, -1),
        "drawing": DRAWING,
        "parent": field(1, 2, 2**70),
        "next": field(f"/s/{token}/", "//evil.example/", "https://evil.example/"),
    }
    sent = draw_form(data, fields, {"name": "Gus", "body": "Warmer", "start_seconds": "1"})
    before = Comment.objects.count()
    response = answer(Client().post, f"/s/{token}/v/{video.pk}/comments/", sent)
    assert "evil" not in response.get("Location", "")
    stored = Comment.objects.count() - before
    assert stored == (1 if response.status_code == 302 else 0)
    if stored:
        assert Comment.objects.latest("pk").guest is True


@PROPERTY
@given(data=st.data())
def test_the_share_form_never_fails(shared, data) -> None:
    video = shared["video"]
    query = draw_form(
        data,
        {"kind": field("video", "shot", "batch"), "id": field(video.pk, video.shot_id)},
        {"kind": "video", "id": str(video.pk)},
    )
    terms = draw_form(
        data,
        {"days": field(1, 7, 30, 31, 0), "password": TEXT, "can_comment": field("on", "")},
        {"days": "7"},
    )
    before = ShareLink.objects.count()
    url = "/review/share/?" + "&".join(f"{k}={v}" for k, v in query.items() if isinstance(v, str))
    response = answer(shared["reviewer"].post, url, terms)
    assert ShareLink.objects.count() - before == (1 if response.status_code == 200 else 0)


@PROPERTY
@given(data=st.data())
def test_the_queue_filters_and_bulk_verdicts_never_fail(shared, data) -> None:
    video = shared["video"]
    filters = draw_form(
        data,
        {
            "owner": field(1, 2),
            "q": TEXT,
            "model_name": field("kling-v1"),
            "batch": field(video.pk),
            "waiting": field(1, 24, 72, 5),
            "page": field(1, 2, 0),
        },
        {"q": "fox"},
    )
    answer(shared["reviewer"].get, "/review/", filters)
    bulk = draw_form(
        data,
        {
            "ids": field(video.pk, video.shot_id),
            "verdict": field("approved", "rejected", "changes"),
            "comment": st.one_of(TEXT, field("x" * 2001)),
        },
        {"ids": str(video.pk), "verdict": "rejected", "comment": "Off brief"},
    )
    decided = Review.objects.filter(generation=video).exists()
    response = answer(shared["reviewer"].post, "/review/bulk/", bulk)
    assert response.status_code == 302
    if not decided and Review.objects.filter(generation=video).exists():
        assert Review.objects.get(generation=video).verdict in ("approved", "rejected")
