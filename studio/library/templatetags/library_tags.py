"""The studio form's library parts: the preset stack and the variations (batch) fieldset."""

from __future__ import annotations

from django import template

from studio.generations.forms import GenerateForm
from studio.generations.models import Generation
from studio.library import compose
from studio.library.models import Batch, PromptVersion

register = template.Library()


@register.inclusion_tag("library/_preset_picker.html", takes_context=True)
def preset_picker(context: template.Context, form: GenerateForm) -> dict:
    return compose.picker_context(context["request"].user, form)


@register.inclusion_tag("library/_variations.html", takes_context=True)
def variations(context: template.Context, form: GenerateForm) -> dict:
    user = context["request"].user
    values = context.get("variation_values")
    if values is None:
        values = form.data if form.is_bound else form.initial
    plan = context.get("plan")
    if plan is None and form.is_bound and compose.has_variations(values):
        plan = compose.plan_batch(user, values)  # the form came back (presets): keep the preview
    return {**compose.variations_context(user, values, plan), "request": context["request"]}


@register.inclusion_tag("library/_generation_sources.html", takes_context=True)
def generation_sources(context: template.Context, generation: Generation) -> dict:
    """Where a generation came from: its prompt version (if the viewer may see that
    prompt), the presets applied, its batch, and the recipe card to download."""
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
    return {"generation": generation, "version": version, "batch": batch}
