"""Review: finished videos enter the queue, a reviewer gives a verdict with a comment pinned
to a time, the creator sees it on the generation and in history, approved videos are in the
team gallery (filter by prompt, tag and model; download the original)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from studio.review.models import AuditEntry, Decision, Review, SelfApprovalRefused, Verdict
from tests.factories import HTMX, give_roles, make_generation

pytestmark = pytest.mark.django_db


def finished(owner, **kw):
    kw.setdefault("finished_at", timezone.now())
    return make_generation(owner, status="succeeded", poster="posters/p.jpg", **kw)


def test_finished_videos_wait_in_the_queue_oldest_first(reviewer_client, reviewer, owner) -> None:
    now = timezone.now()
    newer = finished(owner, prompt="Newer lighthouse", finished_at=now)
    older = finished(owner, prompt="Older lighthouse", finished_at=now - timedelta(hours=1))
    make_generation(owner, status="processing", prompt="Still running")
    decided = finished(owner, prompt="Already decided")
    Review.decide(decided, reviewer, Verdict.APPROVED)
    html = reviewer_client.get("/review/").content.decode()
    queue = html.split('id="waiting-title"')[1].split('id="recent-title"')[0]
    assert queue.index("Older lighthouse") < queue.index("Newer lighthouse")
    assert "Still running" not in html
    assert "Already decided" not in queue
    assert f"/review/{older.pk}/" in queue and f"/review/{newer.pk}/" in queue


def test_a_reviewer_approves_with_a_comment_pinned_to_a_time(
    reviewer_client, reviewer, owner
) -> None:
    video = finished(owner, prompt="A kite over dunes")
    following = finished(owner, prompt="Next in line", finished_at=timezone.now())
    page = reviewer_client.get(f"/review/{video.pk}/").content.decode()
    assert 'id="review-video"' in page and "Use current time" in page
    response = reviewer_client.post(
        f"/review/{video.pk}/",
        {"verdict": "approved", "comment": "Lovely light at the end", "at_seconds": "3.4"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/review/{following.pk}/"  # on to the next one
    review = Review.objects.get(generation=video)
    # Snapped to the start of the frame 3.4 s falls in (frame 81 at the assumed 24 fps).
    assert (review.verdict, review.reviewer, review.at_seconds) == ("approved", reviewer, 3.375)
    decision = Decision.objects.get(generation=video)
    assert decision.comment == "Lovely light at the end"
    entry = AuditEntry.objects.get(action="review.approved")
    assert entry.actor == reviewer and entry.before == {"verdict": "in review"}
    assert entry.after["comment"] == "Lovely light at the end"


def test_changes_and_rejections_need_a_comment(reviewer_client, reviewer, owner) -> None:
    video = finished(owner)
    response = reviewer_client.post(f"/review/{video.pk}/", {"verdict": "rejected", "comment": " "})
    assert response.status_code == 200
    assert "Say what should change" in response.content.decode()
    assert not Review.objects.exists()


def test_the_last_verdict_counts_and_every_one_is_kept(reviewer_client, reviewer, owner) -> None:
    video = finished(owner)
    reviewer_client.post(f"/review/{video.pk}/", {"verdict": "changes", "comment": "Too dark"})
    response = reviewer_client.post(f"/review/{video.pk}/", {"verdict": "approved", "comment": ""})
    assert response["Location"] == "/review/"  # nothing else waiting
    assert Review.objects.get(generation=video).verdict == "approved"
    assert list(Decision.objects.values_list("verdict", flat=True)) == ["changes", "approved"]


def test_unfinished_videos_cannot_be_reviewed(reviewer_client, reviewer, owner) -> None:
    running = make_generation(owner, status="processing")
    assert reviewer_client.get(f"/review/{running.pk}/").status_code == 404
    assert (
        reviewer_client.post(f"/review/{running.pk}/", {"verdict": "approved"}).status_code == 404
    )


def test_the_creator_sees_in_review_then_the_verdict(client, owner, reviewer) -> None:
    video = finished(owner, prompt="Rain on a tin roof")
    assert "In review" in client.get(f"/generations/{video.pk}/").content.decode()
    assert "In review" in client.get("/history/").content.decode()
    assert "In review" in client.get("/").content.decode()  # the queue card
    Review.decide(video, reviewer, "changes", "Slower, please", 2.5)
    page = client.get(f"/generations/{video.pk}/").content.decode()
    assert "Changes requested" in page and "Slower, please" in page
    assert 'data-seek="2.5"' in page and "at 0:02.5" in page
    assert "Review this video" not in page  # creators do not review
    assert "Changes requested" in client.get("/history/?view=list").content.decode()


def test_approved_videos_are_in_the_team_gallery(client, owner, teammate, reviewer) -> None:
    approved = finished(owner, prompt="Approved aurora", model_name="kling-v2-6")
    rejected = finished(owner, prompt="Rejected aurora")
    waiting = finished(owner, prompt="Waiting aurora")
    Review.decide(approved, reviewer, "approved", "Great for the campaign")
    Review.decide(rejected, reviewer, "rejected", "No")
    client.force_login(teammate)
    html = client.get("/gallery/").content.decode()
    assert "Approved aurora" in html and "Great for the campaign" in html
    assert "Rejected aurora" not in html and "Waiting aurora" not in html
    assert f"/generations/{approved.pk}/video.mp4?download=1" in html
    assert f"/generations/{waiting.pk}/" not in html
    assert "1 approved video" in html


def test_the_gallery_filters_by_prompt_and_model(client, owner, reviewer) -> None:
    fox = finished(owner, prompt="A fox in snow", model_name="kling-v1-6")
    owl = finished(owner, prompt="An owl at night", model_name="kling-v2-6")
    for video in (fox, owl):
        Review.decide(video, reviewer, "approved")
    by_text = client.get("/gallery/", {"q": "fox"}).content.decode()
    assert "A fox in snow" in by_text and "An owl at night" not in by_text
    by_model = client.get("/gallery/", {"model_name": "kling-v2-6"}).content.decode()
    assert "An owl at night" in by_model and "A fox in snow" not in by_model
    fragment = client.get(
        "/gallery/", {"q": "owl"}, **HTMX, HTTP_HX_TARGET="gallery-results"
    ).content.decode()
    assert fragment.lstrip().startswith('<div id="gallery-results"')


def test_the_gallery_filters_by_library_tag(client, owner, reviewer) -> None:
    library = pytest.importorskip("studio.library.models")
    prompt = library.Prompt.objects.create(owner=owner, title="Nature")
    prompt.set_tags(["nature"])
    version = prompt.add_version(text="A heron in reeds", author=owner)
    tagged = finished(owner, prompt="A heron in reeds", prompt_version=version)
    plain = finished(owner, prompt="A city at night")
    for video in (tagged, plain):
        Review.decide(video, reviewer, "approved")
    html = client.get("/gallery/", {"tag": "nature"}).content.decode()
    assert "A heron in reeds" in html and "A city at night" not in html
    assert '<option value="nature" selected>nature</option>' in html


def test_reviewers_see_a_review_link_in_the_gallery_and_nav(
    client, reviewer_client, reviewer, owner
) -> None:
    Review.decide(finished(owner, prompt="Curated"), reviewer, "approved")
    html = reviewer_client.get("/gallery/").content.decode()
    assert "/review/" in html and ">Review</a>" in html
    html = client.get("/gallery/").content.decode()
    assert 'href="/review/"' not in html  # the nav shows creators no review queue


# ---------------------------------------------------------------------------- self-approval
# An approved video shows to the whole team: a reviewer's own needs someone else's approval,
# unless STUDIO_ALLOW_SELF_APPROVAL is on or the reviewer is an admin. Each one is audited.


def test_a_reviewer_cannot_approve_their_own_video(client, owner) -> None:
    give_roles(owner, "creator", "reviewer")  # a creator who also reviews
    video = finished(owner, prompt="My own lighthouse")
    response = client.post(f"/review/{video.pk}/", {"verdict": "approved", "comment": ""})
    assert response.status_code == 200
    assert "You cannot approve your own video: another reviewer must approve it." in (
        response.content.decode()
    )
    assert not Review.objects.exists()
    with pytest.raises(SelfApprovalRefused):
        Review.decide(video, owner, Verdict.APPROVED)
    # Asking for changes to one's own video shows it to no one else: that is fine.
    response = client.post(f"/review/{video.pk}/", {"verdict": "changes", "comment": "Darker"})
    assert response.status_code == 302
    assert Review.objects.get(generation=video).verdict == "changes"
    assert not AuditEntry.objects.filter(action="review.self_approval").exists()


def test_self_approval_is_a_setting_and_audited(client, owner, settings) -> None:
    give_roles(owner, "creator", "reviewer")
    settings.STUDIO_ALLOW_SELF_APPROVAL = True
    video = finished(owner)
    response = client.post(f"/review/{video.pk}/", {"verdict": "approved", "comment": ""})
    assert response.status_code == 302
    assert Review.objects.get(generation=video).verdict == "approved"
    entry = AuditEntry.objects.get(action="review.self_approval")
    assert (entry.actor, entry.target_id, entry.after) == (
        owner,
        str(video.pk),
        {"allowed_by": "setting"},
    )


def test_admins_may_approve_their_own_videos(client, admin) -> None:
    video = finished(admin)
    client.force_login(admin)
    response = client.post(f"/review/{video.pk}/", {"verdict": "approved", "comment": ""})
    assert response.status_code == 302
    assert Review.objects.get(generation=video).verdict == "approved"
    entry = AuditEntry.objects.get(action="review.self_approval")
    assert entry.actor == admin and entry.after == {"allowed_by": "admin"}


def test_the_gallery_counts_only_what_it_may_show(
    client, owner, teammate, reviewer, monkeypatch
) -> None:
    """The count reads the generation's approved flag, not the review: it still follows
    every verdict (approved, changed to rejected), the filters and the cap."""
    foxes = [finished(owner, prompt=f"Fox {n}") for n in range(3)]
    owl = finished(owner, prompt="An owl")
    changed = finished(owner, prompt="Fox changed")
    finished(owner, prompt="Fox waiting")
    finished(teammate, prompt="Fox of a teammate, not reviewed")
    for video in (*foxes, owl, changed):
        Review.decide(video, reviewer, "approved")
    Review.decide(changed, reviewer, "rejected", "On second thought")
    client.force_login(teammate)
    assert "4 approved videos" in client.get("/gallery/").content.decode()
    assert "3 approved videos" in client.get("/gallery/", {"q": "fox"}).content.decode()
    assert "1 approved video<" in client.get("/gallery/", {"q": "owl"}).content.decode()
    monkeypatch.setattr("studio.keyset.CAP", 2)
    html = client.get("/gallery/").content.decode()
    assert "2+ approved videos" in html and "page 1 of" not in html


def test_the_latest_decisions_show_what_they_read_at_a_constant_cost(
    reviewer_client, reviewer, owner, teammate
) -> None:
    """The table reads only the columns it shows: every cell still there, and no row
    costs a query of its own (a column left out would be read row by row)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def latest() -> tuple[str, int]:
        with CaptureQueriesContext(connection) as queries:
            html = reviewer_client.get("/review/").content.decode()
        return html.split('id="recent-title"')[1], len(queries)

    first = finished(owner, prompt="A heron at dawn")
    Review.decide(first, reviewer, Verdict.REJECTED, "Too dark", at_seconds=2.5)
    _, alone = latest()
    for n in range(3):
        Review.decide(finished(teammate, prompt=f"Tide {n}"), reviewer, Verdict.APPROVED)
    Review.decide(finished(owner, prompt="", kind="image2video"), reviewer, Verdict.APPROVED)
    table, more = latest()
    assert more == alone
    assert "A heron at dawn" in table and "Too dark" in table and "at 0:02" in table
    assert "Rejected" in table and "Approved" in table and "From an image, no prompt" in table
    assert f"by {owner.username}" in table and f"by {teammate.username}" in table
    assert f"<td>{reviewer.username}</td>" in table and " ago</time>" in table
    assert f"/review/{first.pk}/" in table
