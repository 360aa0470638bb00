"""Template filters for showing generations: model labels, failure reasons and hints."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils import timezone

from studio.generations import posters, timing
from studio.generations.models import Generation, Status
from studio.kling import errors
from studio.kling.capabilities import IMAGE_MODELS, MODELS, describe_camera

register = template.Library()


@register.simple_tag
def poster(generation: Generation, alt: str = "", css: str = "", lazy: bool = True):
    """The poster's <img>, 1x and 2x in srcset (generations/posters.py); "" without one."""
    return posters.img(generation, alt=alt, css=css, lazy=lazy)


@register.simple_tag
def player_poster(generation: Generation):
    """The poster's <img> in the generation page's player, srcset by width."""
    return posters.player_img(generation)


@register.filter
def model_label(name: str) -> str:
    spec = MODELS.get(name) or IMAGE_MODELS.get(name)
    return spec.label if spec else name


@register.filter
def failure_reason(generation: Generation) -> str:
    """Why it failed, or why the last attempt failed while it is still retrying."""
    if generation.status == Status.FAILED:
        return generation.status_msg or generation.last_error or "The upstream gave no reason."
    if generation.status == Status.NEEDS_ATTENTION:
        return generation.status_msg
    return generation.last_error if generation.is_active else ""


@register.filter
def failure_hint(generation: Generation) -> str:
    """What to do about a failure; "" when there is nothing useful to say."""
    if not failure_reason(generation):
        return ""
    return errors.hint(generation.error_code, generation.status_msg, generation.last_error)


@register.filter
def shape(generation: Generation) -> str:
    """The CSS class that gives a media box the video's own shape: the stored video's size
    when known, else the aspect ratio asked for (16:9 is the default box)."""
    width, height = generation.video_width, generation.video_height
    if width and height:
        ratio = width / height
        return "ratio-916" if ratio < 0.8 else "ratio-11" if ratio < 1.25 else "ratio-169"
    return {"9:16": "ratio-916", "1:1": "ratio-11"}.get(generation.aspect_ratio, "ratio-169")


@register.filter
def playable(generation: Generation) -> bool:
    """Whether our copy of the video is there to play in place."""
    return generation.status == Status.SUCCEEDED and bool(generation.video)


@register.filter
def input_pictures(generation: Generation) -> list[tuple]:
    """An image-to-video job's pictures with their labels, start first."""
    found = [(generation.image, "Start image"), (generation.image_tail, "End image")]
    return [(picture, label) for picture, label in found if picture is not None]


@register.filter
def picture_of(form, name: str):
    """The picture a generate form shows and keeps for `name` ("image" or "image_tail")."""
    return form.picture(name)


@register.filter
def expected(generation: Generation) -> timing.Expected | None:
    """How long a job like this one usually takes here (generations/timing.py)."""
    return timing.expected(generation.model_name, generation.mode, generation.duration)


@register.filter
def elapsed_seconds(generation: Generation) -> int:
    return max(0, int((timezone.now() - generation.created_at).total_seconds()))


@register.filter
def clock(seconds: int) -> str:
    """m:ss, as the running card's clock shows it (studio.js keeps the same format)."""
    return f"{seconds // 60}:{seconds % 60:02d}"


@register.filter
def camera(camera_control: dict | None) -> str:
    """camera_control in words: "Zoom +5" (kling/capabilities.describe_camera)."""
    return describe_camera(camera_control)


@register.filter
def ago(moment) -> str:
    """A time as people say it: "just now", "3 min ago", "2 h ago", "yesterday", then the
    date; the exact time goes in the <time> element's title."""
    if moment is None:
        return ""
    seconds = (timezone.now() - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 2 * 86400:
        return "yesterday"
    return timezone.localtime(moment).strftime("%-d %b %Y")


@register.filter
def units(value) -> str:
    """7.500 -> "7.5", 2.000 -> "2" (as review_tags.units, for pages of the lower apps)."""
    if value is None:
        return ""
    number = Decimal(value)
    return (
        f"{number.normalize():f}" if number == number.to_integral() else f"{number:.3f}".rstrip("0")
    )
