"""Library files: prompts (with every version and tag) and presets to and from JSON, and a
generation's recipe card. Imports are checked whole before anything is written, then
written in one transaction: a bad file changes nothing."""

from __future__ import annotations

import json
from datetime import UTC

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from studio.generations.models import Generation
from studio.generations.pipeline import request_shape
from studio.kling.capabilities import PARAM_FIELDS, problems
from studio.library.models import (
    Preset,
    Prompt,
    PromptVersion,
    Tag,
    Visibility,
)
from studio.library.presets import preset_problems

LIBRARY_FORMAT = "kling-prompt-studio.library"
RECIPE_FORMAT = "kling-prompt-studio.recipe"
VERSION = 1
MAX_PROMPTS = 2000
MAX_VERSIONS = 500
MAX_ERRORS = 10
MAX_STACK = 20
# Request-body fields a recipe may carry into a new run (never external_task_id or
# callback_url: a run again is a new task with its own).
RECIPE_FIELDS = PARAM_FIELDS


class ImportRefused(ValueError):
    """The file cannot be imported; `errors` says why, each with where in the file."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def read_json(raw: bytes) -> object:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused(["The file is not UTF-8 text; export files are JSON."]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportRefused(
            [
                f"The file is not valid JSON: {error.msg} "
                f"at line {error.lineno}, column {error.colno}."
            ]
        ) from None


# ---------------------------------------------------------------------------- export


def export_prompts(prompts: list[Prompt]) -> list[dict]:
    """Prompts as plain data, with every version; expects tags and versions prefetched."""
    return [
        {
            "title": prompt.title,
            "visibility": prompt.visibility,
            "archived": prompt.is_archived,
            "tags": sorted(tag.name for tag in prompt.tags.all()),
            "versions": [
                {
                    "number": version.number,
                    "text": version.text,
                    "negative_prompt": version.negative_prompt,
                    "notes": version.notes,
                    "created_at": version.created_at.isoformat(),
                }
                for version in sorted(prompt.versions.all(), key=lambda v: v.number)
            ],
        }
        for prompt in prompts
    ]


def export_presets(presets: list[Preset]) -> list[dict]:
    return [
        {"name": preset.name, "visibility": preset.visibility, "params": preset.params}
        for preset in presets
    ]


def export_library(prompts, presets) -> dict:
    prompts = prompts.prefetch_related("tags", "versions").order_by("created_at", "pk")
    return {
        "format": LIBRARY_FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(),
        "prompts": export_prompts(list(prompts)),
        "presets": export_presets(list(presets.order_by("created_at", "pk"))),
    }


def export_user_library(user) -> dict:
    """Everything `user` owns: their prompts (archived ones too) and presets."""
    return export_library(Prompt.objects.owned_by(user), Preset.objects.owned_by(user))


# ---------------------------------------------------------------------------- import


class Checker:
    """Collects what is wrong with an import file, each message with its place."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, where: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(f"{where}: {message}" if where else message)

    def text(self, item: dict, key: str, where: str, *, required: bool, limit: int) -> str:
        value = item.get(key, "" if not required else None)
        if not isinstance(value, str):
            self.fail(f"{where}.{key}", "must be text" + ("" if required else " (or left out)"))
            return ""
        if required and not value.strip():
            self.fail(f"{where}.{key}", "must not be empty")
        if len(value) > limit:
            self.fail(f"{where}.{key}", f"is {len(value)} characters; the limit is {limit}")
        return value

    def choice(self, item: dict, key: str, where: str, choices: list[str], default: str) -> str:
        value = item.get(key, default)
        if value not in choices:
            self.fail(f"{where}.{key}", f"must be one of {', '.join(choices)}")
            return default
        return value

    def items(self, data: dict, key: str, limit: int, where: str = "") -> list:
        value = data.get(key, [])
        if not isinstance(value, list):
            self.fail(f"{where}{key}", "must be a list")
            return []
        if len(value) > limit:
            self.fail(f"{where}{key}", f"has {len(value)} entries; at most {limit} can be imported")
            return []
        return value


def check_library(data: object) -> tuple[list[dict], list[dict]]:
    """The prompts and presets of an export file, checked; raises ImportRefused."""
    check = Checker()
    if not isinstance(data, dict):
        raise ImportRefused(["The file must hold one JSON object, as the library export does."])
    if data.get("format") != LIBRARY_FORMAT:
        raise ImportRefused([f"This is not a library export (format is not {LIBRARY_FORMAT!r})."])
    if data.get("version") != VERSION:
        raise ImportRefused([f"Export version {data.get('version')!r} is not known; expected 1."])
    limits = settings.PROMPT_LIMITS
    visibilities = list(Visibility.values)
    prompts = []
    for index, item in enumerate(check.items(data, "prompts", MAX_PROMPTS)):
        where = f"prompts[{index}]"
        if not isinstance(item, dict):
            check.fail(where, "must be an object")
            continue
        prompt = {
            "title": check.text(item, "title", where, required=True, limit=200),
            "visibility": check.choice(item, "visibility", where, visibilities, "private"),
            "archived": item.get("archived", False),
            "tags": item.get("tags", []),
            "versions": [],
        }
        if not isinstance(prompt["archived"], bool):
            check.fail(f"{where}.archived", "must be true or false")
        tags = prompt["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            check.fail(f"{where}.tags", "must be a list of text")
            prompt["tags"] = []
        versions = check.items(item, "versions", MAX_VERSIONS, where=f"{where}.")
        if not versions and isinstance(item.get("versions"), list):
            check.fail(f"{where}.versions", "must hold at least one version")
        numbers: set[int] = set()
        for position, entry in enumerate(versions):
            at = f"{where}.versions[{position}]"
            if not isinstance(entry, dict):
                check.fail(at, "must be an object")
                continue
            number = entry.get("number", position + 1)
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                check.fail(f"{at}.number", "must be a whole number from 1")
            elif number in numbers:
                check.fail(f"{at}.number", f"{number} appears twice")
            numbers.add(number if isinstance(number, int) else 0)
            created = entry.get("created_at")
            moment = parse_datetime(created) if isinstance(created, str) else None
            if created is not None and moment is None:
                check.fail(f"{at}.created_at", "must be an ISO 8601 date and time")
            if moment is not None and timezone.is_naive(moment):
                moment = timezone.make_aware(moment, UTC)
            prompt["versions"].append(
                {
                    "number": number,
                    "text": check.text(entry, "text", at, required=True, limit=limits["prompt"]),
                    "negative_prompt": check.text(
                        entry,
                        "negative_prompt",
                        at,
                        required=False,
                        limit=limits["negative_prompt"],
                    ),
                    "notes": check.text(entry, "notes", at, required=False, limit=10_000),
                    "created_at": moment,
                }
            )
        prompts.append(prompt)
    presets = []
    for index, item in enumerate(check.items(data, "presets", MAX_PROMPTS)):
        where = f"presets[{index}]"
        if not isinstance(item, dict):
            check.fail(where, "must be an object")
            continue
        params = item.get("params")
        if not isinstance(params, dict):
            check.fail(f"{where}.params", "must be an object of parameters")
            params = {}
        else:
            for key, message in preset_problems(params).items():
                check.fail(f"{where}.params{'.' + key if key else ''}", message)
        presets.append(
            {
                "name": check.text(item, "name", where, required=True, limit=80),
                "visibility": check.choice(item, "visibility", where, visibilities, "private"),
                "params": params,
            }
        )
    if check.errors:
        raise ImportRefused(check.errors)
    return prompts, presets


@transaction.atomic
def import_library(user, data: object) -> tuple[list[Prompt], list[Preset]]:
    """Add the file's prompts and presets to `user`'s library: all of them, or none."""
    prompts, presets = check_library(data)
    made_prompts = []
    now = timezone.now()
    for item in prompts:
        versions = sorted(item["versions"], key=lambda v: v["number"])
        prompt = Prompt.objects.create(
            owner=user,
            title=item["title"],
            visibility=item["visibility"],
            archived_at=now if item["archived"] else None,
            created_at=versions[0]["created_at"] or now,
            updated_at=versions[-1]["created_at"] or now,
        )
        prompt.tags.set(Tag.get_many(Tag.parse(item["tags"])))
        PromptVersion.objects.bulk_create(
            PromptVersion(
                prompt=prompt,
                number=version["number"],
                text=version["text"],
                negative_prompt=version["negative_prompt"],
                notes=version["notes"],
                author=user,
                created_at=version["created_at"] or now,
            )
            for version in versions
        )
        made_prompts.append(prompt)
    made_presets = [
        Preset.objects.create(
            owner=user, name=item["name"], visibility=item["visibility"], params=item["params"]
        )
        for item in presets
    ]
    return made_prompts, made_presets


# ---------------------------------------------------------------------------- recipe cards


def recipe(generation: Generation) -> dict:
    """Everything needed to see how a video was made and to make it again."""
    version = generation.prompt_version
    pk = generation.pk
    return {
        "format": RECIPE_FORMAT,
        "version": VERSION,
        "generation": str(pk),
        "created_at": generation.created_at.isoformat(),
        "owner": generation.owner.get_username(),
        "prompt_version": None
        if version is None
        else {
            "id": version.pk,
            "prompt_id": version.prompt_id,
            "title": version.prompt.title,
            "number": version.number,
            "text": version.text,
            "negative_prompt": version.negative_prompt,
            "notes": version.notes,
        },
        "presets": generation.presets,
        "batch": str(generation.batch_id) if generation.batch_id else None,
        "params": generation.params(),
        "request": generation.request_body,
        "upstream": {
            "external_task_id": generation.external_task_id,
            "task_id": generation.task_id,
            "status": generation.upstream_status,
            "status_msg": generation.status_msg,
            "units_charged": None
            if generation.units_charged is None
            else str(generation.units_charged),
        },
        "result": {
            "status": generation.status,
            "finished_at": generation.finished_at.isoformat() if generation.finished_at else None,
            "video": reverse("generation-video", args=[pk]) if generation.video else None,
            "poster": reverse("generation-poster", args=[pk]) if generation.poster else None,
            "video_sha256": generation.video_sha256 or None,
            "video_bytes": generation.video_bytes,
            "video_seconds": generation.video_seconds,
            "width": generation.video_width,
            "height": generation.video_height,
            "error": generation.last_error or None,
        },
    }


def check_recipe(data: object) -> dict:
    """The request-body parameters of a recipe card, checked against the capability table
    (and the recipe's prompt version id, if any, under "prompt_version"). Raises ImportRefused."""
    if not isinstance(data, dict) or data.get("format") != RECIPE_FORMAT:
        raise ImportRefused([f"This is not a recipe card (format is not {RECIPE_FORMAT!r})."])
    if data.get("version") != VERSION:
        raise ImportRefused([f"Recipe version {data.get('version')!r} is not known; expected 1."])
    body = data.get("request")
    if not isinstance(body, dict):
        raise ImportRefused(["request: must be the request body object."])
    params = {key: body[key] for key in RECIPE_FIELDS if key in body}
    found = problems(params, request_shape())
    if "model_name" not in params:
        found.setdefault("model_name", "is missing")
    if found:
        raise ImportRefused(
            [f"request.{key or 'body'}: {message}" for key, message in found.items()]
        )
    version = data.get("prompt_version")
    version_id = version.get("id") if isinstance(version, dict) else None
    presets = data.get("presets") or []
    if not isinstance(presets, list) or not all(isinstance(p, dict) for p in presets):
        raise ImportRefused(["presets: must be a list of objects."])
    # Kept as the new generation's record of its presets: only the known keys, bounded.
    records = [
        {
            "id": preset.get("id") if isinstance(preset.get("id"), int) else None,
            "name": str(preset.get("name", ""))[:80],
            "params": preset.get("params") if isinstance(preset.get("params"), dict) else {},
        }
        for preset in presets[:MAX_STACK]
    ]
    return {
        "params": params,
        "prompt_version": version_id if isinstance(version_id, int) else None,
        "presets": records,
    }
