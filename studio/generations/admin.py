"""The Django admin for generations: posters, an inline player, filters, search, every field
read-only (rows change through the pipeline's named transitions only), the rows the studio
shows this user (visible_to). The review app extends it with its verdict column, filter,
decisions and bulk verdicts (review/admin.py). A generation that needs attention
(docs/reliability.md R57) is decided here by an admin with RESOLVE: two bulk actions, mark
failed or retry, each audited like every bulk action (accounts/admin.py). Where a
generation came from (the library's prompt version, presets and batch) shows only as far
as the viewer may see it: the change form renders the library's sources fragment
(templates/admin/generations/generation/).

The admin runs under the same strict CSP as the studio: no inline scripts or styles here,
only classes from generations/admin.css."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from studio.accounts.admin import StudioAdmin
from studio.accounts.roles import RESOLVE
from studio.generations import pipeline, posters
from studio.generations.models import Generation, Status
from studio.generations.templatetags.generation_tags import model_label, shape
from studio.kling import errors
from studio.kling.capabilities import IMAGE_MODELS, MODELS

# The library's links: shown by its own fragment, which hides someone else's private prompt
# version and presets (a raw field would show their names and values to every viewer).
LINKS = ("prompt_version", "presets", "batch")


class ModelFilter(admin.SimpleListFilter):
    """The model filter by label ("Kling 2.6"), not by id ("kling-v2-6")."""

    title = "model"
    parameter_name = "model_name"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        specs = {**IMAGE_MODELS, **MODELS}
        return [(name, spec.label) for name, spec in specs.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(model_name=self.value()) if self.value() else queryset


@admin.register(Generation)
class GenerationAdmin(StudioAdmin):
    """Read-only: rows change through the pipeline's state machine."""

    list_display = (
        "thumbnail",
        "short_prompt",
        "owner",
        "settings",
        "status",
        "units_charged",
        "created_at",
    )
    list_display_links = ("thumbnail", "short_prompt")
    list_filter = (
        "status",
        ModelFilter,
        ("owner", admin.RelatedOnlyFieldListFilter),
        "created_at",
    )
    search_fields = ("prompt", "task_id", "external_task_id")
    actions = ("fail_attention", "retry_attention")
    show_full_result_count = False  # one COUNT less on big tables
    list_per_page = 50
    fieldsets = (
        ("Video", {"fields": ("player", "owner", "status", "created_at")}),
        (
            "Request",
            {
                "fields": (
                    "prompt",
                    "negative_prompt",
                    "model_name",
                    "mode",
                    "duration",
                    "aspect_ratio",
                    "cfg_scale",
                    "camera_control",
                    "request_body",
                )
            },
        ),
        (
            "Upstream",
            {
                "fields": (
                    "external_task_id",
                    "task_id",
                    "upstream_status",
                    "status_msg",
                    "upstream_created_at",
                    "upstream_updated_at",
                    "units_charged",
                    "result_url",
                )
            },
        ),
        (
            "Pipeline",
            {
                "classes": ("collapse",),
                "fields": (
                    "stalled",
                    "submit_attempts",
                    "poll_attempts",
                    "download_attempts",
                    "submitted_at",
                    "finished_at",
                    "next_poll_at",
                    "lease_until",
                    "last_error",
                    "error_code",
                    "submit_uncertain",
                    "client_request_id",
                ),
            },
        ),
        (
            "File",
            {
                "classes": ("collapse",),
                "fields": (
                    "video",
                    "poster",
                    "poster_1x",
                    "video_bytes",
                    "video_sha256",
                    "video_seconds",
                    "video_width",
                    "video_height",
                ),
            },
        ),
    )

    class Media:
        css = {"all": ("generations/admin.css",)}

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet[Generation]:
        # The same rule as every studio page: reviewers see finished videos, admins all.
        return queryset.visible_to(request.user).select_related("owner")

    def get_fieldsets(self, request, obj=None):
        # Fields added later show up too, read-only (the library's links have their fragment).
        listed = {name for _, options in self.fieldsets for name in options["fields"]}
        listed.update(LINKS)
        others = [
            f.name
            for f in Generation._meta.get_fields()
            if f.concrete and not f.auto_created and f.name not in listed and f.name != "id"
        ]
        extra = (("More", {"classes": ("collapse",), "fields": others}),) if others else ()
        return (*self.fieldsets, *extra)

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [
            name for _, options in self.get_fieldsets(request, obj) for name in options["fields"]
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made by the studio and the pipeline, never by hand

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RESOLVE)

    @admin.action(description="Needs attention: mark failed", permissions=["resolve"])
    def fail_attention(self, request: HttpRequest, queryset: QuerySet[Generation]) -> None:
        waiting = list(queryset.filter(status=Status.NEEDS_ATTENTION))
        message = errors.sentence("attention_failed")
        done = sum(g.mark_failed(message, code="attention_failed") for g in waiting)
        self._resolved(request, queryset, done, "marked failed")

    @admin.action(
        description="Needs attention: retry (look up, then send)", permissions=["resolve"]
    )
    def retry_attention(self, request: HttpRequest, queryset: QuerySet[Generation]) -> None:
        waiting = list(queryset.filter(status=Status.NEEDS_ATTENTION))
        done = 0
        for generation in waiting:
            if generation.retry_after_attention(request.user):
                pk = str(generation.pk)
                transaction.on_commit(lambda pk=pk: pipeline.enqueue("submit", pk))
                done += 1
        self._resolved(request, queryset, done, "handed back to the worker")

    def _resolved(self, request: HttpRequest, queryset: QuerySet, done: int, what: str) -> None:
        self.message_user(request, f"{done} generation(s) {what}.", messages.SUCCESS)
        others = queryset.exclude(status=Status.NEEDS_ATTENTION).count()
        if others:
            message = f"{others} did not need attention, so were left alone."
            self.message_user(request, message, messages.WARNING)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="Poster")
    def thumbnail(self, generation: Generation) -> str:
        if not generation.poster:
            return "–"
        alt = f"Poster: {self.short_prompt(generation)[:60]}"
        return posters.img(generation, alt=alt, css=f"admin-thumb {shape(generation)}")

    @admin.display(description="Prompt", ordering="prompt")
    def short_prompt(self, generation: Generation) -> str:
        text = generation.prompt
        return text if len(text) <= 80 else text[:79] + "…"

    @admin.display(description="Model", ordering="model_name")
    def settings(self, generation: Generation) -> str:
        parts = [model_label(generation.model_name), generation.mode, f"{generation.duration} s"]
        return " · ".join(part for part in parts if part)

    @admin.display(description="Video")
    def player(self, generation: Generation) -> str:
        if not generation.video:
            return "Not stored yet."
        video = reverse("generation-video", args=[generation.pk])
        poster = reverse("generation-poster", args=[generation.pk]) if generation.poster else ""
        return format_html(
            '<video class="admin-player" controls preload="metadata" src="{}" poster="{}"></video>'
            '<p><a href="{}?download=1">Download the original</a></p>',
            video,
            poster,
            video,
        )
