"""Receivers: new accounts start as creators; role and budget changes, and everything done in
the Django admin, go to the audit log; reviewers and admins are staff (they work in the
Django admin); and every `migrate` brings the role groups up to date."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save, pre_save
from django.dispatch import receiver

from studio.accounts import roles
from studio.accounts.signals import admin_changed
from studio.generations.models import Generation
from studio.review import audit
from studio.review.budgets import fmt
from studio.review.models import Budget, Review

User = get_user_model()


@receiver(post_save, sender=User, dispatch_uid="review-default-role")
def default_role(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        group = Group.objects.filter(name=roles.CREATOR).first()
        if group is not None:
            instance.groups.add(group)


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="review-role-change")
def role_changed(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    """Membership changed from either side (user.groups or group.user_set)."""
    if action == "pre_clear":
        # post_clear has no pk_set: remember who was there.
        if reverse:
            instance._cleared = set(instance.user_set.values_list("pk", flat=True))
        else:
            instance._cleared = set(instance.groups.values_list("pk", flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if action == "post_clear":
        pk_set, action = getattr(instance, "_cleared", set()), "post_remove"
    if not pk_set:
        return
    added = action == "post_add"
    if reverse:  # instance is a Group, pk_set holds users
        pairs = [(user, {instance.name}) for user in User.objects.filter(pk__in=pk_set)]
    else:
        names = set(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
        pairs = [(instance, names)]
    for user, names in pairs:
        now = set(user.groups.values_list("name", flat=True))
        before = now - names if added else now | names
        audit.record(
            None,
            "role.add" if added else "role.remove",
            user,
            before={"groups": sorted(before)},
            after={"groups": sorted(now)},
        )
        if names & set(roles.STAFF_ROLES):
            sync_staff(user, now)


def sync_staff(user, groups: set[str]) -> None:
    """Reviewers and admins need is_staff for the Django admin; losing the role takes it."""
    staff = user.is_superuser or bool(groups & set(roles.STAFF_ROLES))
    if user.is_staff != staff:
        User.objects.filter(pk=user.pk).update(is_staff=staff)
        user.is_staff = staff


@receiver(m2m_changed, sender=Group.permissions.through, dispatch_uid="review-role-perms")
def role_permissions_changed(sender, instance, action: str, reverse: bool, pk_set, **kw) -> None:
    if reverse or action not in ("post_add", "post_remove") or not pk_set:
        return
    from django.contrib.auth.models import Permission

    changed = sorted(
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.filter(pk__in=pk_set).select_related("content_type")
    )
    key = "added" if action == "post_add" else "removed"
    audit.record(None, "role.permissions", instance, after={key: changed})


@receiver(pre_save, sender=Budget, dispatch_uid="review-budget-before")
def budget_before(sender, instance: Budget, raw: bool = False, **kwargs) -> None:
    old = Budget.objects.filter(pk=instance.pk).first() if instance.pk else None
    instance._before = _budget_facts(old) if old else None


@receiver(post_save, sender=Budget, dispatch_uid="review-budget-after")
def budget_after(sender, instance: Budget, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    audit.record(
        None, "budget.change", instance, before=instance._before, after=_budget_facts(instance)
    )


@receiver(post_delete, sender=Budget, dispatch_uid="review-budget-delete")
def budget_deleted(sender, instance: Budget, **kwargs) -> None:
    audit.record(None, "budget.delete", instance, before=_budget_facts(instance), after=None)


def _budget_facts(budget: Budget) -> dict:
    who = budget.user.get_username() if budget.user_id else "team"
    return {"for": who, "monthly_units": fmt(Decimal(budget.monthly_units))}


@receiver(post_migrate, dispatch_uid="review-roles")
def bring_roles_up_to_date(sender, app_config, using: str = "default", **kwargs) -> None:
    if app_config.name == "studio.review":
        roles.ensure_roles()


# ---------------------------------------------------------------------------- visibility
# The library's prompts and presets are private or shared with the team: every change of
# that is audited here, whichever page or import made it (actor: the request's user).
SHARED_MODELS = ("library.Prompt", "library.Preset")


def visibility_before(sender, instance, raw: bool = False, update_fields=None, **kwargs) -> None:
    if raw or (update_fields is not None and "visibility" not in update_fields):
        return
    instance._visibility_before = (
        sender.objects.filter(pk=instance.pk).values_list("visibility", flat=True).first()
        if instance.pk
        else None
    )


def visibility_after(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if raw or not hasattr(instance, "_visibility_before"):
        return
    before, after = instance.__dict__.pop("_visibility_before"), instance.visibility
    if before == after or (created and after == "private"):
        return  # unchanged, or made private as everything is by default
    audit.record(
        None,
        "visibility.change",
        instance,
        before={"visibility": before},
        after={"visibility": after},
    )


for label in SHARED_MODELS:
    pre_save.connect(visibility_before, sender=label, dispatch_uid=f"review-vis-{label}")
    post_save.connect(visibility_after, sender=label, dispatch_uid=f"review-vis-{label}")


# ---------------------------------------------------------------------------- the admin
# Every add, change, delete and bulk action made in the Django admin (accounts/admin.py
# StudioAdmin sends them), by the signed-in admin user.


@receiver(admin_changed, dispatch_uid="review-admin-change")
def admin_change(sender, request, action: str, target, before=None, after=None, **kw) -> None:
    audit.record(request.user, f"admin.{action}", target, before=before, after=after)


@receiver(post_delete, sender=Review, dispatch_uid="review-verdict-removed")
def verdict_removed(sender, instance: Review, origin=None, **kwargs) -> None:
    """A Review deleted on its own (the admin) puts its video back in the queue and out of
    the gallery; deleted with its generation, there is nothing left to update."""
    generation = Generation.objects.filter(pk=instance.generation_id).first()
    if generation is not None:
        generation.mark_reviewed(None)
