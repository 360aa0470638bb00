"""Comments on the timeline: pinned to a moment or a range, shown as markers, threads with
replies, resolve and reopen, edits within the window, timecodes in the video's own frame
rate (read when the video is stored, backfilled for older rows), drawings as vectors; bad
input refused with a clear message and nothing stored."""

from __future__ import annotations

import importlib
import json
import re
from datetime import timedelta

import pytest
from django.apps import apps as global_apps
from django.utils import timezone

from studio.generations import media
from studio.kling.simulator.render import render_mp4
from studio.review import threads
from studio.review.models import AuditEntry, Comment, Review, Verdict
from tests.factories import make_generation

pytestmark = pytest.mark.django_db


def finished(owner, **kw):
    kw.setdefault("finished_at", timezone.now())
    kw.setdefault("video_seconds", 5.0)
    kw.setdefault("video", "videos/v.mp4")
    return make_generation(owner, status="succeeded", **kw)


def comment(client, video, **data):
    data.setdefault("body", "The horizon tilts here")
    return client.post(f"/review/{video.pk}/comments/", {"next": f"/review/{video.pk}/", **data})


def test_a_reviewer_pins_a_range_comment_and_the_creator_sees_its_marker(
    reviewer_client, client, owner
) -> None:
    video = finished(owner, video_fps=25.0)
    response = comment(reviewer_client, video, start_seconds="1.23", end_seconds="2.5")
    thread = Comment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/review/{video.pk}/#comment-{thread.pk}"
    # Snapped to frame starts at 25 fps: 1.23 s is in frame 30 (1.2 s), 2.5 s in frame 62.
    assert (thread.start_seconds, thread.end_seconds) == (1.2, 2.48)
    assert (thread.author_name, thread.guest, thread.parent) == ("rex", False, None)
    page = client.get(f"/generations/{video.pk}/").content.decode()
    assert f'data-marker="{thread.pk}"' in page
    assert 'data-fps="25"' in page
    assert "00:00:01:05 – 00:00:02:12" in page  # in and out in the video's frames
    assert "The horizon tilts here" in page
    assert AuditEntry.objects.filter(action="comment.add").count() == 1


def test_the_creator_replies_and_the_thread_resolves_and_reopens(
    reviewer_client, client, owner
) -> None:
    video = finished(owner)
    comment(reviewer_client, video, start_seconds="1")
    thread = Comment.objects.get()
    response = comment(client, video, body="Fixed in the next take", parent=str(thread.pk))
    assert response.status_code == 302
    reply = Comment.objects.get(parent=thread)
    assert (reply.author_name, reply.start_seconds) == ("cora", None)
    client.post(f"/review/comments/{thread.pk}/resolve/", {"resolved": "1"})
    thread.refresh_from_db()
    assert thread.resolved_at is not None and thread.resolved_by == owner
    page = client.get(f"/generations/{video.pk}/").content.decode()
    assert "Resolved by cora" in page and "Reopen" in page
    reviewer_client.post(f"/review/comments/{thread.pk}/resolve/", {"resolved": "0"})
    thread.refresh_from_db()
    assert thread.resolved_at is None


def test_only_the_creator_and_reviewers_write_on_a_video(client, owner, teammate) -> None:
    video = finished(owner)
    Review.decide(video, None, Verdict.APPROVED)  # the team sees it now
    client.force_login(teammate)
    assert client.get(f"/generations/{video.pk}/").status_code == 200
    assert "Add comment" not in client.get(f"/generations/{video.pk}/").content.decode()
    assert comment(client, video, start_seconds="1").status_code == 403
    assert not Comment.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"body": "x" * 2001, "start_seconds": "1"}, "body", "at most 2000 characters"),
        ({"body": "  ", "start_seconds": "1"}, "body", "Write the comment."),
        ({"start_seconds": "5.5"}, "start_seconds", "must lie inside the video"),
        ({"start_seconds": "-1"}, "start_seconds", "must lie inside the video"),
        ({"start_seconds": "2", "end_seconds": "9"}, "end_seconds", "must lie inside the video"),
        ({"start_seconds": "2", "end_seconds": "1"}, "end_seconds", "after the in point"),
        ({}, "start_seconds", "Pick the moment"),
        ({"start_seconds": "1", "drawing": "not json"}, "drawing", "not JSON"),
        ({"start_seconds": "1", "drawing": "[" * 19000 + "]" * 19000}, "drawing", "too deeply"),
        (
            {"start_seconds": "1", "drawing": json.dumps([{"tool": "pen", "color": "pink"}])},
            "drawing",
            "colour must be one of",
        ),
        (
            {
                "start_seconds": "1",
                "drawing": json.dumps(
                    [{"tool": "pen", "color": "red", "points": [[0.1, 0.1]] * 1001}]
                ),
            },
            "drawing",
            "more than 1000 points",
        ),
        (
            {
                "start_seconds": "1",
                "drawing": json.dumps(
                    [{"tool": "box", "color": "red", "points": [[0.1, 0.1], [2, 0.5]]}]
                ),
            },
            "drawing",
            "between 0 and 1",
        ),
        ({"parent": "999999", "start_seconds": "1"}, "parent", "not on this video"),
    ],
)
def test_bad_comments_are_refused_with_a_message_and_nothing_is_stored(
    reviewer_client, owner, data, field, message
) -> None:
    video = finished(owner)
    response = comment(reviewer_client, video, **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    if "body" in data and data["body"].strip():
        assert data["body"][:50] in response.content.decode()  # what was typed is kept
    assert not Comment.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="comment.").exists()


def test_a_drawing_is_stored_as_vectors_and_drawn_over_the_video(
    reviewer_client, client, owner
) -> None:
    video = finished(owner)
    shapes = [
        {"tool": "box", "color": "yellow", "points": [[0.6, 0.2], [0.1, 0.4]]},
        {"tool": "arrow", "color": "red", "points": [[0.5, 0.5], [0.75, 0.25]]},
        {"tool": "pen", "color": "blue", "points": [[0.1, 0.9], [0.2, 0.8], [0.3, 0.85]]},
    ]
    comment(reviewer_client, video, start_seconds="2", drawing=json.dumps(shapes))
    thread = Comment.objects.get()
    assert thread.drawing == shapes
    page = client.get(f"/generations/{video.pk}/").content.decode()
    assert f'data-drawing="{thread.pk}"' in page
    # In the layer's viewBox, the video's own shape (16:9: 1778 by 1000 units).
    assert 'viewBox="0 0 1778 1000" preserveAspectRatio="xMidYMid meet"' in page
    assert '<rect class="ink ink-yellow" x="177.8" y="200.0" width="889.0" height="200.0">' in page
    assert 'points="889.0,500.0 1333.5,250.0"' in page
    assert 'points="177.8,900.0 355.6,800.0 533.4,850.0"' in page
    portrait = finished(owner, aspect_ratio="9:16", video_width=720, video_height=1280)
    comment(reviewer_client, portrait, start_seconds="1", drawing=json.dumps(shapes[:1]))
    tall = client.get(f"/generations/{portrait.pk}/").content.decode()
    assert 'viewBox="0 0 562 1000"' in tall
    assert 'x="56.2" y="200.0" width="281.0" height="200.0"' in tall


def test_the_author_edits_within_the_window_and_no_one_else_may(
    reviewer_client, client, owner, settings
) -> None:
    video = finished(owner)
    comment(reviewer_client, video, start_seconds="1")
    thread = Comment.objects.get()
    assert (
        client.post(f"/review/comments/{thread.pk}/edit/", {"body": "Mine now"}).status_code == 302
    )
    thread.refresh_from_db()
    assert thread.body == "The horizon tilts here"  # the creator is not its author
    reviewer_client.post(f"/review/comments/{thread.pk}/edit/", {"body": "Tilts left here"})
    thread.refresh_from_db()
    assert (thread.body, thread.edited_at is not None) == ("Tilts left here", True)
    assert "edited" in client.get(f"/generations/{video.pk}/").content.decode()
    Comment.objects.filter(pk=thread.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    response = reviewer_client.post(
        f"/review/comments/{thread.pk}/edit/", {"body": "Too late"}, follow=True
    )
    assert "within 10 minutes" in response.content.decode()
    thread.refresh_from_db()
    assert thread.body == "Tilts left here"
    assert AuditEntry.objects.filter(action="comment.edit").count() == 1


def test_a_decision_with_a_range_opens_a_thread_on_the_timeline(reviewer_client, owner) -> None:
    video = finished(owner)
    reviewer_client.post(
        f"/review/{video.pk}/",
        {"verdict": "changes", "comment": "Slower pan", "at_seconds": "1", "end_seconds": "3"},
    )
    thread = Comment.objects.get()
    assert (thread.verdict, thread.start_seconds, thread.end_seconds) == ("changes", 1.0, 3.0)
    response = reviewer_client.post(
        f"/review/{video.pk}/",
        {
            "verdict": "changes",
            "comment": "Out past the end",
            "at_seconds": "1",
            "end_seconds": "8",
        },
    )
    assert response.status_code == 200
    assert "must lie inside the video" in response.content.decode()
    assert Comment.objects.count() == 1


def test_timecodes_count_frames_in_the_videos_own_rate() -> None:
    assert threads.timecode(0, 24) == "00:00:00:00"
    assert threads.timecode(1.5, 24) == "00:00:01:12"
    assert threads.timecode(61.04, 25) == "00:01:01:01"
    assert threads.timecode(3661.0, 30) == "01:01:01:00"
    assert threads.snap(1.999, 24) == 1.958  # frame 47 starts at 1.9583 s


def test_the_frame_rate_is_read_when_stored_and_assumed_otherwise(tmp_path, client, owner) -> None:
    path = tmp_path / "v.mp4"
    render_mp4(path, "a fox", duration_s=1, fps=25)
    assert media.probe(path).fps == 25.0
    assert media.read_frame_rate(path) == 25.0
    assert media.read_frame_rate(tmp_path / "missing.mp4") is None
    video = finished(owner)
    assert (video.video_fps, video.fps) == (None, 24.0)
    page = client.get(f"/generations/{video.pk}/").content.decode()
    assert "24 fps (assumed: the file's frame rate was not recorded)" in page
    page_fps = finished(owner, video_fps=30.0)
    assert page_fps.fps == 30.0


def test_the_migration_backfills_frame_rates_from_the_stored_files(settings, tmp_path, owner):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "videos").mkdir()
    render_mp4(tmp_path / "videos" / "old.mp4", "old", duration_s=1, fps=30)
    (tmp_path / "videos" / "broken.mp4").write_bytes(b"not a video")
    old = finished(owner, video="videos/old.mp4")
    broken = finished(owner, video="videos/broken.mp4")
    migration = importlib.import_module("studio.generations.migrations.0008_shots_and_frame_rate")
    migration.frame_rates(global_apps, None)
    old.refresh_from_db()
    broken.refresh_from_db()
    assert (old.video_fps, broken.video_fps, broken.fps) == (30.0, None, 24.0)


def test_the_review_page_has_no_duplicate_ids(reviewer_client, owner) -> None:
    video = finished(owner)
    page = reviewer_client.get(f"/review/{video.pk}/").content.decode()
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
