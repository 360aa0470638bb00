"""What the library adds to the studio form: a prompt version to start from, presets
stacked on the form (later ones win) and which value each one set, the links a new
generation records, and variation batches expanded from a `{template}`."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, QueryDict

from studio.generations import pipeline
from studio.generations.forms import GenerateForm
from studio.generations.models import Generation
from studio.library import text as prompt_text
from studio.library.models import Batch, DefaultPreset, Preset, PromptVersion
from studio.library.presets import form_fields

MAX_STACK = 8
# The form fields a preset can set, with the words the form uses for them.
SOURCE_FIELDS = {
    "model_name": "Model",
    "mode": "Mode",
    "duration": "Duration",
    "aspect_ratio": "Aspect ratio",
    "cfg_scale": "cfg_scale",
    "camera_type": "Camera control",
    "negative_prompt": "Negative prompt",
}


def parse_ids(raw: object, limit: int = MAX_STACK) -> list[int]:
    """Ids from "3,5,2" (repeats dropped, order kept); anything else is ignored."""
    ids = [int(part) for part in str(raw or "").split(",") if part.strip().isdigit()]
    return list(dict.fromkeys(ids))[:limit]


def stack(user, ids: list[int]) -> list[Preset]:
    """The presets `user` may see, in the order given; others' private ones are dropped."""
    found = Preset.objects.visible_to(user).in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


def as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# ---------------------------------------------------------------------------- the form


def studio_form(request: HttpRequest) -> GenerateForm:
    """The studio's opening form: from ?prompt_version=<id> and ?presets=<ids>, and with
    the user's default preset when no presets are named."""
    user = request.user
    initial: dict = {}
    if request.GET.get("prompt_version"):
        raw = request.GET["prompt_version"]
        version = PromptVersion.objects.visible_to(user).filter(pk=int(raw) if raw.isdigit() else 0)
        version = version.first()
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
    return GenerateForm(initial=initial)


def remix_form(generation: Generation) -> GenerateForm:
    """A remix keeps the prompt version and presets the generation recorded."""
    form = GenerateForm.from_params(generation.params())
    form.initial["prompt_version"] = generation.prompt_version_id
    ids = [p.get("id") for p in generation.presets if isinstance(p, dict)]
    form.initial["presets"] = ",".join(str(pk) for pk in ids if isinstance(pk, int))
    return form


def apply_presets(user, data: QueryDict) -> GenerateForm:
    """The studio form after adding (`add_preset`) or removing (`remove_preset`) a preset.

    An added preset goes on top: its values replace the form's. A removed one leaves the
    values as they are (what was under it is not known) but no longer claims them. The
    result is checked against the capability table like a submit (the prompt only when
    it is sent)."""
    data = data.copy()
    ids = parse_ids(data.get("presets"))
    added = data.get("add_preset", "")
    if added.isdigit():
        new = stack(user, [int(added)])
        if new:
            ids = [pk for pk in ids if pk != new[0].pk] + [new[0].pk]
            for name, value in form_fields(new[0].params).items():
                data[name] = value
    removed = data.get("remove_preset", "")
    if removed.isdigit():
        ids = [pk for pk in ids if pk != int(removed)]
    data["presets"] = ",".join(str(pk) for pk in ids[-MAX_STACK:])
    form = GenerateForm(data)
    form.is_valid()
    form.errors.pop("prompt", None)  # the prompt is checked when it is sent
    return form


def sources(form: GenerateForm, presets: list[Preset]) -> list[dict]:
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
        {"field": name, "label": label, "value": shown[name], "preset": claimed[name]}
        for name, label in SOURCE_FIELDS.items()
        if name in claimed
    ]


def links(user, form: GenerateForm) -> dict:
    """What a generation made from this form records: the prompt version (only while the
    prompt is that version's text, or its template filled in) and the applied presets."""
    data = form.cleaned_data
    version = None
    if data.get("prompt_version"):
        version = PromptVersion.objects.visible_to(user).filter(pk=data["prompt_version"]).first()
        if version is not None and not version.made(data.get("prompt", "")):
            version = None
    presets = [preset.record() for preset in stack(user, parse_ids(data.get("presets")))]
    return {"prompt_version": version, "presets": presets}


# ---------------------------------------------------------------------------- batches


@dataclass
class Job:
    label: str
    params: dict
    presets: list[dict]


@dataclass
class Plan:
    """A batch before it is submitted: its jobs, what is wrong, and what it may cost."""

    template: str = ""
    variables: dict[str, list[str]] = field(default_factory=dict)
    sweep: dict = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)
    size: int = 0
    errors: list[str] = field(default_factory=list)
    units: Decimal | None = None
    price_note: str = ""
    version: PromptVersion | None = None
    confirm: bool = False  # ask the user to confirm this many jobs

    @property
    def ok(self) -> bool:
        return not self.errors and self.size > 0

    @property
    def needs_confirmation(self) -> bool:
        return self.size > settings.STUDIO_BATCH_CONFIRM_OVER


def values_of(raw: str) -> list[str]:
    """One value per line; blank lines and repeats dropped."""
    return list(dict.fromkeys(line.strip() for line in str(raw or "").splitlines() if line.strip()))


def cfg_values(raw: str) -> tuple[list[float], str]:
    values: list[float] = []
    for part in str(raw or "").replace(",", " ").split():
        try:
            values.append(float(part))
        except ValueError:
            return [], f"cfg_scale values must be numbers, like 0.3, 0.5, 0.7 (not {part!r})."
    return list(dict.fromkeys(values)), ""


def plan_batch(user, data: QueryDict) -> Plan:
    """Expand the studio form into jobs: every combination of the variables' values, times
    each swept preset, times each swept cfg_scale. Each job is checked by the same form
    as a single submit; nothing is saved."""
    template = str(data.get("prompt", "")).replace("\r\n", "\n")
    plan = Plan(template=template)
    names = prompt_text.variables(template)
    for name in names:
        plan.variables[name] = values_of(data.get(f"var_{name}", ""))
        if not plan.variables[name]:
            plan.errors.append(f"Give at least one value for {{{name}}}, one per line.")
    swept = stack(user, parse_ids(",".join(data.getlist("sweep_preset")), limit=20))
    cfgs, problem = cfg_values(data.get("sweep_cfg", ""))
    if problem:
        plan.errors.append(problem)
    if swept:
        plan.sweep["presets"] = [{"id": p.pk, "name": p.name} for p in swept]
    if cfgs:
        plan.sweep["cfg_scale"] = cfgs
    combos = list(itertools.product(*(plan.variables[name] for name in names)))
    plan.size = len(combos) * max(len(swept), 1) * max(len(cfgs), 1)
    if plan.errors:
        return plan
    if not names and not swept and not cfgs:
        plan.errors.append("Put a {variable} in the prompt, or sweep presets or cfg_scale.")
        return plan
    if plan.size > settings.STUDIO_BATCH_MAX:
        plan.errors.append(
            f"That is {plan.size} jobs; a batch may have at most {settings.STUDIO_BATCH_MAX}."
        )
        return plan
    stacked = [p.record() for p in stack(user, parse_ids(data.get("presets")))]
    version_id = str(data.get("prompt_version") or "")
    if version_id.isdigit():
        plan.version = PromptVersion.objects.visible_to(user).filter(pk=int(version_id)).first()
    for combo in combos:
        filled = dict(zip(names, combo, strict=True))
        for preset in swept or [None]:
            for cfg in cfgs or [None]:
                job, error = make_job(data, template, filled, preset, cfg, stacked)
                if error:
                    plan.errors.append(error)
                    return plan
                plan.jobs.append(job)
    plan.units, plan.price_note = estimate(plan.jobs)
    return plan


def make_job(
    data: QueryDict,
    template: str,
    filled: dict[str, str],
    preset: Preset | None,
    cfg: float | None,
    stacked: list[dict],
) -> tuple[Job | None, str]:
    job_data = data.copy()
    job_data["prompt"] = prompt_text.fill(template, filled)
    label = [f"{name}: {value}" for name, value in filled.items()]
    presets = list(stacked)
    if preset is not None:
        for name, value in form_fields(preset.params).items():
            job_data[name] = value
        label.append(f"preset {preset.name}")
        presets.append(preset.record())
    if cfg is not None:
        job_data["cfg_scale"] = as_text(cfg)
        label.append(f"cfg_scale {cfg:g}")
    form = GenerateForm(job_data)
    name = " · ".join(label)
    if not form.is_valid():
        reasons = " ".join(
            str(message) for messages in form.errors.values() for message in messages
        )
        return None, f"The job “{name}” would be refused: {reasons}"
    return Job(label=name, params=form.params(), presets=presets), ""


def estimate(jobs: list[Job]) -> tuple[Decimal | None, str]:
    """The batch's estimated units (studio/review/pricing.py), or None and why not."""
    try:
        from studio.review.pricing import PriceUnknown, estimate_units
    except ImportError:  # the review app is not installed
        return None, "No price table is installed."
    total = Decimal(0)
    for job in jobs:
        try:
            total += estimate_units(job.params)
        except PriceUnknown as unknown:
            return None, str(unknown)
    return total, ""


def submit_batch(user, plan: Plan, client_request_id=None) -> Batch:
    """Save the batch and all its jobs in one transaction (all or none), each queued for
    submission once committed. The same client_request_id twice gives the first batch."""
    if client_request_id is not None:
        existing = Batch.objects.filter(owner=user, client_request_id=client_request_id).first()
        if existing is not None:
            return existing
    with transaction.atomic():
        batch = Batch.objects.create(
            owner=user,
            client_request_id=client_request_id,
            prompt_version=plan.version,
            template=plan.template,
            variables=plan.variables,
            sweep=plan.sweep,
            size=len(plan.jobs),
            estimated_units=plan.units,
        )
        items = []
        for job in plan.jobs:
            version = (
                plan.version if plan.version and plan.version.made(job.params["prompt"]) else None
            )
            generation = pipeline.create_generation(
                user, job.params, prompt_version=version, presets=job.presets, batch=batch
            )
            items.append({"generation": str(generation.pk), "label": job.label})
        batch.items = items
        batch.save(update_fields=["items"])
    return batch


# ---------------------------------------------------------------------------- the form's parts


def picker_context(user, form: GenerateForm) -> dict:
    """The presets part of the studio form: the stack, what it set, what can be added."""
    applied = stack(user, parse_ids(form["presets"].value()))
    choices = list(Preset.objects.visible_to(user).select_related("owner"))
    raw = str(form["prompt_version"].value() or "")
    version = None
    if raw.isdigit():
        version = (
            PromptVersion.objects.visible_to(user).select_related("prompt").filter(pk=raw).first()
        )
    return {
        "form": form,
        "user": user,
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


def variations_context(user, values, plan: Plan | None = None) -> dict:
    """The variations part of the studio form: one field per {variable} in the prompt,
    the sweeps, and (after a preview) the job count and estimated cost."""
    values = values if values is not None else {}
    template = str(values.get("prompt") or "").replace("\r\n", "\n")
    names = prompt_text.variables(template)
    getlist = values.getlist if isinstance(values, QueryDict) else lambda key: values.get(key, [])
    swept = set(parse_ids(",".join(str(v) for v in getlist("sweep_preset")), limit=20))
    cfg = str(values.get("sweep_cfg") or "")
    return {
        "variables": [
            {"name": name, "key": f"var_{name}", "value": values.get(f"var_{name}", "")}
            for name in names
        ],
        "sweep_choices": list(Preset.objects.visible_to(user)),
        "swept": swept,
        "sweep_cfg": cfg,
        "plan": plan,
        "batch_id": uuid.uuid4(),  # a double click sends the same id: one batch
        "active": bool(names or swept or cfg.strip()),
        "confirm_over": settings.STUDIO_BATCH_CONFIRM_OVER,
    }
