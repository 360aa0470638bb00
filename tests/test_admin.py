"""The Django admin: what reviewers and admins see and do there (posters, player, filters,
search, bulk verdicts, read-only upstream fields), the audit log, budgets and roles, and the
task queue's admin for superusers only. Strict CSP: nothing inline from our admin code."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from studio.library.models import Preset, Prompt, Tag
from studio.review.models import AuditEntry, Budget, Review
from tests.factories import (
    give_roles,
    make_generation,
    make_preset,
    make_prompt,
    make_user,
    signed_in,
)

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
    assert f'<img class="admin-thumb ratio-169" src="/generations/{video.pk}/poster.jpg"' in html
    assert 'alt="Poster: A crane over a rice field"' in html  # the link has text
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


# ---------------------------------------------------------------------------- the studio's rules
# Who sees and may change which row, per role, is the permission matrix's (test_permissions);
# here: what the admin does for the people it lets in.


@pytest.fixture
def staff_creator(owner):
    """The owner, a creator who also reviews: staff, so the admin opens for them."""
    return give_roles(owner, "creator", "reviewer")


def test_every_admin_page_is_on_the_studios_rules() -> None:
    from django.contrib import admin as django_admin

    from studio.accounts.admin import StudioAdmin

    odd = [m for m, a in django_admin.site._registry.items() if not isinstance(a, StudioAdmin)]
    assert not odd, f"ModelAdmins not on StudioAdmin (unscoped, unaudited): {odd}"


def test_bulk_delete_leaves_the_rows_that_are_not_yours(client, staff_creator, teammate) -> None:
    mine = make_prompt(staff_creator, title="Mine to drop")
    shared = make_prompt(teammate, title="Tess's team prompt", visibility="team")
    private = make_prompt(teammate, title="Tess's own")
    selected = {"action": "delete_selected", "_selected_action": [mine.pk, shared.pk, private.pk]}
    page = client.post("/admin/library/prompt/", selected)
    html = page.content.decode()
    assert page.status_code == 200 and "Mine to drop" in html
    assert "Tess" not in html.split('id="content"')[1].split("</form>")[0]
    assert "1 of the selected prompts are not yours to change: left alone." in html
    response = client.post("/admin/library/prompt/", {**selected, "post": "yes"}, follow=True)
    assert response.status_code == 200
    assert set(Prompt.objects.values_list("title", flat=True)) == {shared.title, private.title}
    entry = AuditEntry.objects.get(action="admin.delete")
    assert (entry.actor, entry.target_repr, entry.target_id) == (
        staff_creator,
        mine.title,
        str(mine.pk),
    )
    assert entry.before["title"] == "Mine to drop" and entry.before["owner_id"] == staff_creator.pk


def test_what_you_add_in_the_admin_is_yours_and_checked_as_in_the_library(
    client, staff_creator, teammate
) -> None:
    url = "/admin/library/preset/add/"
    bad = {"name": "Odd", "visibility": "private", "params": '{"duration": "7", "owner": 1}'}
    response = client.post(url, bad)
    assert response.status_code == 200 and "A preset cannot hold owner" in response.content.decode()
    good = {"name": "Square", "visibility": "team", "params": '{"aspect_ratio": "1:1"}'}
    response = client.post(url, {**good, "owner": teammate.pk})
    assert response.status_code == 302
    preset = Preset.objects.get()
    assert preset.owner == staff_creator and preset.params == {"aspect_ratio": "1:1"}
    added = AuditEntry.objects.get(action="admin.add")
    assert added.actor == staff_creator and added.before is None
    assert added.after["name"] == "Square" and added.after["visibility"] == "team"
    assert AuditEntry.objects.filter(action="visibility.change", target_id=str(preset.pk)).exists()


def test_changes_in_the_admin_are_audited_with_before_and_after(client, staff_creator) -> None:
    prompt = make_prompt(staff_creator, title="Old title", tags=["fox"])
    response = client.post(
        f"/admin/library/prompt/{prompt.pk}/change/",
        {
            "title": "New title",
            "visibility": "team",
            "tags": [Tag.objects.get(name="fox").pk],
            "created_at_0": "2026-01-01",
            "created_at_1": "10:00:00",
            "updated_at_0": "2026-01-01",
            "updated_at_1": "10:00:00",
            "archived_at_0": "",
            "archived_at_1": "",
            "versions-TOTAL_FORMS": "1",
            "versions-INITIAL_FORMS": "1",
            "versions-0-id": prompt.latest_version().pk,
            "versions-0-prompt": prompt.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = AuditEntry.objects.get(action="admin.change")
    assert entry.actor == staff_creator and entry.target_id == str(prompt.pk)
    assert entry.before["title"] == "Old title" and entry.after["title"] == "New title"
    assert (entry.before["visibility"], entry.after["visibility"]) == ("private", "team")
    assert "tags" not in entry.after  # unchanged fields are not listed


def test_bulk_actions_are_audited(reviewer_client, reviewer, owner) -> None:
    a, b = finished(owner, prompt="A"), finished(owner, prompt="B")
    url = "/admin/generations/generation/"
    reviewer_client.post(url, {"action": "reject", "_selected_action": [a.pk, b.pk]})
    entry = AuditEntry.objects.get(action="admin.action.reject")
    assert entry.actor == reviewer and entry.target_repr == "2 generations"
    assert sorted(entry.after["ids"]) == sorted([str(a.pk), str(b.pk)])


def test_only_a_superuser_changes_or_makes_a_superuser(client, admin, superuser) -> None:
    client.force_login(admin)  # the admin role, not a superuser
    assert client.post(f"/admin/auth/user/{superuser.pk}/change/", {}).status_code == 403
    assert client.get(f"/admin/auth/user/{superuser.pk}/password/").status_code == 403
    assert (
        client.post(f"/admin/auth/user/{superuser.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    page = client.get(f"/admin/auth/user/{admin.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in page and 'name="is_staff"' in page
    superuser.refresh_from_db()
    assert superuser.is_superuser


def test_a_changed_password_is_audited_without_the_password(client, admin, owner) -> None:
    client.force_login(admin)
    secret = "Another-long-password-42"
    response = client.post(
        f"/admin/auth/user/{owner.pk}/password/",
        {"usable_password": "true", "password1": secret, "password2": secret},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get(action="admin.change", target_id=str(owner.pk))
    assert entry.actor == admin and secret not in str(entry.after) + str(entry.before)


def test_the_generation_admin_shows_where_it_came_from_to_those_who_may_see_it(
    client, staff_creator, reviewer_client
) -> None:
    prompt = make_prompt(staff_creator, title="My private fox", text="A red fox in snow")
    preset = make_preset(staff_creator, "My private vertical")
    video = finished(
        staff_creator, prompt_version=prompt.latest_version(), presets=[preset.record()]
    )
    url = f"/admin/generations/generation/{video.pk}/change/"
    mine = client.get(url).content.decode()
    assert "Made from" in mine and "My private fox" in mine and "My private vertical" in mine
    theirs = reviewer_client.get(url).content.decode()
    assert "Made from" in theirs and "My private" not in theirs


# ---------------------------------------------------------------------------- self-approval


def test_bulk_approve_leaves_the_reviewers_own_videos(
    client, staff_creator, teammate, settings
) -> None:
    own, theirs = finished(staff_creator, prompt="Mine"), finished(teammate, prompt="Tess's")
    url = "/admin/generations/generation/"
    selected = {"action": "approve", "_selected_action": [own.pk, theirs.pk]}
    html = client.post(url, selected, follow=True).content.decode()
    assert "1 video(s) approved." in html
    assert "1 not approved, being your own: You cannot approve your own video" in html
    assert list(Review.objects.values_list("generation", flat=True)) == [theirs.pk]
    settings.STUDIO_ALLOW_SELF_APPROVAL = True
    client.post(url, {"action": "approve", "_selected_action": [own.pk]})
    assert Review.objects.get(generation=own).verdict == "approved"
    entry = AuditEntry.objects.get(action="review.self_approval")
    assert entry.actor == staff_creator and entry.after == {"allowed_by": "setting"}
