"""Admin for the library. Prompt versions are read-only here as everywhere: they never change."""

from django.contrib import admin

from studio.library.models import Batch, DefaultPreset, Preset, Prompt, PromptVersion, Star, Tag


class VersionInline(admin.TabularInline):
    model = PromptVersion
    fields = ("number", "text", "negative_prompt", "notes", "author", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "visibility", "updated_at", "archived_at")
    list_filter = ("visibility", ("archived_at", admin.EmptyFieldListFilter), "tags")
    search_fields = ("title", "versions__text", "tags__name", "owner__username")
    raw_id_fields = ("owner", "forked_from", "forked_from_version")
    filter_horizontal = ("tags",)
    inlines = [VersionInline]


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    list_display = ("prompt", "number", "author", "created_at")
    search_fields = ("prompt__title", "text")
    readonly_fields = VersionInline.fields + ("prompt",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "visibility", "updated_at")
    list_filter = ("visibility",)
    search_fields = ("name", "owner__username")
    raw_id_fields = ("owner",)


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("created_at", "owner", "size", "estimated_units", "template")
    search_fields = ("template", "owner__username")
    raw_id_fields = ("owner", "prompt_version")
    readonly_fields = ("items", "variables", "sweep")


admin.site.register(Tag, search_fields=("name",))
admin.site.register(
    Star, list_display=("prompt", "user", "created_at"), raw_id_fields=("user", "prompt")
)
admin.site.register(
    DefaultPreset, list_display=("user", "preset"), raw_id_fields=("user", "preset")
)
