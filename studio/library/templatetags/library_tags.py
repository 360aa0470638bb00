"""Where a generation came from, as the generation page shows it."""

from __future__ import annotations

from django import template

from studio.generations.models import Generation
from studio.library.models import Batch, PromptVersion, Star, shown_presets

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


@register.inclusion_tag("library/_star.html", takes_context=True)
def card_star(context: template.Context, generation: Generation) -> dict:
    """Keep, on a result's card: the star of the library prompt it came from (retention keeps
    a starred prompt's videos), if the viewer may see that prompt. Looked up once per prompt
    version a page shows; nothing for a video composed by hand."""
    request = context["request"]
    seen = context.render_context.setdefault("card_stars", {})
    key = generation.prompt_version_id
    if key is None:
        return {"prompt": None}
    if key not in seen:
        prompt_id = (
            PromptVersion.objects.visible_to(request.user)
            .filter(pk=key)
            .values_list("prompt_id", flat=True)
            .first()
        )
        seen[key] = prompt_id and {
            "prompt": {"pk": prompt_id},
            "starred": Star.objects.filter(user=request.user, prompt_id=prompt_id).exists(),
            "star_count": Star.objects.filter(prompt_id=prompt_id).count(),
        }
    return {
        **(seen[key] or {"prompt": None}),
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }
