"""Share links: a reviewer or admin makes one (for a video, a shot's takes or a batch),
lists and revokes them; a guest opens one signed out, unlocks it with its password, watches
and (if allowed) comments. A link shows its videos and nothing else (sharing.py)."""

from __future__ import annotations

import functools
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from studio.accounts.decorators import require
from studio.accounts.roles import REVIEW
from studio.generations import delivery
from studio.review import sharing, threads
from studio.review.forms import CommentForm, ShareForm, SharePasswordForm
from studio.review.models import AuditEntry, ShareKind, ShareLink
from studio.review.templatetags.review_tags import timeline_context
from studio.review.views import back_to, comment_refused

GUEST_NAME = "share_guest_name"
BASE = "review/shared_base.html"

# ---------------------------------------------------------------------------- the studio side


@require_http_methods(["GET", "HEAD", "POST"])
@require(REVIEW)
def share_create(request: HttpRequest) -> HttpResponse:
    """?kind=video|shot|batch&id=<uuid>: the terms, then the link (its token shown once)."""
    kind = request.GET.get("kind", "")
    target = sharing.targets(request.user, kind, request.GET.get("id"))
    if target is None:
        raise Http404("Nothing you may share there.")
    form = ShareForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        link, token = sharing.create(request.user, kind, target, **form.cleaned_data)
        url = request.build_absolute_uri(reverse("shared", args=[token]))
        return TemplateResponse(request, "review/share_created.html", {"link": link, "url": url})
    context = {"form": form, "kind": ShareKind(kind), "target": target}
    status = 400 if request.method == "POST" else 200
    return TemplateResponse(request, "review/share_new.html", context, status=status)


@require_safe
@require(REVIEW)
def share_list(request: HttpRequest) -> TemplateResponse:
    """The links one made (admins: everyone's), with how often each was used."""
    links = list(sharing.links_for(request.user)[:200])
    uses = (
        AuditEntry.objects.filter(
            target_type="review.sharelink", target_id__in=[str(link.pk) for link in links]
        )
        .exclude(action__in=["share.create", "share.revoke"])
        .values("target_id")
        .annotate(n=Count("pk"))
    )
    counts = {row["target_id"]: row["n"] for row in uses}
    for link in links:
        link.uses = counts.get(str(link.pk), 0)
    return TemplateResponse(request, "review/shares.html", {"links": links})


@require_POST
@require(REVIEW)
def share_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    link = get_object_or_404(sharing.links_for(request.user), pk=pk)
    sharing.revoke(link, request.user)
    messages.success(request, "Link revoked: it no longer opens.")
    return redirect("shares")


# ---------------------------------------------------------------------------- guests


def open_link(request: HttpRequest, token: str) -> tuple[ShareLink | None, HttpResponse | None]:
    """The live link for `token`, or the refusal to answer with (audited when the link
    exists: expired or revoked)."""
    link = sharing.find(token)
    if link is None:
        return None, gone(request, 404)
    if not link.is_live():
        why = "revoked" if link.revoked_at else "expired"
        sharing.used(request, link, "share.refused", why=why)
        return None, gone(request, 410)
    return link, None


def gone(request: HttpRequest, status: int, message: str = sharing.GONE) -> TemplateResponse:
    context = {"message": message}
    return TemplateResponse(request, "review/shared_gone.html", context, status=status)


@login_not_required
@require_http_methods(["GET", "HEAD", "POST"])
def shared_page(request: HttpRequest, token: str) -> HttpResponse:
    """What the link shares; first its password, if it has one."""
    link, refused = open_link(request, token)
    if refused:
        return refused
    form = SharePasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        problem = sharing.unlock(request, link, form.cleaned_data["password"])
        if not problem:
            return redirect("shared", token)
        form.add_error("password", problem)
    if not sharing.unlocked(request, link):
        context = {"link": link, "form": form, "token": token}
        status = 400 if request.method == "POST" else 200
        return TemplateResponse(request, "review/shared_password.html", context, status=status)
    videos = list(link.videos())
    if link.kind == ShareKind.VIDEO and videos:
        return redirect("shared-video", token, videos[0].pk)
    sharing.used(request, link, "share.view")
    return TemplateResponse(
        request, "review/shared.html", {"link": link, "videos": videos, "token": token}
    )


def guest_video(request: HttpRequest, token: str, pk: uuid.UUID):
    """(link, video, None) for a video the unlocked link shares, else (.., .., refusal)."""
    link, refused = open_link(request, token)
    if refused:
        return None, None, refused
    if not sharing.unlocked(request, link):
        return link, None, redirect("shared", token)
    video = link.videos().filter(pk=pk).first()
    if video is None:
        sharing.used(request, link, "share.refused", why="not shared", video=str(pk))
        raise Http404("Not shared by this link.")
    return link, video, None


def guest_video_view(view):
    """A guest's view of one video a link shares, called as view(request, token, link, video)
    once the link is open and unlocked and shares the video; otherwise the refusal is the
    answer (the password page for a locked link)."""

    @functools.wraps(view)
    def opened(request: HttpRequest, token: str, pk: uuid.UUID) -> HttpResponse:
        link, video, refused = guest_video(request, token, pk)
        if refused:
            return refused
        return view(request, token, link, video)

    return opened


@login_not_required
@require_safe
@guest_video_view
def shared_video(request: HttpRequest, token: str, link: ShareLink, video) -> HttpResponse:
    sharing.used(request, link, "share.view", video=str(video.pk))
    context = timeline_context(
        request, video, "shared-player", guest_urls(token, video), share=link
    )
    context.update(link=link, token=token, guest_name=request.session.get(GUEST_NAME, ""))
    context["form"].initial["name"] = context["guest_name"]
    return TemplateResponse(request, "review/shared_video.html", context)


def guest_urls(token: str, video) -> dict:
    return {
        "video": reverse("shared-video-file", args=[token, video.pk]),
        "poster": reverse("shared-poster", args=[token, video.pk]) if video.poster else "",
        "comment": reverse("shared-comment", args=[token, video.pk]),
    }


@login_not_required
@require_POST
@guest_video_view
def shared_comment(request: HttpRequest, token: str, link: ShareLink, video) -> HttpResponse:
    """A guest's comment or reply, marked guest, in the same threads the studio sees."""
    pk = video.pk
    if not link.can_comment:
        sharing.used(request, link, "share.refused", why="view only", video=str(pk))
        return gone_view_only(request)
    if sharing.guest_comments_full(link):
        sharing.used(request, link, "share.refused", why="too many comments", video=str(pk))
        return gone(request, 429, sharing.TOO_MANY_COMMENTS)
    form = CommentForm(request.POST, generation=video, guest=True)
    if not form.is_valid():
        url = reverse("shared-comment", args=[token, pk])
        response = comment_refused(request, video, form, url=url)
        response.context_data["base_template"] = BASE
        return response
    name = form.cleaned_data["name"].strip()
    comment = threads.add(video, form.cleaned_data, guest_name=name, share=link)
    request.session[GUEST_NAME] = name
    sharing.used(request, link, "share.comment", video=str(pk), comment=comment.pk, name=name)
    page = back_to(request) or reverse("shared-video", args=[token, pk])
    return redirect(f"{page.split('#')[0]}#comment-{comment.pk}")


def gone_view_only(request: HttpRequest) -> TemplateResponse:
    context = {"message": "This link is view-only: it does not take comments."}
    return TemplateResponse(request, "review/shared_gone.html", context, status=403)


@login_not_required
@require_safe
def shared_file(request: HttpRequest, token: str, pk: uuid.UUID, field: str) -> HttpResponseBase:
    """The video or a poster of a video this link shares, with byte ranges; nothing else."""
    link, video, refused = guest_video(request, token, pk)
    if refused:
        return refused if refused.status_code != 302 else HttpResponse(status=403)
    stored = getattr(video, field)
    if not stored:
        raise Http404("Not stored.")
    if request.headers.get("Range", "bytes=0-").startswith("bytes=0-"):
        sharing.used(request, link, f"share.{field}", video=str(pk))  # not every range read
    kind = "video/mp4" if field == "video" else "image/jpeg"
    extension = {"video": "mp4", "poster": "jpg", "poster_1x": "1x.jpg"}[field]
    return delivery.respond(request, stored, kind, f"shared-{pk}.{extension}")
