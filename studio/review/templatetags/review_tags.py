"""Template helpers: a generation's review state, unit amounts, and seconds as m:ss."""

from __future__ import annotations

from decimal import Decimal

from django import template

from studio.generations.models import Generation, Status
from studio.review import budgets
from studio.review.models import IN_REVIEW, Review

register = template.Library()


def current_review(generation: Generation) -> Review | None:
    try:
        return generation.review
    except Review.DoesNotExist:
        return None


@register.filter
def review_state(generation: Generation) -> str:
    """ "in_review", "approved", "changes" or "rejected"; "" while the video is not finished."""
    if generation.status != Status.SUCCEEDED:
        return ""
    review = current_review(generation)
    return review.verdict if review else "in_review"


@register.filter
def review_label(generation: Generation) -> str:
    if generation.status != Status.SUCCEEDED:
        return ""
    review = current_review(generation)
    return review.get_verdict_display() if review else IN_REVIEW


@register.filter
def units(value: Decimal | None) -> str:
    return "" if value is None else budgets.fmt(Decimal(value))


@register.filter
def clock(seconds: float | None) -> str:
    """5.25 -> "0:05.2": where a comment is pinned in the video."""
    if seconds is None:
        return ""
    minutes, rest = divmod(float(seconds), 60)
    return f"{int(minutes)}:{rest:04.1f}"
