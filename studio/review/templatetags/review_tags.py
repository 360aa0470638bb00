"""Template helpers: a generation's review state, unit amounts, seconds as m:ss, and the
budget panel with the live estimate shown beside the studio form."""

from __future__ import annotations

from decimal import Decimal

from django import template

from studio.generations.models import Generation, Status
from studio.review import budgets
from studio.review.models import IN_REVIEW, Review
from studio.review.pricing import PriceUnknown, estimate_units, price_table

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


@register.inclusion_tag("review/_budget.html", takes_context=True)
def budget_panel(context: template.Context, form=None, oob: bool = False) -> dict:
    """What this month's budget leaves and what the form's video would cost; the script
    (review.js) keeps the estimate current as the parameters change."""
    user = context["request"].user
    params = {}
    if form is not None:
        params = {name: form[name].value() for name in ("model_name", "mode", "duration")}
    try:
        estimate = estimate_units(params)
    except PriceUnknown:
        estimate = None
    summary = budgets.summary(user)
    return {
        **summary,
        "estimate": estimate,
        "over": estimate is not None and summary["left"] is not None and estimate > summary["left"],
        "prices": price_table(),
        "oob": oob,
    }
