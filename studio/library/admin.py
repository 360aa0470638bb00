"""Admin for the library, on the library's own rules (accounts/admin.py StudioAdmin): prompts
and presets as the library shows them to this user (their own and the team's), changed or
deleted by their owner only, a new one being the user's own; batches as the batch page shows
them, read-only; tags, stars and default presets only as far as the library shows them.
Prompt versions are read-only here as everywhere: they never change."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import HttpRequest

from studio.accounts.admin import ListOnlyAdmin, StudioAdmin
from studio.library.models import (
    Batch,
    DefaultPreset,
    Preset,
    Prompt,
    PromptVersion,
    Star,
    Tag,
    shown_presets,
)
from studio.library.presets import preset_problems


def visible_tags(user) -> QuerySet[Tag]:
    """The tags the library shows `user`: none that only others' private prompts carry."""
    return Tag.objects.filter(prompts__in=Prompt.objects.visible_to(user)).distinct()


class VersionInline(admin.TabularInline):
    model = PromptVersion
    fields = ("number", "text", "negative_prompt", "notes", "author", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class OwnedAdmin(StudioAdmin):
    """Prompts and presets: the user's own and the team's; only the owner changes or deletes
    one; the owner is never chosen or changed here."""

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.visible_to(request.user)

    def changeable(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.owned_by(request.user)

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple:
        return (*super().get_readonly_fields(request, obj), "owner")

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        if not change:
            obj.owner = request.user  # as in the library: what you make is yours
        super().save_model(request, obj, form, change)


@admin.register(Prompt)
class PromptAdmin(OwnedAdmin):
    list_display = ("title", "owner", "visibility", "updated_at", "archived_at")
    list_filter = (
        "visibility",
        ("archived_at", admin.EmptyFieldListFilter),
        ("tags", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("title", "versions__text", "tags__name", "owner__username")
    # What a fork came from may be someone's private prompt by now; the library's page
    # shows it to those who may see it.
    exclude = ("forked_from", "forked_from_version")
    # Kept by the generations' transitions (library/counters.py); shown, never typed in.
    readonly_fields = ("runs", "finished", "succeeded", "success_rate", "last_used", "team_videos")
    filter_horizontal = ("tags",)
    inlines = [VersionInline]

    def formfield_for_manytomany(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "tags":
            kwargs["queryset"] = visible_tags(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


@admin.register(PromptVersion)
class PromptVersionAdmin(StudioAdmin):
    list_display = ("prompt", "number", "author", "created_at")
    search_fields = ("prompt__title", "text")
    readonly_fields = VersionInline.fields + ("prompt",)

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.visible_to(request.user)

    def changeable(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(prompt__owner=request.user)  # deleted with their prompt

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class PresetAdminForm(forms.ModelForm):
    """The preset form's rules: only request-body parameters some model takes."""

    class Meta:
        model = Preset
        fields = ("name", "visibility", "params")

    def clean_params(self) -> dict:
        params = self.cleaned_data["params"]
        found = preset_problems(params)
        if found:
            raise forms.ValidationError(
                [f"{key}: {message}" if key else message for key, message in found.items()]
            )
        return params


@admin.register(Preset)
class PresetAdmin(OwnedAdmin):
    form = PresetAdminForm
    list_display = ("name", "owner", "visibility", "updated_at")
    list_filter = ("visibility",)
    search_fields = ("name", "owner__username")


@admin.register(Batch)
class BatchAdmin(ListOnlyAdmin):
    """As the batch page shows a batch (its owner, and admins, see it), read-only: batches
    are made by the studio form. Its prompt and swept presets show only where the viewer
    may see them; the jobs (labelled with preset names) are on the batch page."""

    list_display = ("created_at", "owner", "size", "estimated_units", "template")
    search_fields = ("template", "owner__username")
    fields = ("owner", "created_at", "size", "estimated_units", "template", "made_from")
    fields += ("variables", "swept")
    readonly_fields = fields

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.visible_to(request.user)

    def get_object(self, request: HttpRequest, object_id: str, from_field=None) -> Batch:
        batch = super().get_object(request, object_id, from_field)
        batch.viewer = request.user  # what made_from and swept may show
        return batch

    @admin.display(description="Prompt version")
    def made_from(self, batch: Batch) -> str:
        if batch.prompt_version_id is None:
            return "–"
        seen = PromptVersion.objects.visible_to(viewer_of(batch))
        version = seen.select_related("prompt").filter(pk=batch.prompt_version_id).first()
        return str(version) if version else "A prompt private to its owner"

    @admin.display(description="Sweep")
    def swept(self, batch: Batch) -> str:
        presets = shown_presets(viewer_of(batch), batch.owner_id, batch.sweep.get("presets"))
        parts = [f"preset {preset.get('name', '')}" for preset in presets]
        parts += [f"{key} {values}" for key, values in batch.sweep.items() if key != "presets"]
        return ", ".join(parts) or "–"


def viewer_of(batch: Batch):
    return getattr(batch, "viewer", None) or AnonymousUser()


@admin.register(Tag)
class TagAdmin(ListOnlyAdmin):
    """Tags come from prompts (the library makes them); renaming or deleting one would
    change other people's prompts, so they are only listed here."""

    search_fields = ("name",)

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(pk__in=visible_tags(request.user).values("pk"))


class MineAdmin(StudioAdmin):
    """Stars and default presets: each user's own, as the library shows them, which they may
    delete (the library's pages set them)."""

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(user=request.user)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Star)
class StarAdmin(MineAdmin):
    list_display = ("prompt", "user", "created_at")

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        seen = Prompt.objects.visible_to(request.user)
        return super().visible(request, queryset).filter(prompt__in=seen)


@admin.register(DefaultPreset)
class DefaultPresetAdmin(MineAdmin):
    list_display = ("user", "preset")

    def visible(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        seen = Preset.objects.visible_to(request.user)
        return super().visible(request, queryset).filter(preset__in=seen)
