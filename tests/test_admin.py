"""The Django admin: what reviewers and admins see and do there (posters, player, filters,
search, bulk verdicts, read-only upstream fields), the audit log, budgets and roles, and the
task queue's admin for superusers only. Strict CSP: nothing inline from our admin code."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from studio.review.models import AuditEntry, Budget, Review
from tests.factories import make_generation, make_user, signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser():
    return make_user("boss", roles=("admin",), is_superuser=True)


@pytest.fixture
def superuser_client(superuser) -> Client:
    return signed_in(superuser)


def finished(owner, **kw):
    return make_generation(owner, status="succeeded", poster="posters/p.jpg", **kw)


def test_reviewers_are_staff_and_creators_are_not(owner, reviewer) -> None:
    assert reviewer.is_staff and not owner.is_staff


def test_creators_and_outsiders_are_sent_to_the_admin_sign_in(client, owner, outsider) -> None:
    for user in (owner, outsider):
        client.force_login(user)
        response = client.get("/admin/generations/generation/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_changelist_shows_finished_videos_with_posters(
    reviewer_client, reviewer, owner
) -> None:
    video = finished(owner, prompt="A crane over a rice field", task_id="880000000000000777")
    make_generation(owner, prompt="Still rendering", status="processing")
    html = reviewer_client.get("/admin/generations/generation/").content.decode()
    assert f'<img class="admin-thumb" src="/generations/{video.pk}/poster.jpg"' in html
    assert "A crane over a rice field" in html and "In review" in html
    assert "Still rendering" not in html  # reviewers see finished videos only
    assert 'value="approve"' in html and 'value="reject"' in html


def test_filters_and_search_by_prompt_and_upstream_ids(reviewer_client, reviewer, owner) -> None:
    fox = finished(owner, prompt="Fox", task_id="880000000000000111", model_name="kling-v1-6")
    owl = finished(owner, prompt="Owl", external_task_id="ps-owl-123", model_name="kling-v2-6")
    Review.decide(owl, reviewer, "approved")
    url = "/admin/generations/generation/"

    def listed(params: dict) -> set[str]:
        html = reviewer_client.get(url, params).content.decode()
        return set(re.findall(r"/admin/generations/generation/([0-9a-f-]{36})/change/", html))

    assert listed({"q": "880000000000000111"}) == {str(fox.pk)}
    assert listed({"q": "ps-owl-123"}) == {str(owl.pk)}
    assert listed({"q": "fox"}) == {str(fox.pk)}
    assert listed({"review": "in_review"}) == {str(fox.pk)}
    assert listed({"review": "approved"}) == {str(owl.pk)}
    assert listed({"model_name": "kling-v2-6"}) == {str(owl.pk)}
    assert listed({"status": "succeeded", "owner__id__exact": owner.pk}) == {
        str(fox.pk),
        str(owl.pk),
    }


def test_bulk_approve_and_reject(reviewer_client, reviewer, owner) -> None:
    a, b = finished(owner, prompt="A"), finished(owner, prompt="B")
    running = make_generation(owner, status="processing")
    url = "/admin/generations/generation/"
    response = reviewer_client.post(url, {"action": "approve", "_selected_action": [a.pk, b.pk]})
    assert response.status_code == 302
    assert set(Review.objects.values_list("verdict", flat=True)) == {"approved"}
    reviewer_client.post(url, {"action": "reject", "_selected_action": [b.pk, running.pk]})
    assert Review.objects.get(generation=b).verdict == "rejected"
    assert not Review.objects.filter(generation=running).exists()
    entries = AuditEntry.objects.filter(action__startswith="review.")
    assert entries.count() == 3 and {e.actor for e in entries} == {reviewer}


def test_the_change_page_plays_the_video_and_edits_nothing(
    reviewer_client, reviewer, owner
) -> None:
    video = finished(owner, video="videos/v.mp4", task_id="880000000000000999")
    html = reviewer_client.get(f"/admin/generations/generation/{video.pk}/change/").content.decode()
    player = f'<video class="admin-player" controls preload="metadata" src="/generations/{video.pk}'
    assert player + '/video.mp4"' in html
    assert "880000000000000999" in html and 'name="task_id"' not in html  # read-only
    assert 'name="prompt"' not in html and 'name="_save"' not in html
    assert f'href="/review/{video.pk}/"' in html
    assert reviewer_client.get("/admin/generations/generation/add/").status_code == 403


def test_our_admin_markup_has_no_inline_scripts_or_styles(
    superuser_client, superuser, owner
) -> None:
    video = finished(owner, video="videos/v.mp4")
    Review.decide(video, superuser, "approved", "ok")
    for url in (
        "/admin/generations/generation/",
        f"/admin/generations/generation/{video.pk}/change/",
        "/admin/review/auditentry/",
        "/admin/review/budget/",
    ):
        html = superuser_client.get(url).content.decode()
        assert "<script>" not in html and not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert ' style="' not in html, url
        assert "review/admin.css" in html or "budget" in url


def test_the_task_queue_admin_is_for_superusers_only(client, reviewer_client, admin) -> None:
    urls = ["/admin/django_q/schedule/", "/admin/django_q/success/", "/admin/django_q/failure/"]
    for url in urls:
        assert reviewer_client.get(url).status_code == 403
    client.force_login(admin)  # the admin role, not a superuser
    assert client.get(urls[0]).status_code == 403
    assert "django_q" not in client.get("/admin/").content.decode()
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    for url in urls:
        assert client.get(url).status_code == 200


def test_reviewers_cannot_touch_budgets_users_or_the_audit_log(reviewer_client) -> None:
    for url in ("/admin/review/budget/", "/admin/auth/user/", "/admin/review/auditentry/"):
        assert reviewer_client.get(url).status_code == 403, url


def test_budget_changes_are_audited_with_who_and_before_after(
    superuser_client, superuser, owner
) -> None:
    response = superuser_client.post(
        "/admin/review/budget/add/", {"user": owner.pk, "monthly_units": "20"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    budget = Budget.objects.get(user=owner)
    superuser_client.post(
        f"/admin/review/budget/{budget.pk}/change/", {"user": owner.pk, "monthly_units": "12.5"}
    )
    entries = list(AuditEntry.objects.filter(action="budget.change").order_by("at", "pk"))
    assert [e.actor for e in entries] == [superuser, superuser]
    assert entries[0].before is None
    assert entries[0].after == {"for": "cora", "monthly_units": "20"}
    assert (entries[1].before["monthly_units"], entries[1].after["monthly_units"]) == (
        "20",
        "12.5",
    )
    assert (
        "monthly_units: 20 → 12.5"
        in superuser_client.get("/admin/review/auditentry/").content.decode()
    )


def test_one_team_budget_and_one_per_person(superuser_client, superuser, owner) -> None:
    Budget.objects.create(user=None, monthly_units=Decimal(100))
    response = superuser_client.post(
        "/admin/review/budget/add/", {"user": "", "monthly_units": "5"}
    )
    assert response.status_code == 200 and "has a budget already" in response.content.decode()
    html = superuser_client.get("/admin/review/budget/").content.decode()
    assert "The whole team" in html


def test_role_changes_in_the_user_admin_are_audited(superuser_client, superuser, owner) -> None:
    reviewer_group = Group.objects.get(name="reviewer")
    creator_group = Group.objects.get(name="creator")
    url = f"/admin/auth/user/{owner.pk}/change/"
    page = superuser_client.get(url).content.decode()
    assert page
    response = superuser_client.post(
        url,
        {
            "username": "cora",
            "first_name": "",
            "last_name": "",
            "email": "",
            "is_active": "on",
            "groups": [creator_group.pk, reviewer_group.pk],
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    owner.refresh_from_db()
    assert owner.is_staff  # reviewers work in the admin
    entry = AuditEntry.objects.filter(action="role.add", target_id=str(owner.pk)).latest("pk")
    assert entry.actor == superuser
    assert entry.before == {"groups": ["creator"]}
    assert entry.after == {"groups": ["creator", "reviewer"]}


def test_the_audit_log_is_read_only(superuser_client) -> None:
    entry = AuditEntry.objects.create(action="test.thing", actor_name="x")
    assert superuser_client.get("/admin/review/auditentry/add/").status_code == 403
    page = superuser_client.get(f"/admin/review/auditentry/{entry.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert superuser_client.post(f"/admin/review/auditentry/{entry.pk}/delete/").status_code == 403
