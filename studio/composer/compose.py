"""Composing the studio form: its opening values (a prompt version, the user's default
preset, a remix), presets stacked on it (later ones win) and which value each one set, the
links a new generation records, and what the form's parts show (the preset picker, the
variations fieldset with its priced batch preview, the budget panel)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.http import Http404, HttpRequest, QueryDict

from studio.generations.models import IMAGE_REFERENCE, Generation, InputImage, Kind
from studio.ids import parse_id
from studio.kling.capabilities import IMAGE_MODELS, MODELS, PARAM_FIELDS
from studio.library.batches import MAX_SWEEP, Job, Plan, plan_batch
from studio.library.forms import FilledGenerateForm
from studio.library.models import DefaultPreset, Preset, PromptVersion
from studio.library.presets import MAX_STACK, as_text, form_fields, parse_ids
from studio.library.text import variables
from studio.review import budgets, threads
from studio.review.pricing import PriceUnknown, estimate_units, price_table, sound_prices

# The form fields a preset can set, with the words the form uses for them.
SOURCE_FIELDS = {
    "model_name": "Model",
    "mode": "Mode",
    "duration": "Duration",
    "aspect_ratio": "Aspect ratio",
    "cfg_scale": "cfg_scale",
    "sound": "Sound",
    "camera_type": "Camera control",
    "negative_prompt": "Negative prompt",
}


# The request-body parameters a recipe fills in as they are (text); recipe_fields writes
# out the other two, the number and the camera move.
RECIPE_TEXT = tuple(key for key in PARAM_FIELDS if key not in ("cfg_scale", "camera_control"))


def stack(user, ids: list[int]) -> list[Preset]:
    """The presets `user` may see, in the order given; others' private ones are dropped."""
    return Preset.objects.visible_to(user).stacked(ids)


# ---------------------------------------------------------------------------- the form


def studio_form(request: HttpRequest) -> FilledGenerateForm:
    """The studio's opening form: from ?prompt_version=<id> and ?presets=<ids>, and with
    the user's default preset when no presets are named."""
    user = request.user
    initial: dict = {}
    if request.GET.get("prompt_version"):
        pk = parse_id(request.GET["prompt_version"])
        version = PromptVersion.objects.visible_to(user).filter(pk=pk).first() if pk else None
        if version is None:
            raise Http404("No such prompt version.")
        initial.update(
            prompt=version.text,
            negative_prompt=version.negative_prompt,
            prompt_version=version.pk,
        )
    if "presets" in request.GET:
        ids = parse_ids(request.GET["presets"])
    else:
        default = DefaultPreset.objects.filter(user=user).values_list("preset", flat=True)
        ids = list(default)
    presets = stack(user, ids)
    for preset in presets:
        initial.update(form_fields(preset.params))
    initial["presets"] = ",".join(str(preset.pk) for preset in presets)
    if "image" in request.GET:
        initial.update(start_from(user, request.GET["image"]))
    return FilledGenerateForm(initial=initial, owner=user)


def start_from(user, raw: str) -> dict:
    """?image=<id>: the form in image-to-video mode with that picture as the start image;
    a frame of a video the user may see also brings that video's prompt and settings
    (continue a shot). 404 for a picture the user may not use."""
    try:
        picture = InputImage.objects.usable_by(user).filter(pk=raw.strip()).first()
    except (ValueError, TypeError):  # not a UUID
        picture = None
    if picture is None:
        raise Http404("No such picture.")
    initial: dict = {"kind": Kind.IMAGE, "image_id": picture.pk}
    source = None
    if picture.source_id:
        source = Generation.objects.visible_to(user).filter(pk=picture.source_id).first()
    if source is not None:
        initial.update(prompt=source.prompt, negative_prompt=source.negative_prompt)
        if source.model_name in IMAGE_MODELS:
            initial.update(model_name=source.model_name, duration=source.duration)
            initial["mode"] = source.mode or "std"
    return initial


def remix_form(generation: Generation, user) -> FilledGenerateForm:
    """A remix keeps the prompt version and presets the generation recorded."""
    form = FilledGenerateForm.from_params(generation.params(), owner=user)
    form.initial["prompt_version"] = generation.prompt_version_id
    ids = [p.get("id") for p in generation.presets if isinstance(p, dict)]
    form.initial["presets"] = ",".join(str(pk) for pk in ids if isinstance(pk, int))
    form.initial["take_of"] = generation.pk  # the new generation is the shot's next take
    return form


def recipe_form(user, card: dict) -> FilledGenerateForm:
    """The studio form filled from a recipe card (library/importexport.py check_recipe:
    every value of its type), bound so that the form's own checks say what no longer fits.
    Nothing is sent until the person presses Generate. The card's prompt version and
    presets come along where the user may see them; compose.links checks them again."""
    data = QueryDict(mutable=True)
    data.update(recipe_fields(card["params"]))
    data["client_request_id"] = str(uuid.uuid4())
    if card["prompt_version"] is not None:
        version = PromptVersion.objects.visible_to(user).filter(pk=card["prompt_version"])
        data["prompt_version"] = str(version.values_list("pk", flat=True).first() or "")
    ids = [row["id"] for row in card["presets"] if row["id"] is not None]
    data["presets"] = ",".join(str(preset.pk) for preset in stack(user, ids[-MAX_STACK:]))
    form = FilledGenerateForm(data, owner=user)
    form.is_valid()
    return form


def recipe_fields(params: dict) -> dict[str, str]:
    """The form's field values for request-body `params`, numbers written out in full;
    what the card leaves out gets the form's own default, as a remix does."""
    fields = {"mode": "std", "duration": "5", "aspect_ratio": "16:9", "sound": "off"}
    fields |= {key: params[key] for key in RECIPE_TEXT if params.get(key) is not None}
    if params.get("cfg_scale") is not None:
        fields["cfg_scale"] = repr(params["cfg_scale"])
    camera = params.get("camera_control") or {}
    fields["camera_type"] = camera.get("type", "")
    for axis, value in (camera.get("config") or {}).items():
        fields[f"camera_{axis}"] = repr(value)
    if params.get("kind") == Kind.IMAGE:
        # The card names the studio's pictures (studio-image:<id>); the form checks that
        # the person may use them (InputImage.usable_by).
        fields["kind"] = Kind.IMAGE.value
        for name in ("image", "image_tail"):
            if params.get(name):
                fields[f"{name}_id"] = str(params[name]).removeprefix(IMAGE_REFERENCE)
    return fields


def apply_presets(user, data: QueryDict) -> FilledGenerateForm:
    """The studio form after adding (`add_preset`) or removing (`remove_preset`) a preset.

    An added preset goes on top: its values replace the form's. A removed one leaves the
    values as they are (what was under it is not known) but no longer claims them. The
    result is checked against the capability table like a submit (the prompt only when
    it is sent)."""
    data = data.copy()
    ids = parse_ids(data.get("presets"))
    added = parse_id(data.get("add_preset"))
    if added is not None:
        new = stack(user, [added])
        if new:
            ids = [pk for pk in ids if pk != new[0].pk] + [new[0].pk]
            for name, value in form_fields(new[0].params).items():
                data[name] = value
    removed = parse_id(data.get("remove_preset"))
    if removed is not None:
        ids = [pk for pk in ids if pk != removed]
    data["presets"] = ",".join(str(pk) for pk in ids[-MAX_STACK:])
    form = FilledGenerateForm(data, owner=user)
    form.is_valid()
    form.errors.pop("prompt", None)  # the prompt is checked when it is sent
    return form


def sources(form: FilledGenerateForm, presets: list[Preset]) -> list[dict]:
    """Which preset set each value the form shows: the last one in the stack whose value
    is still there. A value the user changed afterwards is nobody's."""
    shown = {name: as_text(form[name].value()) for name in form.fields}
    claimed: dict[str, Preset] = {}
    for preset in presets:
        fields = form_fields(preset.params)
        if "camera_control" in preset.params and not preset.params["camera_control"]:
            fields["camera_type"] = ""
        for name, value in fields.items():
            if name in SOURCE_FIELDS and shown.get(name, "") == value:
                camera = [f for f in fields if f.startswith("camera_") and f != "camera_type"]
                if name == "camera_type" and any(shown.get(f, "") != fields[f] for f in camera):
                    continue
                claimed[name] = preset
    return [
        {
            "field": name,
            "label": label,
            "value": shown_value(name, shown[name]),
            "preset": claimed[name],
        }
        for name, label in SOURCE_FIELDS.items()
        if name in claimed
    ]


def shown_value(name: str, value: str) -> str:
    """A preset's value as the form shows it: a model by its label, not its id."""
    if name == "model_name":
        spec = MODELS.get(value) or IMAGE_MODELS.get(value)
        return spec.label if spec else value
    return value


def links(user, form: FilledGenerateForm) -> dict:
    """What a generation made from this form records: the prompt version (only while the
    prompt is that version's text, or its template filled in) and the applied presets."""
    data = form.cleaned_data
    version = None
    if data.get("prompt_version"):
        version = PromptVersion.objects.visible_to(user).filter(pk=data["prompt_version"]).first()
        if version is not None and not version.made(data.get("prompt", "")):
            version = None
    presets = [preset.record() for preset in stack(user, parse_ids(data.get("presets")))]
    return {
        "prompt_version": version,
        "presets": presets,
        "shot": shot_of(user, data),
        **continues(user, form),
    }


def shot_of(user, data: dict):
    """The shot a remix adds a take to: that of the remixed generation, if `user` sees it."""
    if not data.get("take_of"):
        return None
    remixed = Generation.objects.visible_to(user).filter(pk=data["take_of"]).first()
    return remixed.shot if remixed is not None else None


def remix_note(user, data: dict):
    """The note (a thread on the remixed take) a remix was opened from, or None."""
    if not data.get("take_of") or not data.get("note"):
        return None
    remixed = Generation.objects.visible_to(user).filter(pk=data["take_of"]).first()
    return threads.note_for_remix(user, remixed, str(data["note"])) if remixed else None


def continues(user, form: FilledGenerateForm) -> dict:
    """An image-to-video job whose start image is a frame of a video the user may see
    continues that video (Generation.continued_from), from the frame's time."""
    picture = form.pictures.get("image") if form.from_image else None
    if picture is None or picture.source_id is None:
        return {}
    source = Generation.objects.visible_to(user).filter(pk=picture.source_id).first()
    if source is None:
        return {}
    return {"continued_from": source, "continued_at": picture.source_seconds}


# ---------------------------------------------------------------------------- batches


def priced_plan(user, data: QueryDict) -> Plan:
    """The batch the form describes (studio/library/batches.py) with its estimated cost."""
    plan = plan_batch(user, data)
    if not plan.errors:  # every job was planned: price them all
        plan.units, plan.price_note = estimate(plan.jobs)
    if plan.units is not None:  # what the budget leaves after it, or why it is refused
        plan.left = budgets.summary(user)["left"]
        tight = budgets.over(user, plan.units)
        plan.refusal = tight.batch_refusal(plan.units, plan.size) if tight else ""
    return plan


def estimate(jobs: list[Job]) -> tuple[Decimal | None, str]:
    """The batch's estimated units (studio/review/pricing.py), or None and why not."""
    total = Decimal(0)
    for job in jobs:
        try:
            total += estimate_units(job.params)
        except PriceUnknown as unknown:
            return None, str(unknown)
    return total, ""


# ---------------------------------------------------------------------------- the form's parts


def form_context(user, form: FilledGenerateForm, plan: Plan | None = None, values=None) -> dict:
    """What the generate form shows besides its fields: the preset picker, and the
    variations fieldset from `values` (the form's own data by default) with its preview.
    A form that comes back bound (presets applied, a refusal) keeps its preview."""
    if values is None:
        values = form.data if form.is_bound else form.initial
    if plan is None and form.is_bound and has_variations(values):
        plan = priced_plan(user, values)
    return {
        "form": form,
        "limits": settings.PROMPT_LIMITS,
        "picker": picker_context(user, form),
        "variations": variations_context(user, values),
        "plan": plan,
    }


def picker_context(user, form: FilledGenerateForm) -> dict:
    """The presets part of the studio form: the stack, what it set, what can be added."""
    applied = stack(user, parse_ids(form["presets"].value()))
    choices = list(Preset.objects.visible_to(user).select_related("owner"))
    pk = parse_id(form["prompt_version"].value())
    version = None
    if pk is not None:
        version = (
            PromptVersion.objects.visible_to(user).select_related("prompt").filter(pk=pk).first()
        )
    return {
        "applied": applied,
        "choices": [p for p in choices if p not in applied],
        "sources": sources(form, applied),
        "version": version,
        "version_matches": version is not None and version.made(form["prompt"].value() or ""),
    }


def has_variations(values: QueryDict) -> bool:
    """Whether the form carries variable values or a sweep: a batch to preview."""
    keys = [key for key in values if key.startswith(("var_", "sweep_preset", "sweep_cfg"))]
    return any(str(value).strip() for key in keys for value in values.getlist(key))


def variations_context(user, values) -> dict:
    """The variations part of the studio form: one field per {variable} in the prompt and
    the sweeps (the batch preview is the `plan` beside it)."""
    values = values if values is not None else {}
    template = str(values.get("prompt") or "").replace("\r\n", "\n")
    names = variables(template)
    getlist = values.getlist if isinstance(values, QueryDict) else lambda key: values.get(key, [])
    swept = set(parse_ids(",".join(str(v) for v in getlist("sweep_preset")), limit=MAX_SWEEP))
    cfg = str(values.get("sweep_cfg") or "")
    return {
        "variables": [
            {"name": name, "key": f"var_{name}", "value": values.get(f"var_{name}", "")}
            for name in names
        ],
        "sweep_choices": list(Preset.objects.visible_to(user)),
        "swept": swept,
        "sweep_cfg": cfg,
        "batch_id": uuid.uuid4(),  # a double click sends the same id: one batch
        "open": bool(names or swept or cfg.strip()),
        "confirm_over": settings.STUDIO_BATCH_CONFIRM_OVER,
    }


def budget_context(user, form: FilledGenerateForm) -> dict:
    """What this month's budget leaves and what the form's video would cost; the script
    (composer.js) keeps the estimate current as the parameters change."""
    params = {name: form[name].value() for name in ("model_name", "mode", "duration", "sound")}
    image = form["kind"].value() == Kind.IMAGE
    if image:
        params["sound"] = None  # docs/upstream.md §15.1: no sound on image2video
    try:
        cost = estimate_units(params)
    except PriceUnknown:
        cost = None
    summary = budgets.summary(user)
    return {
        **summary,
        "estimate": cost,
        "over": cost is not None and summary["left"] is not None and cost > summary["left"],
        # (silent, with sound) where the model makes sound
        "sound": None if image else sound_prices(params),
        "prices": price_table(),
    }
