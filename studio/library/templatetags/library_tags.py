"""Where a generation came from, as the generation page shows it."""

from __future__ import annotations

from django import template

from studio.generations.models import Generation
from studio.library.models import Batch, PromptVersion, shown_presets

register = template.Library()


@register.inclusion_tag("library/_generation_sources.html", takes_context=True)
def generation_sources(context: template.Context, generation: Generation) -> dict:
    """Where a generation came from: its prompt version (if the viewer may see that
    prompt), the presets applied (those the viewer may see), its batch, and the recipe
    card to download."""
    user = context["request"].user
    version = None
    if generation.prompt_version_id:
        version = (
            PromptVersion.objects.visible_to(user)
            .select_related("prompt")
            .filter(pk=generation.prompt_version_id)
            .first()
        )
    batch = None
    if generation.batch_id:
        batch = Batch.objects.visible_to(user).filter(pk=generation.batch_id).first()
    presets = shown_presets(user, generation.owner_id, generation.presets)
    return {"generation": generation, "version": version, "presets": presets, "batch": batch}
