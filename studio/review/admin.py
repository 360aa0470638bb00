"""The Django admin for reviewers and admins: the generation admin (generations/admin.py)
with verdicts, a review filter, decisions and bulk verdicts; reviews; budgets; the
read-only audit log. The task queue's admin (django-q2) is for superusers only. Every one
is a StudioAdmin (accounts/admin.py): the studio's rows and rules, and audited.

The admin runs under the same strict CSP as the studio: no inline scripts or styles here,
only classes from review/admin.css."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django_q import models as q_models

from studio.accounts.admin import ListOnlyAdmin, StudioAdmin, adopt
from studio.accounts.roles import REVIEW
from studio.generations.admin import GenerationAdmin
from studio.generations.models import Generation, Status
from studio.review import budgets
from studio.review.models import (
    SELF_APPROVAL_REFUSED,
    AuditEntry,
    Budget,
    Charge,
    Decision,
    Review,
    Verdict,
)
from studio.review.templatetags.review_tags import review_label, review_state

ADMIN_MEDIA = {"css": {"all": ("review/admin.css",)}}

admin.site.site_header = "Kling Prompt Studio admin"
admin.site.site_title = "Kling Prompt Studio admin"
admin.site.site_url = "/"  # "View site" goes back to the studio


class ReviewStateFilter(admin.SimpleListFilter):
    title = "review state"
    parameter_name = "review"

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return [("in_review", "In review"), *Verdict.choices, ("unfinished", "Not finished")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "in_review":
            return queryset.filter(status=Status.SUCCEEDED, review__isnull=True)
        if value == "unfinished":
            return queryset.exclude(status=Status.SUCCEEDED)
        if value in Verdict.values:
            return queryset.filter(review__verdict=value)
        return queryset


class DecisionInline(admin.TabularInline):
    model = Decision
    extra = 0
    can_delete = False
    fields = ("created_at", "reviewer", "verdict", "at_seconds", "comment")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def after(items: tuple, anchor: str, *added) -> tuple:
    """`items` with `added` right after `anchor`."""
    at = items.index(anchor) + 1
    return (*items[:at], *added, *items[at:])


class ReviewedGenerationAdmin(GenerationAdmin):
    """The generation admin with the review's parts: a verdict column and filter, the
    decisions, and bulk verdicts (or the studio's review page, linked from each row)."""

    list_display = after(GenerationAdmin.list_display, "status", "review_verdict")
    list_filter = after(GenerationAdmin.list_filter, "status", ReviewStateFilter)
    actions = (*GenerationAdmin.actions, "approve", "reject")
    inlines = (DecisionInline,)
    fieldsets = (
        (
            "Video",
            {"fields": after(GenerationAdmin.fieldsets[0][1]["fields"], "player", "review_link")},
        ),
        *GenerationAdmin.fieldsets[1:],
    )

    class Media:
        css = ADMIN_MEDIA["css"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Generation]:
        return super().get_queryset(request).select_related("review")

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVIEW)

    @admin.display(description="Review")
    def review_verdict(self, generation: Generation) -> str:
        label = review_label(generation)
        if not label:
            return "–"
        return format_html(
            '<span class="admin-review is-{}">{}</span>', review_state(generation), label
        )

    @admin.display(description="Review")
    def review_link(self, generation: Generation) -> str:
        label = review_label(generation) or "Not finished"
        if generation.status != Status.SUCCEEDED:
            return label
        url = reverse("review-generation", args=[generation.pk])
        return format_html('{} · <a href="{}">Review it in the studio</a>', label, url)

    @admin.action(description="Approve the selected videos", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Generation]) -> None:
        self._decide(request, queryset, Verdict.APPROVED, "Approved in bulk from the admin.")

    @admin.action(description="Reject the selected videos", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Generation]) -> None:
        self._decide(request, queryset, Verdict.REJECTED, "Rejected in bulk from the admin.")

    def _decide(self, request, queryset, verdict: Verdict, comment: str) -> None:
        finished = list(queryset.filter(status=Status.SUCCEEDED))
        mine = [g for g in finished if Review.refusal(g, request.user, verdict)]
        for generation in finished:
            if generation not in mine:
                Review.decide(generation, request.user, verdict, comment)
        skipped = queryset.count() - len(finished)
        label = Verdict(verdict).label.lower()
        done = len(finished) - len(mine)
        self.message_user(request, f"{done} video(s) {label}.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} not finished, so not reviewed.", messages.WARNING
            )
        if mine:
            self.message_user(
                request,
                f"{len(mine)} not approved, being your own: {SELF_APPROVAL_REFUSED}",
                messages.ERROR,
            )


@admin.register(Review)
class ReviewAdmin(StudioAdmin):
    list_display = ("generation", "verdict", "reviewer", "decided_at")
    list_filter = ("verdict", "decided_at", ("reviewer", admin.RelatedOnlyFieldListFilter))
    search_fields = ("generation__prompt", "comment")
    list_select_related = ("generation", "reviewer")

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet[Review]:
        return queryset.visible_to(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Budget)
class BudgetAdmin(StudioAdmin):
    """Monthly budgets; every change is audited (signals.py, actor from the request)."""

    list_display = ("scope", "monthly_units", "spent_this_month", "updated_at")
    search_fields = ("user__username",)

    @admin.display(description="For")
    def scope(self, budget: Budget) -> str:
        return budget.user.get_username() if budget.user_id else "The whole team"

    @admin.display(description="Spent this month")
    def spent_this_month(self, budget: Budget) -> str:
        start, end = budgets.month_range()
        month = Charge.objects.between(start, end)
        if budget.user_id:
            month = month.filter(owner_id=budget.user_id)
        spent = month.units()
        share = int(spent * 100 / budget.monthly_units) if budget.monthly_units > 0 else 100
        return f"{budgets.fmt(spent)} ({share} %)" if spent > Decimal(0) else "0"


@admin.register(AuditEntry)
class AuditEntryAdmin(ListOnlyAdmin):
    """The audit log: browse and search, never edit."""

    list_display = ("at", "actor_name", "action", "target", "change_summary")
    list_filter = ("action", "at", ("actor", admin.RelatedOnlyFieldListFilter))
    search_fields = ("target_repr", "target_id", "actor_name", "action")
    date_hierarchy = "at"
    fields = (
        "at",
        "actor",
        "actor_name",
        "action",
        "target_type",
        "target_id",
        "target",
        "before",
        "after",
    )
    readonly_fields = fields

    class Media:
        css = ADMIN_MEDIA["css"]

    @admin.display(description="Target")
    def target(self, entry: AuditEntry) -> str:
        if not entry.target_type or not entry.target_id:
            return entry.target_repr or "–"
        app_label, _, model = entry.target_type.partition(".")
        try:
            url = reverse(f"admin:{app_label}_{model}_change", args=[entry.target_id])
        except NoReverseMatch:
            return entry.target_repr
        return format_html('<a href="{}">{}</a>', url, entry.target_repr)

    @admin.display(description="Before → after")
    def change_summary(self, entry: AuditEntry) -> str:
        def show(value: object) -> str:
            return "–" if value is None else str(value)

        parts = [f"{key}: {show(old)} → {show(new)}" for key, old, new in entry.changes]
        text = "; ".join(parts)
        return text if len(text) <= 160 else text[:159] + "…"


# ---------------------------------------------------------------------------- task queue


class SuperusersOnly(StudioAdmin):
    """django-q2's admin pages show task arguments and results: superusers only."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return self.has_module_permission(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_module_permission(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_module_permission(request) and super().has_delete_permission(request, obj)


for q_model in (q_models.Schedule, q_models.Success, q_models.Failure, q_models.OrmQ):
    if admin.site.is_registered(q_model):
        adopt(q_model, SuperusersOnly)


admin.site.unregister(Generation)
admin.site.register(Generation, ReviewedGenerationAdmin)
