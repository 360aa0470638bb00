"""The studio page and the fragments htmx swaps in it: the generate form (presets applied,
a refusal), a created generation's card, the live queue's poll, the variations fieldset
with its batch preview, and running a batch or a recipe card."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HTMX_STOP_POLLING, HttpResponseClientRedirect, reswap, retarget

from studio.accounts.decorators import member, submitter
from studio.accounts.roles import GALLERY, REVIEW, SUBMIT
from studio.composer import compose
from studio.generations import activity, pipeline
from studio.generations.models import ACTIVE, SHOWN, Generation, GenerationEvent, Status
from studio.generations.signals import CreateRefused
from studio.kling.capabilities import CAMERA_AXES, IMAGE_MODELS, MODELS, AnySpec, Shape
from studio.library import importexport
from studio.library.batches import Plan, submit_batch
from studio.library.forms import FilledGenerateForm, ImportForm
from studio.review import threads

PAGE = "composer/studio.html"
QUEUE_SIZE = 20  # finished cards shown under the form; active ones are always shown
QUEUE_MAX = 200
# A worker stamps updated_at before its UPDATE commits (it may wait for the SQLite write
# lock), so a row can become visible with a stamp older than one already seen. Each poll
# looks this far behind its cursor; cards seen again are swapped in place, unchanged.
CURSOR_OVERLAP = timedelta(seconds=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR = re.compile(r"[0-9]{1,19}")  # ASCII digits only
RECIPE_OPENED = (
    "The recipe is in the form: check it and press Generate to queue it. Nothing is queued yet."
)

# ---------------------------------------------------------------------------- the page


# The queue is live: a page kept by the browser's cache would show it as it was when first
# loaded, without the poll that brings it up to date (going back from compare showed an
# empty queue), so Back loads it again.
@never_cache
def studio(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(SUBMIT):  # home for everyone: send others where they work
        if request.user.has_perm(REVIEW):
            return redirect("review")
        if request.user.has_perm(GALLERY):
            return redirect("gallery")
        raise PermissionDenied
    remix = None
    form = compose.studio_form(request)  # ?prompt_version, ?presets, the default preset
    if "remix" in request.GET:
        pk = to_uuid(request.GET["remix"].strip())
        if pk is None:
            raise Http404("No such generation.")
        remix = get_object_or_404(Generation.objects.visible_to(request.user), pk=pk)
        form = compose.remix_form(remix, request.user)
        note = threads.note_for_remix(request.user, remix, request.GET.get("note"))
        if note is not None:
            form.initial["note"] = note.pk
        return studio_page(request, form, remix=remix, note=note)
    return studio_page(request, form)


def studio_page(
    request: HttpRequest, form: FilledGenerateForm, plan: Plan | None = None, values=None, **extra
) -> TemplateResponse:
    """The whole page around `form` (also for browsers without JavaScript)."""
    context = {
        **compose.form_context(request.user, form, plan, values),
        "budget": compose.budget_context(request.user, form),
        **studio_context(request),
        **extra,
    }
    return TemplateResponse(request, PAGE, context)


def studio_context(request: HttpRequest) -> dict:
    """The queue under the form: the user's latest cards plus every active one and every
    one that needs attention (docs/reliability.md R57), and the cursors its poll starts from."""
    since = timezone.now()  # taken before the query: later changes reach the first poll
    mine = Generation.objects.visible_to(request.user).filter(SHOWN, owner=request.user)
    mine = mine.select_related("review")  # the card shows the review state; none archived
    latest = mine.values("pk")[:QUEUE_SIZE]
    waiting = Q(status__in=(*ACTIVE, Status.NEEDS_ATTENTION))
    generations = list(mine.filter(waiting | Q(pk__in=latest))[:QUEUE_MAX])
    known = max((g.created_at for g in generations), default=since)
    return {
        "generations": generations,
        "polling": any(g.is_active for g in generations),
        "activity": activity.activity(request.user, since, carried=True),  # the queue poll's
        "since": to_cursor(since),
        "known": to_cursor(known),
        "capabilities": capabilities(),
    }


def capabilities() -> dict:
    """What the form's script needs to adapt the fields to the chosen model."""
    shape = pipeline.request_shape()
    return {
        "models": {
            name: described(
                spec,
                shape,
                camera_control=[list(pair) for pair in spec.camera_control],
                sound_modes=list(spec.sound_modes),
            )
            for name, spec in MODELS.items()
        },
        "image_models": {
            name: described(spec, shape, image_tail=[list(pair) for pair in spec.image_tail])
            for name, spec in IMAGE_MODELS.items()
        },
        "limits": settings.PROMPT_LIMITS,
        "camera_axes": list(CAMERA_AXES),
    }


def described(spec: AnySpec, shape: Shape, **own) -> dict:
    """One model for the script, text or image: what both tables say of it, then the
    endpoint's `own` fields, then its note."""
    return {
        "label": spec.label,
        "modes": list(spec.modes),
        "durations": list(shape.durations(spec)),
        "cfg_scale": spec.cfg_scale,
        **own,
        "note": spec.note,
    }


# ---------------------------------------------------------------------------- one video


@require_POST
@submitter
def generation_create(request: HttpRequest) -> HttpResponse:
    form = FilledGenerateForm(request.POST, request.FILES, owner=request.user)
    if not form.is_valid():
        return form_refused(request, form)
    started = timezone.now()
    try:
        generation = pipeline.create_generation(
            request.user,
            form.params(),
            client_request_id=form.cleaned_data["client_request_id"],
            **compose.links(request.user, form),  # prompt version, applied presets
        )
    except CreateRefused as refusal:  # nothing was saved, nothing is sent
        form.add_error(None, str(refusal))
        return form_refused(request, form)
    note = compose.remix_note(request.user, form.cleaned_data)
    if note is not None:  # a retake of this note: the new take links to it
        threads.link_retake(note, generation)
    if not request.htmx:
        messages.success(request, "Queued. It appears below and updates as it runs.")
        return redirect("studio")
    # The same client_request_id again gives the first row back: its card is on the
    # page already, so it is refreshed in place instead of added twice.
    repeated = generation.created_at < started
    context = {"generation": generation, "repeated": repeated, **next_form(request, form)}
    context["known"] = to_cursor(generation.created_at)  # the poll's cursor, past this card
    response = TemplateResponse(request, f"{PAGE}#generation-created", context)
    return reswap(response, "none") if repeated else response


def next_form(request: HttpRequest, sent: FilledGenerateForm) -> dict:
    """After a submit: a fresh form (a new client_request_id) with the values just sent,
    and the budget panel for it."""
    form = FilledGenerateForm(initial=sent.kept(), owner=request.user)
    return {
        **compose.form_context(request.user, form),
        "budget": compose.budget_context(request.user, form),
    }


def form_refused(request: HttpRequest, form: FilledGenerateForm) -> TemplateResponse:
    """The form again, with its errors (or presets applied), in place of the one sent."""
    if request.htmx:
        context = compose.form_context(request.user, form)
        response = TemplateResponse(request, f"{PAGE}#generate-form", context)
        return reswap(retarget(response, "#generate-form"), "outerHTML")
    return studio_page(request, form)


@require_POST
@member
def preset_apply(request: HttpRequest) -> HttpResponse:
    return form_refused(request, compose.apply_presets(request.user, request.POST))


# ---------------------------------------------------------------------------- the queue


@require_GET
@submitter
def queue_updates(request: HttpRequest) -> HttpResponse:
    """The studio page's one poll: the cards changed since `since` (as out-of-band swaps)
    and the new cursor; HTTP 286 stops the polling once none of the user's jobs is active."""
    since = from_cursor(request.GET.get("since")) or timezone.now()
    known = from_cursor(request.GET.get("known"))
    # A tab restored from history may send an old cursor: the latest changes are enough.
    news, active = Generation.objects.queue_news(
        request.user, since - CURSOR_OVERLAP, known, QUEUE_MAX
    )
    status = 200 if active else HTMX_STOP_POLLING
    if not news:  # most polls: nothing changed, only the cursor moves on
        return HttpResponse(quiet_poll(to_cursor(since)), status=status)
    mine = Generation.objects.owned_by(request.user).filter(SHOWN).select_related("review")
    found = mine.in_bulk([pk for pk, _ in news])  # the card shows the review state
    changed = sorted(found.values(), key=lambda g: g.updated_at)
    opened = activity.from_cursor(request.GET.get("activity_since")) or since
    context = {
        "changed": changed,
        "news": status_news(changed, since),
        "since": to_cursor(max([since, *(g.updated_at for g in changed)])),
        # Only a change to a card can change the nav's counts: most polls skip the query.
        "activity": activity.activity(request.user, opened, carried=True) if changed else None,
    }
    return TemplateResponse(request, f"{PAGE}#queue-updates", context, status=status)


def quiet_poll(since: str) -> str:
    """What the queue-updates fragment renders when no card changed (no cards, no nav
    counts, no news): the new cursor. Written here, the poll skips the template engine."""
    return format_html(
        '<input type="hidden" id="queue-since" name="since" value="{}" hx-swap-oob="true">\n',
        since,
    )


def status_news(changed: list[Generation], since: datetime) -> list[Generation]:
    """The cards whose status moved after `since`: what the live region says. A row also
    changes when only its bookkeeping does (the next poll time): saying its unchanged
    status again made the announcer repeat itself every poll."""
    fresh = [g for g in changed if g.updated_at > since]
    if not fresh:
        return []
    moved = set(
        GenerationEvent.objects.filter(generation__in=fresh, at__gt=since).values_list(
            "generation_id", flat=True
        )
    )
    return [g for g in fresh if g.pk in moved]


def to_cursor(moment: datetime) -> str:
    """Microseconds since the epoch, in whole numbers: exact, unlike float timestamps."""
    return str((moment - EPOCH) // timedelta(microseconds=1))


def from_cursor(raw: str | None) -> datetime | None:
    """A cursor back to its moment; None for anything else (str.isdigit() takes "²", which
    int() refuses, and 19 digits reach past the year 9999: both were a 500)."""
    if not raw or not CURSOR.fullmatch(raw):
        return None
    try:
        return EPOCH + timedelta(microseconds=int(raw))
    except OverflowError:
        return None


def to_uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


# ---------------------------------------------------------------------------- batches


@require_POST
@member
def batch_preview(request: HttpRequest) -> HttpResponse:
    """The variations fieldset again (the prompt's variables changed), or only its
    preview (job count, estimated cost) when a value changed."""
    plan = compose.priced_plan(request.user, request.POST)
    if not request.htmx:
        return studio_page(request, unbound(request), plan, request.POST)
    fragment = "batch-preview" if request.htmx.target == "batch-preview" else "variations"
    return TemplateResponse(request, f"{PAGE}#{fragment}", variations(request, plan))


@require_POST
@member
@submitter
def batch_create(request: HttpRequest) -> HttpResponse:
    plan = compose.priced_plan(request.user, request.POST)
    confirmed = request.POST.get("confirm") == str(plan.size)
    if plan.ok and plan.refusal:  # over a budget as a whole: say so before making any job
        plan.errors.append(plan.refusal)
    if plan.ok and (confirmed or not plan.needs_confirmation):
        batch_id = to_uuid(request.POST.get("batch_id"))
        try:
            batch = submit_batch(request.user, plan, client_request_id=batch_id)
        except CreateRefused as refusal:  # the whole batch was rolled back
            plan.errors.append(
                compose.priced_plan(request.user, request.POST).refusal or str(refusal)
            )
        else:
            messages.success(request, f"Queued a batch of {batch.size} jobs.")
            if request.htmx:
                return HttpResponseClientRedirect(batch.get_absolute_url())
            return redirect(batch)
    plan.confirm = plan.ok and plan.needs_confirmation and not confirmed
    if not request.htmx:
        return studio_page(request, unbound(request), plan, request.POST)
    response = TemplateResponse(request, f"{PAGE}#variations", variations(request, plan))
    return reswap(retarget(response, "#variations"), "outerHTML")


def unbound(request: HttpRequest) -> FilledGenerateForm:
    """The form as sent, to show again around a batch's preview or refusal."""
    return FilledGenerateForm(initial=request.POST.dict(), owner=request.user)


def variations(request: HttpRequest, plan: Plan) -> dict:
    return {"variations": compose.variations_context(request.user, request.POST), "plan": plan}


# ---------------------------------------------------------------------------- recipes


@require_POST
@member
@submitter
def recipe_run(request: HttpRequest) -> HttpResponse:
    """Open a recipe card in the studio form: its request prefilled, checked by the form
    and priced, filed under its prompt version and presets where the user may see them.
    Nothing is queued here: Generate sends it as any other video (generation_create)."""
    return upload(request, card_only=True)


@require_POST
@member
@submitter
def import_file(request: HttpRequest) -> HttpResponse:
    """The import page's one field: a library export goes into the library, a recipe card
    opens in the studio form (as recipe_run); any other file is refused next to the field,
    which names the two it takes. ImportForm's 5 MB cap holds for both, as before."""
    return upload(request, card_only=False)


def upload(request: HttpRequest, card_only: bool) -> HttpResponse:
    """The import form's file, read as JSON and then taken as a recipe card (always, with
    `card_only`: a file that is not JSON is then refused as a card is) or as what it is."""
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return import_page(request, form)
    try:
        data = importexport.read_json(form.cleaned_data["file"].read())
    except importexport.ImportRefused as refused:
        if card_only:
            return import_page(request, form, refused.errors, importexport.RECIPE_REFUSED)
        return import_page(request, form, file_error=f"{refused} {importexport.NEITHER}")
    kind = "recipe" if card_only else importexport.file_kind(data)
    if kind is None:
        return import_page(request, form, file_error=importexport.NEITHER)
    if kind == "recipe":
        return open_recipe(request, form, data)
    try:
        prompts, presets = importexport.import_library(request.user, data)
    except importexport.ImportRefused as refused:
        return import_page(request, form, refused.errors, importexport.LIBRARY_REFUSED)
    messages.success(request, importexport.imported_words(prompts, presets))
    return redirect("library")


def open_recipe(request: HttpRequest, form: ImportForm, data: object) -> HttpResponse:
    """The studio page with the card's request in the form, or the import page with why not."""
    try:
        card = importexport.check_recipe(data)
    except importexport.ImportRefused as refused:
        return import_page(request, form, refused.errors, importexport.RECIPE_REFUSED)
    messages.info(request, RECIPE_OPENED)
    return studio_page(request, compose.recipe_form(request.user, card))


def import_page(
    request: HttpRequest, form: ImportForm, errors=(), title: str = "", file_error: str = ""
) -> TemplateResponse:
    """library/import.html again with the file's problems: the form's own (its size) and
    `file_error` next to the field, a known kind's `errors` listed under `title`."""
    context = {"form": form, "errors": list(errors), "errors_title": title}
    context["file_error"] = file_error
    return TemplateResponse(request, "library/import.html", context)
