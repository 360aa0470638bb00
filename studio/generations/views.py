"""The generations' pages and the fragments htmx swaps: the generation page, run again,
history, compare, and the access-checked media files. The studio page: studio/composer/."""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HTMX_STOP_POLLING, HttpResponseClientRefresh

from studio.accounts.decorators import require, submitter
from studio.accounts.roles import GALLERY
from studio.generations import activity, delivery, pictures, pipeline
from studio.generations.forms import ALL_MODELS, HistoryFilterForm
from studio.generations.models import Generation, InputImage
from studio.generations.signals import CreateRefused
from studio.keyset import Keys, paginate
from studio.kling.capabilities import describe_camera, ordered_body, ordered_image_body
from studio.kling.images import ImageRefused
from studio.partials import page_or_fragment, wants_fragment

HISTORY_PAGE_SIZE = 24
HISTORY_KEYS = Keys(("created_at", "id"), descending=True)  # newest first


def parse_uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw.strip())
    except (ValueError, AttributeError):
        raise Http404("No such generation.") from None


# ---------------------------------------------------------------------------- one generation


@require_safe
@require(GALLERY)
def generation_detail(request: HttpRequest, pk: uuid.UUID) -> TemplateResponse:
    visible = Generation.objects.visible_to(request.user)
    generation = get_object_or_404(
        visible.select_related("owner", "image", "image_tail", "continued_from"), pk=pk
    )
    context = {
        "generation": generation,
        "events": list(generation.events.all()),
        "timings": timings(generation),
        "takes": Generation.objects.visible_to(request.user).filter(shot_id=generation.shot_id),
    }
    # Which takes of the shot a reviewer approved ("approved" is review's verdict value).
    context["approved_takes"] = context["takes"].filter(review__verdict="approved")
    # While this video runs its poll brings the nav's activity too (one poll, R88).
    opened = activity.from_cursor(request.GET.get("activity_since"))
    context["activity"] = activity.activity(request.user, opened, carried=generation.is_active)
    if wants_fragment(request, "generation-live"):
        # `seen` is the status the page shows: announce only a change.
        context["announce"] = request.GET.get("seen") != generation.status
        context["activity_oob"] = True
    else:
        order = ordered_image_body if generation.from_image else ordered_body
        context["recipe"] = json.dumps(order(generation.request_body), indent=2, ensure_ascii=False)
        context["sequence"] = sequence(generation, visible)
    return page_or_fragment(request, "generations/detail.html", "generation-live", context)


@require_safe
@require(GALLERY)
def shot_detail(request: HttpRequest, pk: uuid.UUID) -> TemplateResponse:
    """A shot's takes as a stack, newest first, each with its verdict; pick two to compare."""
    visible = Generation.objects.visible_to(request.user).filter(shot_id=pk)
    takes = list(visible.select_related("owner", "review").order_by("-take", "-created_at"))
    if not takes:
        raise Http404("No such shot.")
    approved = [
        take
        for take in takes
        if getattr(take, "review", None) and take.review.verdict == "approved"
    ]
    context = {"shot_id": pk, "takes": takes, "approved": approved, "latest": takes[0]}
    return TemplateResponse(request, "generations/shot.html", context)


def sequence(generation: Generation, visible) -> dict:
    """The shots around this one that the user may see: the one it continues (only if
    visible) and those that continue it, oldest first."""
    before = None
    if generation.continued_from_id:
        before = visible.filter(pk=generation.continued_from_id).first()
    after = list(visible.filter(continued_from=generation).order_by("created_at")[:50])
    return {"before": before, "after": after}


@require_POST
@submitter
def generation_continue(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Take a frame of the video (`at` seconds in, or the last one) as the start image of
    a new image-to-video job, and open the studio form with it."""
    generation = get_object_or_404(Generation.objects.visible_to(request.user), pk=pk)
    at = parse_seconds(request.POST.get("at", ""))
    if at is False:
        messages.error(request, "No frame taken: the time is not a number of seconds.")
        return redirect(generation)
    try:
        picture = pictures.from_video(request.user, generation, at)  # type: ignore[arg-type]
    except ImageRefused as refused:
        messages.error(request, f"No frame taken: {refused}")
        return redirect(generation)
    return redirect(f"{reverse('studio')}?image={picture.pk}")


def parse_seconds(raw: str) -> float | None | bool:
    """Seconds into a video from a form: None for empty (the last frame), False if bad."""
    if not raw.strip():
        return None
    try:
        seconds = float(raw)
    except ValueError:
        return False
    return seconds if math.isfinite(seconds) and 0 <= seconds <= 24 * 3600 else False


@require_POST
@submitter
def generation_run_again(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    generation = get_object_or_404(Generation.objects.visible_to(request.user), pk=pk)
    again = None
    try:
        again = pipeline.run_again(generation, request.user)
    except CreateRefused as refusal:
        messages.error(request, str(refusal))
    except ValueError as refusal:  # e.g. a 12 s kling-v3 job with the 3-15 s setting off
        messages.error(request, f"Not queued again: {refusal}")
    else:
        messages.success(request, "Queued again with the same parameters.")
    if request.htmx:  # from a card: the page it is on shows the message and the new job
        return HttpResponseClientRefresh()
    return redirect(again or generation)


@require_POST
@require(GALLERY)
def generation_archive(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Archive (archive=1) or unarchive (archive=0) one's own finished generation: it
    leaves the studio queue and History's default view, and nothing else changes (the
    files, the review, the gallery). Someone else's is a 404; a job still running is
    refused, so the queue keeps showing what is being paid for until it ends."""
    generation = get_object_or_404(Generation.objects.owned_by(request.user), pk=pk)
    archive = request.POST.get("archive") != "0"
    if not generation.set_archived(archive):
        messages.error(request, "Not archived: a job is archived once it has finished.")
        return HttpResponseClientRefresh() if request.htmx else redirect(generation)
    shown_on = request.POST.get("shown_on", "")
    if request.htmx:
        context = {"generation": generation, "shown_on": shown_on}
        return TemplateResponse(request, "_archive.html#archive-done", context)
    word = "Archived" if archive else "Unarchived"
    messages.success(request, f"{word}: {generation.title[:60]}.")
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        return redirect(back)
    return redirect(generation)


def timings(generation: Generation) -> list[tuple[str, str]]:
    """How long each stage took, for the generation page."""
    rows = []
    if generation.submitted_at:
        rows.append(("Waited to be sent", elapsed(generation.created_at, generation.submitted_at)))
    if generation.finished_at:
        start = generation.submitted_at or generation.created_at
        rows.append(("Upstream and storing", elapsed(start, generation.finished_at)))
        rows.append(("Total", elapsed(generation.created_at, generation.finished_at)))
    elif generation.is_active:
        rows.append(("Running for", elapsed(generation.created_at, timezone.now())))
    return rows


def elapsed(start: datetime, end: datetime) -> str:
    seconds = max(0, round((end - start).total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


# ---------------------------------------------------------------------------- media


# A generation's stored files, by field: the type they are sent as, the download name's end.
MEDIA = {
    "video": ("video/mp4", "mp4"),
    "poster": ("image/jpeg", "jpg"),
    "poster_1x": ("image/jpeg", "1x.jpg"),
}


@require_safe
@require(GALLERY)
def generation_file(request: HttpRequest, pk: uuid.UUID, field: str) -> HttpResponseBase:
    """One stored file of a generation the user may see (the URL names which, a key of
    MEDIA), sent the way STUDIO_MEDIA_DELIVERY says (studio/generations/delivery.py); no
    other path reaches it. The upstream result_url is never used here: it expires and it is
    not ours to hand out."""
    generation = get_object_or_404(Generation.objects.visible_to(request.user).only(field), pk=pk)
    stored = getattr(generation, field)
    if not stored:
        raise Http404("Not stored yet.")
    content_type, ending = MEDIA[field]
    return delivery.respond(request, stored, content_type, f"kling-{generation.pk}.{ending}")


@require_safe
@require(GALLERY)
def input_image(request: HttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    """A picture an image-to-video job starts or ends on: to its owner, and to whoever
    may see a generation made from it (InputImage.usable_by)."""
    picture = get_object_or_404(InputImage.objects.usable_by(request.user), pk=pk)
    if not picture.file:
        raise Http404("Not stored.")
    filename = f"image-{pk}.{picture.extension}"
    return delivery.respond(request, picture.file, picture.content_type, filename)


# ---------------------------------------------------------------------------- history


@require_safe
@require(GALLERY)
def history(request: HttpRequest) -> TemplateResponse:
    form = HistoryFilterForm(request.GET or None, user=request.user)
    visible = Generation.objects.visible_to(request.user).select_related("owner", "review")
    parts = Generation.objects.visible_parts(request.user)
    page = paginate(request.GET, form.filter(visible), HISTORY_KEYS, HISTORY_PAGE_SIZE, parts)
    view = "list" if request.GET.get("view") == "list" else "grid"
    mine = [g for g in page.object_list if g.is_active and g.owner_id == request.user.pk]
    context = {
        "form": form,
        "page": page,
        "view": view,
        # The nav's poll brings these tiles' changes (activity_updates).
        "activity_watch": ",".join(str(g.pk) for g in mine) if view == "grid" else "",
    }
    return page_or_fragment(request, "generations/history.html", "history-results", context)


@require_safe
def activity_updates(request: HttpRequest) -> TemplateResponse:
    """The nav's poll on pages without one of their own: the user's activity since the page
    opened, and on History the tiles of its running jobs (out of band) as they change.
    HTTP 286 stops it once nothing runs."""
    since = activity.from_cursor(request.GET.get("since")) or timezone.now()
    tiles = activity.watched(request.user, request.GET.get("watch", ""))
    context = {
        "activity": activity.activity(request.user, since),
        "tiles": tiles,
        "activity_watch": ",".join(str(g.pk) for g in tiles if g.is_active),
    }
    status = 200 if context["activity"].running else HTMX_STOP_POLLING
    page = "generations/history.html#activity-updates"
    return TemplateResponse(request, page, context, status=status)


@require_safe
@require(GALLERY)
def compare(request: HttpRequest) -> HttpResponse:
    raw = [part for value in request.GET.getlist("ids") for part in value.split(",")]
    ids = list(dict.fromkeys(parse_uuid(part) for part in raw if part.strip()))
    if not 2 <= len(ids) <= 4:
        messages.error(request, "Pick two to four generations to compare.")
        return redirect("history")
    found = (
        Generation.objects.visible_to(request.user)
        .select_related("owner", "image", "image_tail")
        .in_bulk(ids)
    )
    if len(found) != len(ids):
        raise Http404("No such generation.")
    generations = [found[pk] for pk in ids]
    context = {"generations": generations, "rows": compare_rows(generations)}
    return TemplateResponse(request, "generations/compare.html", context)


def compare_rows(generations: list[Generation]) -> list[dict]:
    """The parameter table of a comparison; `differs` marks a row whose values are not all equal."""

    fields = [
        ("Made from", lambda g: g.get_kind_display()),
        ("Model", lambda g: ALL_MODELS.get(g.model_name, g.model_name)),
        ("Mode", lambda g: g.mode or "none"),
        ("Duration", lambda g: f"{g.duration} s"),
        ("Aspect ratio", lambda g: g.aspect_ratio or "the image's"),
        ("Start image", lambda g: picture_words(g.image)),
        ("End image", lambda g: picture_words(g.image_tail)),
        ("cfg_scale", lambda g: "default" if g.cfg_scale is None else f"{g.cfg_scale:g}"),
        ("Camera control", lambda g: describe_camera(g.camera_control)),
        ("Prompt", lambda g: g.prompt),
        ("Negative prompt", lambda g: g.negative_prompt or "none"),
        ("Status", lambda g: g.get_status_display()),
        ("Author", lambda g: g.owner.get_username()),
        ("Created", lambda g: timezone.localtime(g.created_at).strftime("%Y-%m-%d %H:%M")),
    ]
    rows = []
    for label, value in fields:
        values = [value(g) for g in generations]
        rows.append({"label": label, "values": values, "differs": len(set(values)) > 1})
    return rows


def picture_words(picture: InputImage | None) -> str:
    """A picture in a comparison: its size and the start of its digest (same picture,
    same words), or "none"."""
    if picture is None:
        return "none"
    return f"{picture.width}×{picture.height} {picture.format} · {picture.sha256[:10]}"
