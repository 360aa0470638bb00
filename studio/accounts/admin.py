"""The base of every admin page in the studio (StudioAdmin), and the admin for users.

The admin shows and allows only what the studio's own rules allow (issue 10 #1): each
ModelAdmin scopes its rows with the model's QuerySet methods (`visible`, e.g. visible_to),
says which of those the user may change or delete (`changeable`, e.g. owned_by), and bulk
actions (delete_selected too) run on the changeable rows alone. A row outside `visible`
answers 404, as the studio's pages do. Every add, change, delete and bulk action is sent as
accounts.signals.admin_changed; the review app writes it to the audit log.

Admins from other packages (auth, axes; django-q2's in review/admin.py) are registered again
on this base, so nothing in the admin escapes the rules or the audit log (tests/test_admin.py
checks every registered ModelAdmin)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, time
from decimal import Decimal
from uuid import UUID

from axes import models as axes_models
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import QuerySet
from django.db.models.fields.files import FieldFile
from django.forms import ModelForm
from django.http import Http404, HttpRequest

from studio.accounts.signals import admin_changed

MAX_TEXT = 300  # characters of one value kept in the audit log
MAX_IDS = 100  # row ids of one bulk action kept in the audit log


class StudioAdmin(admin.ModelAdmin):
    """Rows and rights by the studio's rules; every change reported for the audit log."""

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """The rows `request.user` may see (override with the model's visible_to)."""
        return queryset

    def changeable(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """Of `queryset`, the rows the user may change or delete (e.g. owned_by)."""
        return queryset

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.visible(request, super().get_queryset(request))

    def get_object(self, request: HttpRequest, object_id: str, from_field=None):
        found = super().get_object(request, object_id, from_field)
        if found is None:
            # Someone else's private row is simply not there, as in the studio (the admin's
            # own answer is a redirect to the index, a 302 that reads as "it exists").
            raise Http404(f"No {self.opts.verbose_name} with this id.")
        return found

    def may_change(self, request: HttpRequest, obj) -> bool:
        if obj is None:
            return True
        return self.changeable(request, self.get_queryset(request)).filter(pk=obj.pk).exists()

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        if not super().has_view_permission(request, obj):
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self.may_change(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self.may_change(request, obj)

    # ------------------------------------------------------------------ bulk actions

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        return {
            name: (self.on_changeable(func, name), name, description)
            for name, (func, _, description) in actions.items()
        }

    def on_changeable(self, func: Callable, name: str) -> Callable:
        """`func` run on the selected rows the user may change; the others are left alone
        (and said so). Audited, except delete_selected: its deletions are (log_deletions)."""

        def run(modeladmin, request: HttpRequest, queryset: QuerySet):
            allowed = self.changeable(request, queryset)
            left_alone = queryset.count() - allowed.count()
            if left_alone:
                self.message_user(
                    request,
                    f"{left_alone} of the selected {self.opts.verbose_name_plural} "
                    "are not yours to change: left alone.",
                    messages.WARNING,
                )
            if not allowed.exists():
                return None
            ids = [str(pk) for pk in allowed.values_list("pk", flat=True)[:MAX_IDS]]
            response = func(modeladmin, request, allowed)
            if name != "delete_selected":
                target = f"{len(ids)} {self.opts.verbose_name_plural}"
                self.report(request, f"action.{name}", target, None, {"ids": ids})
            return response

        return run

    # ------------------------------------------------------------------ audit

    def report(self, request: HttpRequest, action: str, target, before, after) -> None:
        admin_changed.send(
            sender=self.model,
            request=request,
            action=action,
            target=target,
            before=before,
            after=after,
        )

    def save_model(self, request: HttpRequest, obj, form: ModelForm, change: bool) -> None:
        obj._admin_changes = form_changes(form)  # before it is saved; log_* report it
        super().save_model(request, obj, form, change)

    def log_addition(self, request: HttpRequest, obj, message):
        entry = super().log_addition(request, obj, message)
        self.report_saved(request, "add", obj, message)
        return entry

    def log_change(self, request: HttpRequest, obj, message):
        entry = super().log_change(request, obj, message)
        self.report_saved(request, "change", obj, message)
        return entry

    def report_saved(self, request: HttpRequest, action: str, obj, message) -> None:
        before, after = obj.__dict__.pop("_admin_changes", (None, None))
        if not before and not after:  # no field of its form changed (a password, an inline)
            after = {"message": message}
        self.report(request, action, obj, before, after)

    def log_deletions(self, request: HttpRequest, queryset):
        # Called by the delete page and by delete_selected, before anything is deleted.
        for obj in queryset:
            self.report(request, "delete", obj, row_facts(obj), None)
        return super().log_deletions(request, queryset)


class ListOnlyAdmin(StudioAdmin):
    """Rows the studio makes and shows, never changed by hand: listed and opened only."""

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def secret(name: str) -> bool:
    return "password" in name


def fact(value: object) -> object:
    """A short JSON-able form of one value for the audit log (the log's encoder takes
    dates, decimals and UUIDs as they are)."""
    if isinstance(value, QuerySet | list | tuple | set):
        return [fact(item) for item in list(value)[:MAX_IDS]]
    if isinstance(value, models.Model):
        value = str(value)
    elif isinstance(value, FieldFile):
        value = value.name or ""
    elif isinstance(value, dict):
        value = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)
    elif not isinstance(value, str | bool | int | float | Decimal | date | time | UUID):
        value = None if value is None else str(value)
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[: MAX_TEXT - 1] + "…"
    return value


def form_changes(form: ModelForm) -> tuple[dict, dict | None]:
    """(before, after) of the fields the form changed; before is None for a new row.
    Both sides as the field shows them (ids for related rows); passwords never."""
    names = [name for name in form.changed_data if name in form.fields]
    adding = form.instance._state.adding

    def shown(name: str, value: object) -> object:
        return "(changed)" if secret(name) else fact(form.fields[name].prepare_value(value))

    after = {name: shown(name, form.cleaned_data.get(name)) for name in names}
    before = None if adding else {name: shown(name, form.initial.get(name)) for name in names}
    return before, after


def row_facts(obj: models.Model) -> dict:
    """The stored values of a row about to be deleted (related rows by id)."""
    return {
        field.attname: fact(getattr(obj, field.attname))
        for field in obj._meta.concrete_fields
        if not field.primary_key and not secret(field.name)
    }


# ---------------------------------------------------------------------------- users


class StudioUserAdmin(StudioAdmin, UserAdmin):
    """Only a superuser changes a superuser or makes one: the admin role would otherwise take
    over the accounts that reach the task queue (their password, their e-mail)."""

    def changeable(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset if request.user.is_superuser else queryset.filter(is_superuser=False)

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple:
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else (*fields, "is_superuser")


def adopt(model: type[models.Model], base: type[admin.ModelAdmin] = StudioAdmin) -> None:
    """Register `model` again with its current admin on top of `base`."""
    current = type(admin.site.get_model_admin(model))
    admin.site.unregister(model)
    admin.site.register(
        model, type(current.__name__, (base, current), {"__module__": base.__module__})
    )


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), StudioUserAdmin)
for third_party in (
    Group,
    axes_models.AccessAttempt,
    axes_models.AccessLog,
    axes_models.AccessFailureLog,
):
    if admin.site.is_registered(third_party):
        adopt(third_party)
