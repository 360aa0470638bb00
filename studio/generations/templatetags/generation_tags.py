"""Template filters for showing generations: model labels, failure reasons and hints."""

from __future__ import annotations

import re

from django import template

from studio.generations.models import Generation, Status
from studio.kling.capabilities import MODELS

register = template.Library()

# kling-api.md §9.1: what a person can do about the common failures.
HINTS = (
    (
        re.compile(r"\b(1300|1301)\b|moderation|content.safety|policy|sensitive", re.I),
        "Content moderation refused this request. Rephrase the prompt (and the negative "
        "prompt), then use Remix to send the edited version.",
    ),
    (
        re.compile(r"\b(1100|1101|1102)\b|balance|arrears|credit|resource pack|quota", re.I),
        "The API account is out of credit. Top up the CometAPI balance (or the Kling "
        "resource pack), then use Run again.",
    ),
    (
        re.compile(r"\b(1302|1303)\b|rate limit|too (many|fast)|parallel task|concurren", re.I),
        "The upstream was busy (rate or concurrency limit). The studio retries these by "
        "itself with a growing pause; if it still failed, use Run again a little later.",
    ),
    (
        re.compile(r"^timeout$|still not ready", re.I),
        "The upstream never finished this task. Run again; if it keeps happening, try a "
        "shorter duration or std mode.",
    ),
    (
        re.compile(r"^expired$|expired", re.I),
        "The finished video's link expired before it could be copied. Run again.",
    ),
)


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
    for field in (generation.error_code, generation.status_msg, generation.last_error):
        for pattern, hint in HINTS:
            if field and pattern.search(field):
                return hint
    return ""
