"""The operating pages for admins: retention (the list a run would remove, and the button
that removes exactly that list: studio/ops/retention.py) and health (studio/ops/health.py)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from studio.accounts.decorators import require
from studio.accounts.roles import HEALTH, STORAGE
from studio.ops import files, health, retention
from studio.ops.forms import RetentionForm
from studio.partials import page_or_fragment

SHOWN = 500


@require_http_methods(["GET", "HEAD", "POST"])
@require(STORAGE)
def retention_page(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    default = settings.STUDIO_RETENTION_DAYS
    form = RetentionForm(data if "days" in data else ({"days": default} if default else None))
    found = None
    if form.is_valid():
        days, cutoff = form.cleaned_data["days"], form.cleaned_data["cutoff"]
        found = retention.at(days, cutoff) if cutoff else retention.plan(days)
        if request.method == "POST":
            if found.digest == form.cleaned_data["digest"]:
                return run(request, found)
            messages.warning(request, "The list changed since it was shown: check it again.")
    context = {"form": form, "plan": found, "shown": found.rows[:SHOWN] if found else []}
    context["action"] = settings.STUDIO_RETENTION_ACTION
    context["scheduled_days"] = default
    return TemplateResponse(request, "ops/retention.html", context)


def run(request: HttpRequest, found: retention.Plan) -> HttpResponse:
    try:
        removed = retention.apply(found, actor=request.user)
    except files.Busy as error:
        messages.error(request, str(error))
        return redirect("retention")
    verb = "Archived" if settings.STUDIO_RETENTION_ACTION == "archive" else "Deleted"
    messages.success(request, f"{verb} {len(removed)} of {len(found.rows)} videos.")
    return redirect("retention")


@never_cache
@require_safe
@require(HEALTH)
def health_page(request: HttpRequest) -> HttpResponse:
    """Every check, red ones first; the page refreshes its checks every 10 s."""
    now = timezone.now()
    found = health.checks(now)
    context = {"checks": found, "red": [c for c in found if not c.ok], "now": now}
    return page_or_fragment(request, "ops/health.html", "health-checks", context)
