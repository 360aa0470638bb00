"""Template filters for showing generations: model labels, failure reasons and hints."""

from __future__ import annotations

from django import template

from studio.generations.models import Generation, Status
from studio.kling import errors
from studio.kling.capabilities import MODELS

register = template.Library()


@register.filter
def model_label(name: str) -> str:
    spec = MODELS.get(name)
    return spec.label if spec else name


@register.filter
def failure_reason(generation: Generation) -> str:
    """Why it failed, or why the last attempt failed while it is still retrying."""
    if generation.status == Status.FAILED:
        return generation.status_msg or generation.last_error or "The upstream gave no reason."
    return generation.last_error if generation.is_active else ""


@register.filter
def failure_hint(generation: Generation) -> str:
    """What to do about a failure; "" when there is nothing useful to say."""
    if not failure_reason(generation):
        return ""
    return errors.hint(generation.error_code, generation.status_msg, generation.last_error)
