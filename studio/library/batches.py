"""Batch planning: a `{template}` prompt, its variables' values and the preset and cfg_scale
sweeps expanded into jobs (each checked like a single submit), and a planned batch saved
with all its generations at once. The studio page (studio/composer/) prices and shows it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.http import QueryDict

from studio.generations import pipeline
from studio.ids import parse_id
from studio.library import text as prompt_text
from studio.library.forms import FilledGenerateForm
from studio.library.models import Batch, Preset, PromptVersion
from studio.library.presets import as_text, form_fields, parse_ids

MAX_SWEEP = 20  # presets swept in one batch


@dataclass
class Job:
    label: str
    params: dict
    presets: list[dict]


@dataclass
class Plan:
    """A batch before it is submitted: its jobs, what is wrong, and what it may cost (the
    composer fills in `units` and `price_note` from the price table)."""

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
    # The composer fills these from the budgets (studio/review/budgets.py): the tightest
    # budget's units left before the batch, and the refusal if the batch is over one.
    left: Decimal | None = None
    refusal: str = ""

    @property
    def left_after(self) -> Decimal | None:
        if self.left is None or self.units is None:
            return None
        return max(Decimal(0), self.left - self.units)

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


def read_variables(plan: Plan, names: list[str], data: QueryDict) -> list[str]:
    """Each variable's values into `plan.variables`, and what breaks the limits
    (variables per prompt, values per variable, value length)."""
    refused = prompt_text.too_many_variables(plan.template)
    if refused:
        return [refused]
    errors = []
    longest = settings.STUDIO_BATCH_VALUE_MAX_CHARS
    for name in names:
        values = values_of(data.get(f"var_{name}", ""))
        if not values:
            errors.append(f"Give at least one value for {{{name}}}, one per line.")
        elif len(values) > settings.STUDIO_BATCH_MAX_VALUES:
            errors.append(
                f"{{{name}}} has {len(values)} values; a variable may have at most "
                f"{settings.STUDIO_BATCH_MAX_VALUES}."
            )
        elif any(len(value) > longest for value in values):
            errors.append(f"A value of {{{name}}} is over {longest} characters, the limit.")
        plan.variables[name] = values[: settings.STUDIO_BATCH_MAX_VALUES]
    return errors


def count_jobs(lengths: list[int]) -> int:
    """The product of `lengths`, stopping once it passes STUDIO_BATCH_MAX (the count so
    far is then returned: enough to refuse)."""
    total = 1
    for length in lengths:
        total *= length
        if total > settings.STUDIO_BATCH_MAX:
            break
    return total


def too_many_jobs() -> str:
    return f"A batch may have at most {settings.STUDIO_BATCH_MAX} jobs; this one would have more."


def plan_batch(user, data: QueryDict) -> Plan:
    """Expand the studio form into jobs: every combination of the variables' values, times
    each swept preset, times each swept cfg_scale. Each job is checked by the same form
    as a single submit; nothing is saved."""
    template = str(data.get("prompt", "")).replace("\r\n", "\n")
    plan = Plan(template=template)
    names = prompt_text.variables(template)
    plan.errors.extend(read_variables(plan, names, data))
    visible = Preset.objects.visible_to(user)
    swept = visible.stacked(parse_ids(",".join(data.getlist("sweep_preset")), limit=MAX_SWEEP))
    cfgs, problem = cfg_values(data.get("sweep_cfg", ""))
    if problem:
        plan.errors.append(problem)
    if swept:
        plan.sweep["presets"] = [{"id": p.pk, "name": p.name} for p in swept]
    if cfgs:
        plan.sweep["cfg_scale"] = cfgs
    # Counted before anything is built: four variables of 60 values were 12,960,000
    # combinations, and building them took one web process from 57 MB to 1.1 GB.
    lengths = [len(plan.variables.get(name, ())) for name in names]
    plan.size = count_jobs([*lengths, max(len(swept), 1), max(len(cfgs), 1)])
    if plan.errors:
        return plan
    if not names and not swept and not cfgs:
        plan.errors.append("Put a {variable} in the prompt, or sweep presets or cfg_scale.")
        return plan
    if plan.size > settings.STUDIO_BATCH_MAX:
        plan.errors.append(too_many_jobs())
        return plan
    combos = itertools.product(*(plan.variables[name] for name in names))
    stacked = [p.record() for p in visible.stacked(parse_ids(data.get("presets")))]
    version_id = parse_id(data.get("prompt_version"))
    if version_id is not None:
        plan.version = PromptVersion.objects.visible_to(user).filter(pk=version_id).first()
    for combo in combos:
        filled = dict(zip(names, combo, strict=True))
        for preset in swept or [None]:
            for cfg in cfgs or [None]:
                job, error = make_job(data, template, filled, preset, cfg, stacked)
                if error:
                    plan.errors.append(error)
                    return plan
                plan.jobs.append(job)
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
    form = FilledGenerateForm(job_data)
    name = " · ".join(label)
    if not form.is_valid():
        reasons = " ".join(
            str(message) for messages in form.errors.values() for message in messages
        )
        return None, f"The job “{name}” would be refused: {reasons}"
    return Job(label=name, params=form.params(), presets=presets), ""


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
