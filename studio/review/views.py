"""The review queue and a reviewer's page for one video, comments on the timeline (add,
reply, edit, resolve), the team gallery, and the spend page. Share links: share_views.py."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from studio.accounts.decorators import require
from studio.accounts.roles import GALLERY, REVIEW, SPEND
from studio.generations.models import Generation, Status, StorageMonth
from studio.generations.templatetags.generation_tags import model_label
from studio.keyset import Keys, paginate
from studio.partials import page_or_fragment
from studio.review import budgets, news, threads
from studio.review.forms import (
    BulkReviewForm,
    CommentForm,
    DecisionForm,
    EditCommentForm,
    GalleryFilterForm,
    MonthForm,
    QueueFilterForm,
)
from studio.review.models import Comment, Review, Verdict, reviewable

PAGE_SIZE = 24
RECENT = 12
# What the queue's "Latest decisions" table shows of each (templates/review/queue.html).
RECENT_FIELDS = (
    *("verdict", "comment", "at_seconds", "decided_at", "reviewer__username"),
    *("generation__prompt", "generation__kind", "generation__owner__username"),
)
QUEUE_KEYS = Keys(("finished_at", "id"), descending=False)  # oldest first
GALLERY_KEYS = Keys(("review__decided_at", "review__generation_id"), descending=True)


@require_safe
@require(REVIEW)
def review_queue(request: HttpRequest) -> TemplateResponse:
    """Finished videos waiting for a verdict, oldest first, filtered; then the latest verdicts."""
    waiting = Generation.objects.visible_to(request.user).filter(reviewable())
    form = QueueFilterForm(request.GET or None, waiting=waiting)
    shown = form.filter(waiting.select_related("owner", "review"))  # the tiles key on it
    page = paginate(request.GET, shown, QUEUE_KEYS, PAGE_SIZE)
    recent = (
        Review.objects.visible_to(request.user)
        .select_related("generation__owner", "reviewer")
        .only(*RECENT_FIELDS)
        .order_by("-decided_at")[:RECENT]
    )
    context = {"page": page, "recent": recent, "form": form, "bulk": BulkReviewForm()}
    return TemplateResponse(request, "review/queue.html", context)


@require_POST
@require(REVIEW)
def review_bulk(request: HttpRequest) -> HttpResponse:
    """Approve or reject the ticked videos of the queue at once (a rejection says why)."""
    waiting = Generation.objects.visible_to(request.user).filter(reviewable())
    form = BulkReviewForm(request.POST, waiting=waiting)
    if not form.is_valid():
        for error in [e for errors in form.errors.values() for e in errors]:
            messages.error(request, error)
        return redirect(back_to(request) or reverse("review"))
    done, refused = decide_all(request.user, form.cleaned_data)
    if done:
        label = Verdict(form.cleaned_data["verdict"]).label
        messages.success(request, f"{label}: {done} video{'s' if done != 1 else ''}.")
    for generation, why in refused:
        messages.error(request, f"Not decided: {generation.prompt[:50]}: {why}")
    return redirect(back_to(request) or reverse("review"))


def decide_all(reviewer, data: dict) -> tuple[int, list[tuple[Generation, str]]]:
    """Give one verdict to each video; a refused one (self-approval) is reported, not fatal."""
    done, refused = 0, []
    for generation in data["ids"]:
        why = Review.refusal(generation, reviewer, data["verdict"])
        if why:
            refused.append((generation, why))
            continue
        Review.decide(generation, reviewer, data["verdict"], data.get("comment", ""))
        done += 1
    return done, refused


def neighbours(finished, generation: Generation) -> dict:
    """The waiting videos before and after this one in the queue's order (keys N and P)."""
    waiting = finished.filter(reviewable()).exclude(pk=generation.pk)
    at = generation.finished_at
    if at is None:
        return {"next": waiting.order_by("finished_at", "pk").first(), "previous": None}
    later = Q(finished_at__gt=at) | Q(finished_at=at, pk__gt=generation.pk)
    return {
        "next": waiting.filter(later).order_by("finished_at", "pk").first()
        or waiting.order_by("finished_at", "pk").first(),
        "previous": waiting.exclude(later).order_by("-finished_at", "-pk").first(),
    }


@require_http_methods(["GET", "HEAD", "POST"])
@require(REVIEW)
def review_generation(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Watch one finished video and give a verdict with a comment (pinned to a time)."""
    finished = Generation.objects.visible_to(request.user).filter(status=Status.SUCCEEDED)
    generation = get_object_or_404(finished.select_related("owner"), pk=pk)
    form = DecisionForm(request.POST or None, generation=generation, reviewer=request.user)
    if request.method == "POST" and form.is_valid():
        review = Review.decide(generation, request.user, **form.cleaned_data)
        messages.success(request, f"{review.get_verdict_display()}: {generation.prompt[:60]}")
        back = request.POST.get("next", "")  # approved from its batch page: back there
        if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            return redirect(back)
        following = finished.filter(reviewable()).exclude(pk=pk).order_by("finished_at").first()
        return redirect("review-generation", following.pk) if following else redirect("review")
    context = {
        "generation": generation,
        "form": form,
        "decisions": generation.decisions.select_related("reviewer"),
        "waiting": finished.filter(reviewable()).count(),
        **neighbours(finished, generation),
    }
    return TemplateResponse(request, "review/generation.html", context)


# ---------------------------------------------------------------------------- comments


@require_safe
@require(GALLERY)
def review_news(request: HttpRequest) -> TemplateResponse:
    """Verdicts and comments others left on one's own videos, newest first; opening the
    page marks them seen."""
    items = news.latest(request.user)
    if items:
        news.mark_seen(request.user, max(item["at"] for item in items))
    return TemplateResponse(request, "review/news.html", {"items": items})


@require_POST
@require(GALLERY)
def comment_create(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """A new thread on the timeline, or a reply to one: the video's creator and reviewers."""
    finished = Generation.objects.visible_to(request.user).filter(status=Status.SUCCEEDED)
    generation = get_object_or_404(finished, pk=pk)
    if not threads.may_comment(request.user, generation):
        raise PermissionDenied
    form = CommentForm(request.POST, generation=generation)
    if not form.is_valid():
        return comment_refused(request, generation, form)
    comment = threads.add(generation, form.cleaned_data, author=request.user)
    messages.success(request, "Reply added." if comment.parent_id else "Comment added.")
    return redirect(back(request, generation, comment))


@require_POST
@require(GALLERY)
def comment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Its author edits a comment within STUDIO_COMMENT_EDIT_MINUTES."""
    comment = get_object_or_404(Comment.objects.visible_to(request.user), pk=pk)
    if not comment.editable_by(request.user):
        minutes = settings.STUDIO_COMMENT_EDIT_MINUTES
        messages.error(request, threads.NOT_EDITABLE.format(minutes=minutes))
        return redirect(back(request, comment.generation, comment))
    form = EditCommentForm(request.POST)
    if not form.is_valid():
        return comment_refused(request, comment.generation, form, editing=comment)
    threads.edit(comment, request.user, form.cleaned_data["body"])
    messages.success(request, "Comment edited.")
    return redirect(back(request, comment.generation, comment))


@require_POST
@require(GALLERY)
def comment_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    """Resolve (resolved=1) or reopen (resolved=0) a thread."""
    thread = get_object_or_404(Comment.objects.visible_to(request.user).threads(), pk=pk)
    if not threads.may_comment(request.user, thread.generation):
        raise PermissionDenied
    resolved = request.POST.get("resolved") != "0"
    threads.resolve(thread, request.user, resolved)
    messages.success(request, "Thread resolved." if resolved else "Thread reopened.")
    return redirect(back(request, thread.generation, thread))


def comment_refused(
    request: HttpRequest, generation: Generation, form, editing=None, url: str = ""
) -> TemplateResponse:
    """The form again with its messages and what was typed; nothing was saved."""
    context = {
        "generation": generation,
        "form": form,
        "editing": editing,
        "next": back_to(request),
        "urls": {"comment": url or reverse("comment-create", args=[generation.pk])},
        "colours": threads.COLOURS,
    }
    return TemplateResponse(request, "review/comment.html", context, status=400)


def back_to(request: HttpRequest) -> str:
    """The page the form was posted from (a path of this site only), or ""."""
    wanted = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()})
    return wanted if safe and wanted.startswith("/") else ""


def back(request: HttpRequest, generation: Generation, comment: Comment) -> str:
    page = back_to(request) or generation.get_absolute_url()
    return f"{page.split('#')[0]}#comment-{comment.pk}"


@require_safe
@require(GALLERY)
def gallery(request: HttpRequest) -> TemplateResponse:
    """Approved videos, for the whole team: filter by prompt text, tag and model."""
    # team_visible is set by an approving verdict only (mark_reviewed): the count reads
    # the flag's index alone; the rows shown also check the review itself.
    form = GalleryFilterForm(request.GET or None)
    counted = form.filter(
        Generation.objects.visible_to(request.user).filter(team_visible__in=[True])
    )
    shown = counted.filter(review__verdict=Verdict.APPROVED).select_related("owner", "review")
    page = paginate(request.GET, shown, GALLERY_KEYS, PAGE_SIZE, counted=counted)
    context = {"form": form, "page": page}
    return page_or_fragment(request, "review/gallery.html", "gallery-results", context)


@require_safe
@require(SPEND)
def spend(request: HttpRequest) -> TemplateResponse:
    """Spend per person and per model for one month, with budgets and two bar charts."""
    today = timezone.localdate()
    first = MonthForm(request.GET).first_day(today)
    zone = timezone.get_current_timezone()
    start = datetime.combine(first, time.min, tzinfo=zone)
    end = budgets.month_range(start)[1]
    report = budgets.month_spend(start)
    previous = (first - timedelta(days=1)).replace(day=1)
    context = {
        **report,
        "month": first,
        "previous": previous,
        "next": end.date() if end.date() <= today else None,
        "people_chart": bars(
            [(row["user"].get_username(), row["units"]) for row in report["people"]]
        ),
        "model_chart": bars(
            [(model_label(row["model_name"]), row["units"]) for row in report["models"]]
        ),
        "storage": storage(first),
    }
    return TemplateResponse(request, "review/spend.html", context)


def storage(month: date) -> dict:
    """Disk used per person (by the videos made in `month`, and all told) and per month,
    from the byte counts saved with each file, as the StorageMonth rollup keeps them: a
    few rows whatever the history, no walk of the files."""
    people: dict[int, dict] = {}
    months: dict[date, dict] = {}
    rows = StorageMonth.objects.exclude(bytes=0, videos=0).order_by("month", "owner_id")
    for row in rows.values("owner_id", "owner__username", "month", "bytes", "videos"):
        made = row["month"]
        person = people.setdefault(
            row["owner_id"],
            {"name": row["owner__username"], "month": 0, "bytes": 0, "videos": 0},
        )
        person["bytes"] += row["bytes"]
        person["videos"] += row["videos"]
        if made == month:
            person["month"] += row["bytes"]
        total = months.setdefault(made, {"month": made, "bytes": 0, "videos": 0})
        total["bytes"] += row["bytes"]
        total["videos"] += row["videos"]
    return {
        "people": sorted(people.values(), key=lambda p: (-p["bytes"], p["name"])),
        "months": sorted(months.values(), key=lambda m: m["month"], reverse=True),
        "total": sum(p["bytes"] for p in people.values()),
    }


CHART_WIDTH = 640
LABEL_WIDTH = 170
VALUE_WIDTH = 70
BAR_HEIGHT = 22
BAR_GAP = 8


def bars(rows: list[tuple[str, Decimal]]) -> dict:
    """A horizontal bar chart laid out for the SVG in spend.html (no script, no CDN)."""
    room = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    top = max((value for _, value in rows), default=Decimal(0))
    laid = []
    for index, (label, value) in enumerate(rows):
        width = int(room * value / top) if top > 0 else 0
        laid.append(
            {
                "label": label,
                "value": budgets.fmt(value),
                "y": index * (BAR_HEIGHT + BAR_GAP),
                "width": max(width, 1 if value > 0 else 0),
                "value_x": LABEL_WIDTH + width + 6,
            }
        )
    return {
        "bars": laid,
        "width": CHART_WIDTH,
        "height": max(1, len(rows)) * (BAR_HEIGHT + BAR_GAP),
        "label_width": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
        "text_y": BAR_HEIGHT // 2 + 5,
    }
