"""The library's pages: the prompt list, a prompt with its versions and their videos,
diffs, a batch with its live progress, and import/export. The presets pages:
preset_views.py; planning a batch: batches.py; the studio form's library parts:
studio/composer/."""

from __future__ import annotations

import uuid
from collections import defaultdict

from django.contrib import messages
from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HTMX_STOP_POLLING

from studio.accounts.decorators import member, require
from studio.accounts.roles import GALLERY
from studio.generations import activity
from studio.generations.models import FINAL, Generation, Status
from studio.keyset import CappedPaginator
from studio.library import importexport
from studio.library.forms import ImportForm, LibraryFilterForm, PromptForm
from studio.library.models import Batch, Preset, Prompt, PromptVersion, Star, shown_presets
from studio.library.text import word_diff
from studio.partials import page_or_fragment, wants_fragment

PAGE_SIZE = 24
VIDEOS_PER_VERSION = 12


def done(request: HttpRequest, message: str, to) -> HttpResponseRedirect:
    """After a change: the message on the next page, and the redirect to `to` there."""
    messages.success(request, message)
    return redirect(to)


def attachment(data: dict, filename: str) -> JsonResponse:
    response = JsonResponse(data, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# ---------------------------------------------------------------------------- library


@require_safe
@member
def library(request: HttpRequest) -> TemplateResponse:
    visible = Prompt.objects.visible_to(request.user)
    form = LibraryFilterForm(request.GET or None, user=request.user)
    # The page's ids first, along the sort's index; then their texts and stars (subqueries
    # per row) for those 24 only.
    chosen = form.filter(visible, request.user).values_list("pk", flat=True)
    page = CappedPaginator(chosen, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = shown_prompts(request.user, list(page.object_list))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "batches": Batch.objects.visible_to(request.user).filter(owner=request.user)[:5],
    }
    return page_or_fragment(request, "library/library.html", "prompt-results", context)


def shown_prompts(user, ids: list[int]) -> list[Prompt]:
    """These prompts, in this order, with what the library's list shows of each."""
    rows = Prompt.objects.with_numbers(user).select_related("owner").prefetch_related("tags")
    found = rows.in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


@member
def prompt_create(request: HttpRequest) -> HttpResponse:
    form = PromptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        prompt = form.create(request.user)
        return done(request, f"Saved “{prompt.title}” as version 1.", prompt)
    return TemplateResponse(request, "library/prompt_new.html", {"form": form})


# ---------------------------------------------------------------------------- one prompt


def approvals(generations) -> dict[int, int]:
    """Approved videos per prompt version."""
    rows = (
        generations.filter(review__verdict="approved")
        .values("prompt_version")
        .annotate(n=Count("pk"))
    )
    return {row["prompt_version"]: row["n"] for row in rows}


def version_rows(request: HttpRequest, prompt: Prompt) -> list[dict]:
    """Each version (newest first) with its numbers and the videos the user may see.
    A fixed number of queries, however many versions and videos there are."""
    versions = list(prompt.versions.order_by("-number").select_related("author"))
    made = Generation.objects.filter(prompt_version__prompt=prompt)
    numbers = version_counts(made)
    approved = approvals(made)
    videos = latest_videos(request.user, prompt)
    rows = []
    for version in versions:
        row = numbers.get(version.pk, {"runs": 0, "succeeded": 0, "finished": 0})
        rate = round(100 * row["succeeded"] / row["finished"]) if row["finished"] else None
        rows.append(
            {
                "version": version,
                "runs": row["runs"],
                "succeeded": row["succeeded"],
                "success_rate": rate,
                "approved": approved.get(version.pk, 0),
                "videos": videos[version.pk],
            }
        )
    return rows


def version_counts(generations) -> dict[int, dict]:
    """Runs, successes and finished runs per prompt version, in one query."""
    counts = generations.values("prompt_version").annotate(
        runs=Count("pk"),
        succeeded=Count("pk", filter=Q(status=Status.SUCCEEDED)),
        finished=Count("pk", filter=Q(status__in=FINAL)),
    )
    return {row["prompt_version"]: row for row in counts}


def latest_videos(user, prompt: Prompt) -> defaultdict[int, list[Generation]]:
    """The newest VIDEOS_PER_VERSION videos of each version that `user` may see, in one query."""
    seen = Generation.objects.visible_to(user).filter(prompt_version__prompt=prompt)
    newest = Window(RowNumber(), partition_by=F("prompt_version"), order_by=F("created_at").desc())
    latest = seen.annotate(rank=newest).filter(rank__lte=VIDEOS_PER_VERSION)
    videos = defaultdict(list)
    for generation in latest.order_by("-created_at"):
        videos[generation.prompt_version_id].append(generation)
    return videos


def prompt_page(
    request: HttpRequest, prompt: Prompt, form: PromptForm | None = None
) -> TemplateResponse:
    rows = version_rows(request, prompt)
    latest = rows[0]["version"] if rows else None
    mine = prompt.owner_id == request.user.pk
    if mine and form is None:
        form = PromptForm.for_prompt(prompt, latest)
    context = {
        "prompt": prompt,
        "rows": rows,
        "latest": latest,
        "mine": mine,
        "form": form,
        "starred": Star.objects.filter(user=request.user, prompt=prompt).exists(),
        "star_count": prompt.stars.count(),
        "forks": list(prompt.forks.visible_to(request.user).select_related("owner")[:20]),
        "tags": list(prompt.tags.all()),
    }
    return TemplateResponse(request, "library/prompt.html", context)


@require_safe
@member
def prompt_detail(request: HttpRequest, pk: int) -> TemplateResponse:
    prompt = get_object_or_404(
        Prompt.objects.visible_to(request.user).select_related(
            "owner", "forked_from", "forked_from_version"
        ),
        pk=pk,
    )
    return prompt_page(request, prompt)


@require_POST
@member
def prompt_edit(request: HttpRequest, pk: int) -> HttpResponse:
    prompt = get_object_or_404(Prompt.objects.owned_by(request.user), pk=pk)
    form = PromptForm(request.POST)
    if not form.is_valid():
        return prompt_page(request, prompt, form)
    version = form.update(prompt, request.user)
    if version is None:
        return done(request, "Saved. The text did not change, so no new version.", prompt)
    return done(request, f"Saved as version {version.number}.", prompt)


@require_safe
@member
def prompt_diff(request: HttpRequest, pk: int) -> TemplateResponse:
    prompt = get_object_or_404(Prompt.objects.visible_to(request.user), pk=pk)
    versions = list(prompt.versions.order_by("number"))
    if not versions:
        raise Http404("This prompt has no versions.")
    by_number = {v.number: v for v in versions}

    def pick(name: str, default: PromptVersion) -> PromptVersion:
        raw = request.GET.get(name, "")
        if not raw:
            return default
        if not raw.isdigit() or int(raw) not in by_number:
            raise Http404("No such version.")
        return by_number[int(raw)]

    new = pick("b", versions[-1])
    old = pick("a", by_number.get(new.number - 1, versions[0]))
    parts = [
        ("Text", word_diff(old.text, new.text)),
        ("Negative prompt", word_diff(old.negative_prompt, new.negative_prompt)),
        ("Notes", word_diff(old.notes, new.notes)),
    ]
    context = {"prompt": prompt, "versions": versions, "old": old, "new": new, "parts": parts}
    return TemplateResponse(request, "library/diff.html", context)


@require_POST
@member
def prompt_star(request: HttpRequest, pk: int) -> HttpResponse:
    prompt = get_object_or_404(Prompt.objects.visible_to(request.user), pk=pk)
    starred = Star.toggle(request.user, prompt)
    if request.htmx:
        count = prompt.stars.count()
        context = {
            "prompt": prompt,
            "starred": starred,
            "star_count": count,
            "next": request.POST.get("next") if _local(request.POST.get("next")) else "",
        }
        return TemplateResponse(request, "library/_star.html", context)
    return redirect(request.POST.get("next") if _local(request.POST.get("next")) else prompt)


def _local(url: str | None) -> bool:
    return url_has_allowed_host_and_scheme(url, allowed_hosts=None)


@require_POST
@member
def prompt_fork(request: HttpRequest, pk: int) -> HttpResponse:
    prompt = get_object_or_404(Prompt.objects.visible_to(request.user), pk=pk)
    copy = prompt.fork(request.user)
    return done(request, f"Forked “{prompt.title}”: this copy is yours to change.", copy)


@require_POST
@member
def prompt_remove(request: HttpRequest, pk: int) -> HttpResponse:
    prompt = get_object_or_404(Prompt.objects.owned_by(request.user), pk=pk)
    if prompt.remove() == "archived":
        kept = f"Archived “{prompt.title}”: videos were made from it, so it is kept."
        return done(request, kept, prompt)
    return done(request, f"Deleted “{prompt.title}”.", "library")


@require_POST
@member
def prompt_restore(request: HttpRequest, pk: int) -> HttpResponse:
    prompt = get_object_or_404(Prompt.objects.owned_by(request.user), pk=pk)
    prompt.restore()
    return done(request, f"“{prompt.title}” is back in the library.", prompt)


@require_safe
@member
def prompt_export(request: HttpRequest, pk: int) -> JsonResponse:
    prompts = Prompt.objects.visible_to(request.user).filter(pk=pk)
    if not prompts.exists():
        raise Http404("No such prompt.")
    data = importexport.export_library(prompts, Preset.objects.none())
    name = slugify(prompts[0].title)[:40] or "prompt"
    return attachment(data, f"prompt-{name}.json")


# ---------------------------------------------------------------------------- batches


@require_safe
@member
def batch_detail(request: HttpRequest, pk: uuid.UUID) -> TemplateResponse:
    batch = get_object_or_404(
        Batch.objects.visible_to(request.user).select_related("prompt_version__prompt"), pk=pk
    )
    sources = batch_sources(batch, request.user)
    context = {"batch": batch, **sources, **batch_progress(batch, sources["hidden"])}
    # While the batch runs its poll brings the nav's activity too (generations/activity.py).
    opened = activity.from_cursor(request.GET.get("activity_since"))
    context["activity"] = activity.activity(request.user, opened, carried=context["active"])
    status = 200
    if wants_fragment(request, "batch-live"):
        context["activity_oob"] = True
        context["announce"] = request.GET.get("seen") != str(context["done"])
        if not context["active"]:
            status = HTMX_STOP_POLLING
    return page_or_fragment(request, "library/batch.html", "batch-live", context, status)


PRIVATE_PRESET = "a private preset"


def batch_sources(batch: Batch, user) -> dict:
    """What the batch was made from, as far as `user` may see it: an admin sees every batch
    but not the owner's private prompt (its title) or private presets (their names, also
    in the tiles' labels); a gone preset's name stays the owner's (models.shown_presets)."""
    version = batch.prompt_version
    if version is not None and not PromptVersion.objects.visible_to(user).filter(pk=version.pk):
        version = None
    records = batch.sweep.get("presets") or []
    shown = shown_presets(user, batch.owner_id, records)
    hidden = {f"preset {r.get('name')}" for r in records if isinstance(r, dict) and r not in shown}
    return {
        "version": version,
        "swept": [r.get("name") if r in shown else PRIVATE_PRESET for r in records],
        "hidden": hidden,
    }


def batch_progress(batch: Batch, hidden: set[str] = frozenset()) -> dict:
    """The batch's tiles in the order it was planned, and how many are done; the parts of
    a label in `hidden` (a preset the viewer may not see) say only that it was one."""
    found = {str(g.pk): g for g in batch.generations.all()}
    label = lambda text: " · ".join(  # noqa: E731
        PRIVATE_PRESET if part in hidden else part for part in text.split(" · ")
    )
    tiles = [
        {"label": label(item["label"]), "generation": found[item["generation"]]}
        for item in batch.items
        if item["generation"] in found
    ]
    done = sum(1 for g in found.values() if g.is_final)
    succeeded = sum(1 for g in found.values() if g.status == Status.SUCCEEDED)
    return {
        "tiles": tiles,
        "done": done,
        "total": len(tiles),
        "succeeded": succeeded,
        "failed": done - succeeded,
        "active": done < len(found),
    }


# ---------------------------------------------------------------------------- import, export


@require_safe
@member
def library_export(request: HttpRequest) -> JsonResponse:
    data = importexport.export_user_library(request.user)
    day = timezone.localdate().isoformat()
    return attachment(data, f"library-{request.user.get_username()}-{day}.json")


@member
def library_import(request: HttpRequest) -> TemplateResponse | HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    errors: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            data = importexport.read_json(form.cleaned_data["file"].read())
            prompts, made = importexport.import_library(request.user, data)
        except importexport.ImportRefused as refused:
            errors = refused.errors
        else:
            messages.success(request, importexport.imported_words(prompts, made))
            return redirect("library")
    context = {"form": form, "errors": errors, "errors_title": importexport.LIBRARY_REFUSED}
    return TemplateResponse(request, "library/import.html", context)


@require_safe
@require(GALLERY)  # whoever may open the generation
def generation_recipe(request: HttpRequest, pk) -> JsonResponse:
    generation = get_object_or_404(
        Generation.objects.visible_to(request.user).select_related(
            "owner", "prompt_version__prompt"
        ),
        pk=pk,
    )
    data = importexport.recipe(generation)
    if (
        generation.prompt_version
        and not PromptVersion.objects.visible_to(request.user)
        .filter(pk=generation.prompt_version_id)
        .exists()
    ):
        data["prompt_version"] = None  # someone else's private prompt: not shown
    data["presets"] = shown_presets(request.user, generation.owner_id, generation.presets)
    return attachment(data, f"recipe-{generation.pk}.json")
