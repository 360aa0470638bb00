"""Views for the studio form's library parts (stacking presets, previewing and submitting a
variation batch), the batch page with its live progress, and running a recipe card."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HTMX_STOP_POLLING, HttpResponseClientRedirect, reswap, retarget

from studio.accounts.decorators import member, submitter
from studio.generations import pipeline
from studio.generations.forms import GenerateForm
from studio.generations.models import Status
from studio.generations.views import limits, studio_context
from studio.library import compose, importexport
from studio.library.forms import ImportForm
from studio.library.models import Batch, PromptVersion
from studio.partials import page_or_fragment, wants_fragment
from studio.review.budgets import OverBudget


def studio_page(request: HttpRequest, form: GenerateForm, **extra) -> TemplateResponse:
    """The whole studio page around `form`, for browsers without JavaScript."""
    context = {"form": form, **studio_context(request), **extra}
    return TemplateResponse(request, "generations/studio.html", context)


@require_POST
@member
def preset_apply(request: HttpRequest) -> HttpResponse:
    form = compose.apply_presets(request.user, request.POST)
    if not request.htmx:
        return studio_page(request, form)
    context = {"form": form, **limits()}
    response = TemplateResponse(request, "generations/studio.html#generate-form", context)
    return reswap(retarget(response, "#generate-form"), "outerHTML")


@require_POST
@member
def batch_preview(request: HttpRequest) -> HttpResponse:
    """The variations fieldset again (the prompt's variables changed), or only its
    preview (job count, estimated cost) when a value changed."""
    plan = compose.plan_batch(request.user, request.POST)
    if not request.htmx:
        form = GenerateForm(initial=request.POST.dict())
        return studio_page(request, form, plan=plan, variation_values=request.POST)
    context = {
        **compose.variations_context(request.user, request.POST, plan),
        "request": request,
    }
    template = "library/_variations.html"
    if request.htmx.target == "batch-preview":
        template += "#batch-preview"
    return TemplateResponse(request, template, context)


@require_POST
@member
@submitter
def batch_create(request: HttpRequest) -> HttpResponse:
    plan = compose.plan_batch(request.user, request.POST)
    confirmed = request.POST.get("confirm") == str(plan.size)
    if plan.ok and (confirmed or not plan.needs_confirmation):
        try:
            batch = compose.submit_batch(
                request.user, plan, client_request_id=parse_uuid(request.POST.get("batch_id"))
            )
        except OverBudget as refusal:  # the whole batch was rolled back
            plan.errors.append(str(refusal))
        else:
            messages.success(request, f"Queued a batch of {batch.size} jobs.")
            if request.htmx:
                return HttpResponseClientRedirect(batch.get_absolute_url())
            return redirect(batch)
    plan.confirm = plan.ok and plan.needs_confirmation and not confirmed
    if not request.htmx:
        form = GenerateForm(initial=request.POST.dict())
        return studio_page(request, form, plan=plan, variation_values=request.POST)
    context = {
        **compose.variations_context(request.user, request.POST, plan),
        "request": request,
    }
    response = TemplateResponse(request, "library/_variations.html", context)
    return reswap(retarget(response, "#variations"), "outerHTML")


def parse_uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


@require_safe
@member
def batch_detail(request: HttpRequest, pk: uuid.UUID) -> TemplateResponse:
    batch = get_object_or_404(
        Batch.objects.visible_to(request.user).select_related("prompt_version__prompt"), pk=pk
    )
    found = {str(g.pk): g for g in batch.generations.all()}
    tiles = [
        {"label": item["label"], "generation": found[item["generation"]]}
        for item in batch.items
        if item["generation"] in found
    ]
    done = sum(1 for g in found.values() if g.is_final)
    succeeded = sum(1 for g in found.values() if g.status == Status.SUCCEEDED)
    context = {
        "batch": batch,
        "tiles": tiles,
        "done": done,
        "total": len(tiles),
        "succeeded": succeeded,
        "failed": done - succeeded,
        "active": done < len(found),
    }
    status = 200
    if wants_fragment(request, "batch-live"):
        context["announce"] = request.GET.get("seen") != str(done)
        if not context["active"]:
            status = HTMX_STOP_POLLING
    return page_or_fragment(request, "library/batch.html", "batch-live", context, status)


@require_POST
@member
@submitter
def recipe_run(request: HttpRequest) -> HttpResponse:
    """Run a recipe card again: its exact request, filed under its prompt version when
    the user may see that version and the text still comes from it."""
    form = ImportForm(request.POST, request.FILES)
    errors: list[str] = []
    if form.is_valid():
        try:
            card = importexport.check_recipe(
                importexport.read_json(form.cleaned_data["file"].read())
            )
            version = None
            if card["prompt_version"]:
                version = (
                    PromptVersion.objects.visible_to(request.user)
                    .filter(pk=card["prompt_version"])
                    .first()
                )
            if version is not None and not version.made(card["params"]["prompt"]):
                version = None
            generation = pipeline.create_generation(
                request.user, card["params"], prompt_version=version, presets=card["presets"]
            )
        except importexport.ImportRefused as refused:
            errors = refused.errors
        except OverBudget as refusal:
            errors = [str(refusal)]
        else:
            messages.success(request, "Queued the recipe again.")
            return redirect(generation)
    context = {"form": ImportForm(), "recipe_form": form, "recipe_errors": errors}
    return TemplateResponse(request, "library/import.html", context)
