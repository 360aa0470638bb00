"""Share links for people outside the studio: a reviewer shares a video, a shot's takes or a
batch; the token is random, kept only hashed and compared in constant time; a guest opens it
signed out, behind an optional password, sees those videos and nothing else, comments (as a
guest, with a name) only when the link allows; expiry and revocation refuse it at once, and
every use is audited."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from studio.review import sharing
from studio.review.models import AuditEntry, Comment, ShareLink
from tests.factories import make_generation

pytestmark = pytest.mark.django_db
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(200)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "videos").mkdir()
    (tmp_path / "posters").mkdir()
    return tmp_path


def finished(owner, media, name: str, **kw):
    (media / "videos" / f"{name}.mp4").write_bytes(VIDEO)
    (media / "posters" / f"{name}.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    (media / "posters" / f"{name}-1x.jpg").write_bytes(b"\xff\xd8\xff\xe1")
    kw.setdefault("video_seconds", 5.0)
    kw.setdefault("poster_1x", f"posters/{name}-1x.jpg")
    return make_generation(
        owner,
        prompt=f"Shared {name}",
        status="succeeded",
        video=f"videos/{name}.mp4",
        poster=f"posters/{name}.jpg",
        **kw,
    )


def share(reviewer_client, kind: str, pk, **terms) -> str:
    data = {"days": "7", **terms}
    response = reviewer_client.post(f"/review/share/?kind={kind}&id={pk}", data)
    assert response.status_code == 200, response.content.decode()[:2000]
    found = re.search(r'value="http://testserver/s/([A-Za-z0-9_-]+)/"', response.content.decode())
    return found[1]


def test_a_reviewer_shares_a_video_and_only_its_hash_is_kept(
    reviewer_client, owner, reviewer, media
) -> None:
    video = finished(owner, media, "one")
    token = share(reviewer_client, "video", video.pk)
    link = ShareLink.objects.get()
    assert len(token) >= 43  # secrets.token_urlsafe(32)
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ShareLink.objects.values().get())
    assert (link.kind, link.generation, link.can_comment, link.password) == (
        "video",
        video,
        False,
        "",
    )
    assert AuditEntry.objects.filter(action="share.create", actor=reviewer).count() == 1
    assert token not in str(list(AuditEntry.objects.values()))
    assert sharing.find(token) == link
    assert sharing.find(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert sharing.find("x" * 500) is None


def test_a_guest_opens_it_signed_out_and_reaches_nothing_else(owner, reviewer_client, media):
    video = finished(owner, media, "one")
    other = finished(owner, media, "other")
    token = share(reviewer_client, "video", video.pk)
    guest = Client()
    opened = guest.get(f"/s/{token}/")
    assert opened.status_code == 302 and opened["Location"] == f"/s/{token}/v/{video.pk}/"
    page = guest.get(opened["Location"]).content.decode()
    assert "Shared one" in page and "Shared other" not in page
    assert f'src="/s/{token}/v/{video.pk}/video.mp4"' in page
    hrefs = set(re.findall(r'(?:href|action|src)="([^"]+)"', page))
    assert all(h.startswith((f"/s/{token}/", "/static/", "#")) for h in hrefs), hrefs
    assert "Add comment" not in page  # view only
    assert guest.get(f"/s/{token}/v/{video.pk}/video.mp4").status_code == 200
    assert guest.get(f"/s/{token}/v/{video.pk}/poster.jpg").status_code == 200
    assert guest.get(f"/s/{token}/v/{other.pk}/").status_code == 404
    assert guest.get(f"/s/{token}/v/{other.pk}/video.mp4").status_code == 404
    for url in (f"/generations/{video.pk}/", f"/generations/{video.pk}/video.mp4", "/review/"):
        response = guest.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_view_only_link_takes_no_comment(owner, reviewer_client, media) -> None:
    video = finished(owner, media, "one")
    token = share(reviewer_client, "video", video.pk)
    response = Client().post(
        f"/s/{token}/v/{video.pk}/comments/",
        {"name": "Gus", "body": "Love it", "start_seconds": "1"},
    )
    assert response.status_code == 403
    assert not Comment.objects.exists()


def test_guest_comments_land_in_the_same_threads_marked_guest(
    owner, client, reviewer_client, media
) -> None:
    video = finished(owner, media, "one")
    token = share(reviewer_client, "video", video.pk, can_comment="on")
    guest = Client()
    url = f"/s/{token}/v/{video.pk}/comments/"
    refused = guest.post(url, {"body": "No name given", "start_seconds": "1"})
    assert refused.status_code == 400 and "Give your name" in refused.content.decode()
    assert "No name given" in refused.content.decode()
    assert "History" not in refused.content.decode()  # the guest's own page, no studio nav
    out = guest.post(url, {"name": "Gus", "body": "Too dark", "start_seconds": "9"})
    assert out.status_code == 400 and "must lie inside the video" in out.content.decode()
    assert not Comment.objects.exists()
    sent = guest.post(url, {"name": "Gus", "body": "Too dark", "start_seconds": "1.5"})
    assert sent.status_code == 302
    note = Comment.objects.get()
    assert (note.author, note.author_name, note.guest, note.share.kind) == (
        None,
        "Gus",
        True,
        "video",
    )
    reply = guest.post(url, {"name": "Gus", "body": "And here", "parent": str(note.pk)})
    assert reply.status_code == 302 and Comment.objects.filter(parent=note).count() == 1
    assert 'value="Gus"' in guest.get(f"/s/{token}/v/{video.pk}/").content.decode()
    page = client.get(f"/generations/{video.pk}/").content.decode()  # the creator's page
    assert "Too dark" in page and "badge-guest" in page
    assert AuditEntry.objects.filter(action="share.comment").count() == 2


def test_a_password_guards_the_link_and_its_files(owner, reviewer_client, media) -> None:
    video = finished(owner, media, "one")
    token = share(reviewer_client, "video", video.pk, password="open sesame")
    guest = Client()
    assert "needs a password" in guest.get(f"/s/{token}/").content.decode()
    assert guest.get(f"/s/{token}/v/{video.pk}/").status_code == 302
    assert guest.get(f"/s/{token}/v/{video.pk}/video.mp4").status_code == 403
    wrong = guest.post(f"/s/{token}/", {"password": "open sesam"})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    assert guest.post(f"/s/{token}/", {"password": "open sesame"}).status_code == 302
    assert guest.get(f"/s/{token}/v/{video.pk}/video.mp4").status_code == 200
    assert Client().get(f"/s/{token}/v/{video.pk}/video.mp4").status_code == 403  # per browser


def test_too_many_wrong_passwords_lock_the_link_for_an_hour(owner, reviewer_client, media):
    video = finished(owner, media, "one")
    token = share(reviewer_client, "video", video.pk, password="open sesame")
    guest = Client()
    for _ in range(sharing.PASSWORD_TRIES_PER_HOUR):
        guest.post(f"/s/{token}/", {"password": "guess"})
    locked = guest.post(f"/s/{token}/", {"password": "open sesame"})
    assert locked.status_code == 400 and "Too many wrong passwords" in locked.content.decode()


def test_expired_and_revoked_links_are_refused_at_once(
    owner, reviewer, reviewer_client, admin, media
) -> None:
    video = finished(owner, media, "one")
    token = share(reviewer_client, "video", video.pk)
    link = ShareLink.objects.get()
    guest = Client()
    assert guest.get(f"/s/{token}/v/{video.pk}/").status_code == 200
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = guest.get(f"/s/{token}/v/{video.pk}/")
    assert expired.status_code == 410 and "expired or was revoked" in expired.content.decode()
    assert guest.get(f"/s/{token}/v/{video.pk}/video.mp4").status_code == 410
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() + timedelta(days=1))
    other_reviewer = Client()
    other_reviewer.force_login(admin)
    assert other_reviewer.post(f"/review/shares/{link.pk}/revoke/").status_code == 302  # admins may
    assert guest.get(f"/s/{token}/").status_code == 410
    assert guest.get(f"/s/{token}/v/{video.pk}/video.mp4").status_code == 410
    assert Client().get("/s/nonsense/").status_code == 404
    refused = AuditEntry.objects.filter(action="share.refused")
    assert sorted(refused.values_list("after__why", flat=True)) == [
        "expired",
        "expired",
        "revoked",
        "revoked",
    ]


def test_a_shot_link_shows_its_finished_takes_and_a_batch_link_its_videos(
    owner, reviewer_client, media
) -> None:
    from studio.library.models import Batch

    first = finished(owner, media, "take1")
    second = finished(owner, media, "take2", shot=first.shot, take=2)
    make_generation(owner, prompt="Still running take", status="processing", shot=first.shot)
    token = share(reviewer_client, "shot", first.shot_id)
    page = Client().get(f"/s/{token}/").content.decode()
    assert page.index("Take 2") < page.index("Take 1") and "Still running take" not in page
    assert Client().get(f"/s/{token}/v/{second.pk}/").status_code == 200
    small, big = (f"/s/{token}/v/{second.pk}/{name}" for name in ("poster-1x.jpg", "poster.jpg"))
    assert f'src="{small}" srcset="{small} 1x, {big} 2x"' in page  # sharp on a 2x screen
    assert b"".join(Client().get(small).streaming_content) == b"\xff\xd8\xff\xe1"
    batch = Batch.objects.create(owner=owner, template="A {thing}", size=2)
    made = finished(owner, media, "batch1", batch=batch)
    token = share(reviewer_client, "batch", batch.pk)
    page = Client().get(f"/s/{token}/").content.decode()
    assert "Shared batch1" in page and "Shared take1" not in page
    assert Client().get(f"/s/{token}/v/{made.pk}/").status_code == 200
    assert Client().get(f"/s/{token}/v/{first.pk}/").status_code == 404


def test_bad_share_terms_are_refused_and_nothing_is_made(
    owner, client, reviewer_client, media, settings
) -> None:
    video = finished(owner, media, "one")
    url = f"/review/share/?kind=video&id={video.pk}"
    for data, message in (
        ({"days": "0"}, "greater than or equal to 1"),
        ({"days": "31"}, "less than or equal to 30"),
        ({"days": "3", "password": "short"}, "at least 8 characters"),
    ):
        response = reviewer_client.post(url, data)
        assert response.status_code == 400 and message in response.content.decode()
    assert reviewer_client.get("/review/share/?kind=nope&id=x").status_code == 404
    assert client.get(url).status_code == 403  # creators do not share
    assert not ShareLink.objects.exists()


def test_every_use_of_a_link_is_audited(owner, reviewer_client, media) -> None:
    video = finished(owner, media, "one")
    token = share(reviewer_client, "video", video.pk)
    guest = Client()
    guest.get(f"/s/{token}/", follow=True)  # the link opens on its video's page
    guest.get(f"/s/{token}/v/{video.pk}/video.mp4")
    guest.get(f"/s/{token}/v/{video.pk}/video.mp4", HTTP_RANGE="bytes=100-")  # a seek
    actions = list(
        AuditEntry.objects.filter(target_type="review.sharelink")
        .order_by("at", "pk")
        .values_list("action", flat=True)
    )
    assert actions == ["share.create", "share.view", "share.video"]
    listed = reviewer_client.get("/review/shares/").content.decode()
    assert "<td>2</td>" in listed and "Revoke" in listed


def test_a_link_takes_a_bounded_number_of_guest_comments_an_hour(
    owner, reviewer_client, media
) -> None:
    video = finished(owner, media, "one")
    token = share(reviewer_client, "video", video.pk, can_comment="on")
    link = ShareLink.objects.get()
    Comment.objects.bulk_create(
        Comment(generation=video, author_name="Gus", guest=True, share=link, body="Hi")
        for _ in range(sharing.GUEST_COMMENTS_PER_HOUR)
    )
    response = Client().post(
        f"/s/{token}/v/{video.pk}/comments/", {"name": "Gus", "body": "More", "start_seconds": "1"}
    )
    assert response.status_code == 429 and "as many comments" in response.content.decode()
    assert Comment.objects.count() == sharing.GUEST_COMMENTS_PER_HOUR
