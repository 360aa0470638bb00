"""Template helpers: a generation's review state, unit amounts, seconds as m:ss, timecodes,
and the timeline (player, comment markers, threads) a page includes with {% timeline %}."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.urls import reverse

from studio.accounts.context import page_path
from studio.generations.models import Generation, Status
from studio.review import budgets, threads
from studio.review.forms import CommentForm
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


@register.simple_tag
def timecode(seconds: float | None, fps: float) -> str:
    return threads.timecode(seconds, fps)


@register.inclusion_tag("review/_timeline.html", takes_context=True)
def timeline(context, generation: Generation, video_id: str = "player") -> dict:
    """The player with frame stepping and timecodes, the comment markers and the threads,
    for a signed-in person (the share link's page builds its own: views.shared_video)."""
    request = context["request"]
    urls = {
        "video": reverse("generation-video", args=[generation.pk]),
        "poster": reverse("generation-poster", args=[generation.pk]) if generation.poster else "",
        "comment": reverse("comment-create", args=[generation.pk]),
    }
    return timeline_context(request, generation, video_id, urls, user=request.user)


def timeline_context(
    request, generation: Generation, video_id: str, urls: dict, *, user=None, share=None
) -> dict:
    found = threads.threads(generation)
    writes = threads.may_comment(user, generation) if share is None else share.can_comment
    return {
        "request": request,
        "generation": generation,
        "video_id": video_id,
        "urls": urls,
        "fps": generation.fps,
        "fps_known": generation.video_fps is not None,
        "length": generation.length,
        "threads": found,
        "marks": threads.markers(found, generation),
        "frame": threads.frame_box(generation),
        "can_comment": writes,
        "can_resolve": share is None and writes,
        "can_remix": share is None and threads.may_remix(user, generation),
        # Any open note on a video sent back for changes can become a retake.
        "review_state": review_state(generation),
        # Its own ids: the review page's decision form has fields of the same names.
        "form": CommentForm(generation=generation, guest=share is not None, auto_id="new-%s"),
        "viewer": user,
        "share": share,
        "colours": threads.COLOURS,
        "next": page_path(request),
    }


@register.filter
def editable_by(comment, user) -> bool:
    return comment.editable_by(user)
