"""Roles and the audit log: the groups the migration makes, new accounts as creators, the
first admin, and who-did-what entries for submissions, verdicts, roles and any app's
changes through audit.record."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from studio.accounts import roles
from studio.generations import pipeline
from studio.review import audit
from studio.review.models import AuditEntry
from tests.factories import give_roles, make_user

pytestmark = pytest.mark.django_db


def perms(group: str) -> set[str]:
    found = Group.objects.get(name=group).permissions.select_related("content_type")
    return {f"{p.content_type.app_label}.{p.codename}" for p in found}


def test_the_migration_makes_the_three_roles() -> None:
    creator, reviewer, admin = perms("creator"), perms("reviewer"), perms("admin")
    assert {roles.SUBMIT, roles.GALLERY} <= creator and roles.REVIEW not in creator
    assert {roles.REVIEW, roles.GALLERY, roles.SPEND, "generations.view_generation"} <= reviewer
    assert roles.SUBMIT not in reviewer and "review.change_budget" not in reviewer
    assert {roles.SPEND, roles.SEE_ALL, "review.change_budget", "auth.change_user"} <= admin
    if "library.view_prompt" in admin:  # the library is built alongside
        assert "library.view_prompt" in creator


def test_new_accounts_are_creators_and_the_first_admin_has_every_role() -> None:
    assert list(make_user("cora").groups.values_list("name", flat=True)) == ["creator"]
    out = io.StringIO()
    Group.objects.get(name="creator").user_set.clear()
    from django.contrib.auth import get_user_model

    get_user_model().objects.all().delete()
    call_command("ensure_admin", stdout=out)
    admin = get_user_model().objects.get(username="admin")
    assert set(admin.groups.values_list("name", flat=True)) == {"creator", "reviewer", "admin"}
    assert admin.is_superuser and admin.is_staff


def test_losing_the_reviewer_role_takes_staff_away_but_not_from_superusers() -> None:
    rex = make_user("rex", roles=("reviewer",))
    assert rex.is_staff
    give_roles(rex, "creator")
    assert not rex.is_staff
    root = make_user("root", roles=("reviewer",), is_superuser=True)
    give_roles(root)
    assert root.is_staff


def test_role_changes_are_recorded_from_either_side() -> None:
    cora = make_user("cora")
    Group.objects.get(name="reviewer").user_set.add(cora)
    cora.groups.remove(Group.objects.get(name="creator"))
    entries = list(AuditEntry.objects.filter(target_id=str(cora.pk)).order_by("pk"))
    assert [(e.action, e.before, e.after) for e in entries] == [
        ("role.add", {"groups": []}, {"groups": ["creator"]}),
        ("role.add", {"groups": ["creator"]}, {"groups": ["creator", "reviewer"]}),
        ("role.remove", {"groups": ["creator", "reviewer"]}, {"groups": ["reviewer"]}),
    ]
    cora.groups.clear()
    assert AuditEntry.objects.latest("pk").after == {"groups": []}


def test_a_submission_is_recorded_with_its_estimate(monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "enqueue", lambda *args: None)
    cora = make_user("cora")
    params = {"model_name": "kling-v1", "prompt": "Dunes", "mode": "pro", "duration": "10"}
    generation = pipeline.create_generation(cora, {**params, "aspect_ratio": "16:9"})
    entry = AuditEntry.objects.get(action="generation.submit")
    assert (entry.actor, entry.target_type, entry.target_id) == (
        cora,
        "generations.generation",
        str(generation.pk),
    )
    assert entry.after == {
        "model_name": "kling-v1",
        "mode": "pro",
        "duration": "10",
        "estimated_units": "7.000",
    }


def test_other_apps_record_through_audit_record() -> None:
    cora = make_user("cora")
    entry = audit.record(
        cora,
        "visibility.change",
        "prompt 7",
        before={"visibility": "private"},
        after={"visibility": "team"},
    )
    assert entry.actor_name == "cora" and entry.target_repr == "prompt 7"
    assert entry.changes == [("visibility", "private", "team")]
    assert str(entry).endswith("cora visibility.change")
    assert audit.record(None, "system.thing").actor is None  # no request: the system


def test_library_visibility_changes_are_recorded() -> None:
    library = pytest.importorskip("studio.library.models")
    cora = make_user("cora")
    prompt = library.Prompt.objects.create(owner=cora, title="Dawn fox")
    preset = library.Preset.objects.create(owner=cora, name="Team look", visibility="team")
    assert AuditEntry.objects.filter(action="visibility.change").count() == 1  # the team one
    prompt.title = "Dawn fox, v2"
    prompt.save()  # no visibility change: nothing recorded
    prompt.visibility = "team"
    prompt.save()
    entry = AuditEntry.objects.filter(action="visibility.change").latest("pk")
    assert (entry.target_type, entry.target_id) == ("library.prompt", str(prompt.pk))
    assert (entry.before, entry.after) == ({"visibility": "private"}, {"visibility": "team"})
    first = AuditEntry.objects.filter(action="visibility.change").earliest("pk")
    assert first.target_id == str(preset.pk) and first.before == {"visibility": None}


def test_the_middleware_makes_the_requests_user_the_actor(rf) -> None:
    cora = make_user("cora")
    request = rf.get("/")
    request.user = cora
    handler = audit.AuditMiddleware(lambda r: audit.record(None, "something.changed"))
    entry = handler(request)
    assert entry.actor == cora and entry.actor_name == "cora"
    assert audit.current_actor() is None  # only while the request is handled
