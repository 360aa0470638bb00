"""Library files: prompts (with every version and tag) and presets to and from JSON, and a
generation's recipe card. Imports are checked whole before anything is written, then
written in one transaction: a bad file changes nothing."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from studio.generations.models import IMAGE_REFERENCE, Generation, Kind
from studio.kling.capabilities import CAMERA_AXES, IMAGE_PARAM_FIELDS, PARAM_FIELDS
from studio.library import text as prompt_text
from studio.library.models import (
    Preset,
    Prompt,
    PromptVersion,
    Tag,
    Visibility,
    row_id,
)
from studio.library.presets import preset_problems

LIBRARY_FORMAT = "kling-prompt-studio.library"
RECIPE_FORMAT = "kling-prompt-studio.recipe"
VERSION = 1
MAX_PROMPTS = 2000
MAX_VERSIONS = 500
MAX_ERRORS = 10
MAX_DEPTH = 10  # an export is 6 deep: presets[0].params.camera_control.config.zoom
MAX_VERSION_NUMBER = 2**31 - 1  # PositiveIntegerField on PostgreSQL
# What each preset parameter must be, if there, before its values are checked.
PARAM_TYPES = {
    "model_name": lambda v: v is None or isinstance(v, str),
    "mode": lambda v: v is None or isinstance(v, str),
    "duration": lambda v: v is None or isinstance(v, str),
    "aspect_ratio": lambda v: v is None or isinstance(v, str),
    "negative_prompt": lambda v: v is None or isinstance(v, str),
    "sound": lambda v: v is None or isinstance(v, str),
    "cfg_scale": lambda v: v is None or (isinstance(v, int | float) and not isinstance(v, bool)),
    "camera_control": lambda v: v is None or isinstance(v, dict),
}
PARAM_TYPE_WORDS = {
    "cfg_scale": "must be a number",
    "camera_control": "must be an object",
} | dict.fromkeys(
    ("model_name", "mode", "duration", "aspect_ratio", "negative_prompt", "sound"), "must be text"
)
TYPE_WORDS = {**PARAM_TYPE_WORDS, "prompt": "must be text"}
# Request-body fields a recipe may carry into a new run (never external_task_id or
# callback_url: a run again is a new task with its own).
RECIPE_FIELDS = PARAM_FIELDS


class ImportRefused(ValueError):
    """The file cannot be imported; `errors` says why, each with where in the file."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def read_json(raw: bytes) -> object:
    """A library file or recipe card parsed, holding nothing a database column cannot."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused(["The file is not UTF-8 text; export files are JSON."]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ImportRefused(
            [
                f"The file is not valid JSON: {error.msg} "
                f"at line {error.lineno}, column {error.colno}."
            ]
        ) from None
    except ValueError:  # an integer of more than 4,300 digits
        raise ImportRefused(["The file holds a number far too long for any field."]) from None
    except RecursionError:
        raise ImportRefused([f"The file is nested more than {MAX_DEPTH} levels deep."]) from None
    if found := unstorable(data):
        raise ImportRefused(found)
    return data


def unstorable(data: object) -> list[str]:
    """What in parsed JSON no column can hold, each with its place: nesting deeper than
    MAX_DEPTH, integers past 64 bits, NaN and infinities, NUL characters (PostgreSQL refuses
    them), lone surrogates (not text, so not UTF-8)."""
    found: list[str] = []
    todo: list[tuple[str, object, int]] = [("", data, 1)]
    while todo and len(found) < MAX_ERRORS:
        where, value, depth = todo.pop()
        if isinstance(value, dict | list) and depth > MAX_DEPTH:
            found.append(f"{where}: is nested more than {MAX_DEPTH} levels deep")
        elif isinstance(value, dict):
            children = []
            for key, item in value.items():
                if problem := value_problem(key):
                    found.append(f"{where or 'The file'}: a key {problem}")
                    key = ascii(key)  # the message itself must be text
                children.append((f"{where}.{key}" if where else key, item))
            todo += [(at, item, depth + 1) for at, item in reversed(children)]
        elif isinstance(value, list):
            todo += [
                (f"{where}[{i}]", item, depth + 1) for i, item in reversed(list(enumerate(value)))
            ]
        elif problem := value_problem(value):
            found.append(f"{where or 'The file'}: {problem}")
    return found[:MAX_ERRORS]


def value_problem(value: object) -> str | None:
    if isinstance(value, str):
        if "\x00" in value:
            return "holds a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "holds a lone surrogate (half of a UTF-16 pair), which is not text"
    elif isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    elif isinstance(value, int) and not -(2**63) <= value < 2**63:
        return "is too large a number for any field"
    return None


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
    """Checks an import file against the export's shape, every field of it, and collects what
    is wrong, each message with its place in the file."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.limits = settings.PROMPT_LIMITS
        self.visibilities = list(Visibility.values)

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
        if not isinstance(value, str) or value not in choices:
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

    def prompt(self, item: object, where: str) -> dict | None:
        if not isinstance(item, dict):
            self.fail(where, "must be an object")
            return None
        title = self.text(item, "title", where, required=True, limit=200)
        visibility = self.choice(item, "visibility", where, self.visibilities, "private")
        archived, tags = item.get("archived", False), item.get("tags", [])
        if not isinstance(archived, bool):
            self.fail(f"{where}.archived", "must be true or false")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            self.fail(f"{where}.tags", "must be a list of text")
            tags = []
        versions = self.items(item, "versions", MAX_VERSIONS, where=f"{where}.")
        if not versions and isinstance(item.get("versions"), list):
            self.fail(f"{where}.versions", "must hold at least one version")
        numbers: set[int] = set()
        return {
            "title": title,
            "visibility": visibility,
            "archived": archived,
            "tags": tags,
            "versions": [
                self.version(entry, f"{where}.versions[{position}]", position, numbers)
                for position, entry in enumerate(versions)
            ],
        }

    def version(self, entry: object, at: str, position: int, numbers: set[int]) -> dict:
        if not isinstance(entry, dict):
            self.fail(at, "must be an object")
            return {}
        number = entry.get("number", position + 1)
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            self.fail(f"{at}.number", "must be a whole number from 1")
        elif number > MAX_VERSION_NUMBER:
            self.fail(f"{at}.number", f"must be at most {MAX_VERSION_NUMBER}")
        elif number in numbers:
            self.fail(f"{at}.number", f"{number} appears twice")
        numbers.add(number if isinstance(number, int) else 0)
        text = self.text(entry, "text", at, required=True, limit=self.limits["prompt"])
        if problem := prompt_text.too_many_variables(text):
            self.fail(f"{at}.text", problem)
        negative_limit = self.limits["negative_prompt"]
        return {
            "number": number,
            "text": text,
            "negative_prompt": self.text(
                entry, "negative_prompt", at, required=False, limit=negative_limit
            ),
            "notes": self.text(entry, "notes", at, required=False, limit=10_000),
            "created_at": self.moment(entry.get("created_at"), f"{at}.created_at"),
        }

    def moment(self, value: object, where: str) -> datetime | None:
        """An ISO 8601 date and time as an aware UTC datetime (naive ones are UTC)."""
        if value is None:
            return None
        try:
            moment = parse_datetime(value) if isinstance(value, str) else None
            if moment is not None:  # an offset can carry year 1 or 9999 past the range
                moment = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
        except (ValueError, OverflowError):  # "2024-02-30T10:00", "0001-01-01T00:00+05:00"
            moment = None
        if moment is None:
            self.fail(where, "must be an ISO 8601 date and time")
        return moment

    def preset(self, item: object, where: str) -> dict | None:
        if not isinstance(item, dict):
            self.fail(where, "must be an object")
            return None
        params = item.get("params")
        if not isinstance(params, dict):
            self.fail(f"{where}.params", "must be an object of parameters")
            params = {}
        elif wrong := [key for key, kind in PARAM_TYPES.items() if not kind(params.get(key))]:
            for key in wrong:
                self.fail(f"{where}.params.{key}", PARAM_TYPE_WORDS[key])
        else:
            for key, message in preset_problems(params).items():
                self.fail(f"{where}.params{'.' + key if key else ''}", message)
        return {
            "name": self.text(item, "name", where, required=True, limit=80),
            "visibility": self.choice(item, "visibility", where, self.visibilities, "private"),
            "params": params,
        }


# The import page's one field takes either file; anything else is named as neither. A
# file of one kind with problems lists them under its kind's heading.
LIBRARY_REFUSED = "Nothing was imported:"
RECIPE_REFUSED = "This recipe cannot run:"
NEITHER = (
    "This file is neither of the two the studio imports: a library export (“Export my "
    "library”, or a prompt's Export) or a recipe card (“Download recipe” on a generation's "
    "page)."
)


def file_kind(data: object) -> str | None:
    """Which file this is: "library" or "recipe" by its format field, else by its shape
    (a file whose format was edited away still says what it meant to be, and its checker
    then says what is wrong); None for anything else."""
    if not isinstance(data, dict):
        return None
    named = {LIBRARY_FORMAT: "library", RECIPE_FORMAT: "recipe"}.get(data.get("format"))
    if named:
        return named
    if isinstance(data.get("request"), dict):
        return "recipe"
    if isinstance(data.get("prompts"), list) or isinstance(data.get("presets"), list):
        return "library"
    return None


def imported_words(prompts: list, presets: list) -> str:
    """What an import says it did."""
    return (
        f"Imported {len(prompts)} prompt{'s' if len(prompts) != 1 else ''} and "
        f"{len(presets)} preset{'s' if len(presets) != 1 else ''}."
    )


def check_header(data: object, format: str, what: str) -> None:
    if not isinstance(data, dict):
        raise ImportRefused([f"The file must hold one JSON object, as {what} does."])
    if data.get("format") != format:
        raise ImportRefused([f"This is not {what} (format is not {format!r})."])
    if data.get("version") != VERSION:
        raise ImportRefused([f"Export version {data.get('version')!r} is not known; expected 1."])


def check_library(data: object) -> tuple[list[dict], list[dict]]:
    """The prompts and presets of an export file, every field checked before anything is
    written; raises ImportRefused with every problem found (up to MAX_ERRORS)."""
    check_header(data, LIBRARY_FORMAT, "a library export")
    check = Checker()
    prompts = [
        check.prompt(item, f"prompts[{index}]")
        for index, item in enumerate(check.items(data, "prompts", MAX_PROMPTS))
    ]
    presets = [
        check.preset(item, f"presets[{index}]")
        for index, item in enumerate(check.items(data, "presets", MAX_PROMPTS))
    ]
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
        "prompt_version": None if version is None else recipe_version(version),
        "presets": generation.presets,
        "batch": str(generation.batch_id) if generation.batch_id else None,
        "kind": generation.kind,
        "params": generation.params(),
        "request": generation.request_body,
        "images": recipe_images(generation),
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


def recipe_version(version) -> dict:
    """The prompt version a recipe's text came from, as the card records it."""
    return {
        "id": version.pk,
        "prompt_id": version.prompt_id,
        "title": version.prompt.title,
        "number": version.number,
        "text": version.text,
        "negative_prompt": version.negative_prompt,
        "notes": version.notes,
    }


def recipe_images(generation: Generation) -> dict:
    """An image-to-video job's pictures (named in the request as studio-image:<id>): what
    they are and where the studio serves them; the bytes stay in its storage."""
    return {
        name: {
            "id": str(picture.pk),
            **picture.record(),
            "url": reverse("input-image", args=[picture.pk]),
        }
        for name, picture in (("image", generation.image), ("image_tail", generation.image_tail))
        if picture is not None
    }


def check_recipe(data: object) -> dict:
    """A recipe card's request-body parameters, each of the type the body gives it (text,
    a number, an object), its prompt version id (under "prompt_version", if any) and its
    presets. Whether the values make a video is the studio form's to say: a recipe opens
    it prefilled (composer/compose.py recipe_form). Raises ImportRefused."""
    if not isinstance(data, dict) or data.get("format") != RECIPE_FORMAT:
        raise ImportRefused([f"This is not a recipe card (format is not {RECIPE_FORMAT!r})."])
    if data.get("version") != VERSION:
        raise ImportRefused([f"Recipe version {data.get('version')!r} is not known; expected 1."])
    body = data.get("request")
    if not isinstance(body, dict):
        raise ImportRefused(["request: must be the request body object."])
    if "image" in body or "image_tail" in body:
        return check_image_recipe(data, body)
    params = {key: body[key] for key in RECIPE_FIELDS if key in body}
    if found := request_type_problems(params):
        raise ImportRefused([f"request.{key}: {message}" for key, message in found.items()])
    version = data.get("prompt_version")
    version_id = version.get("id") if isinstance(version, dict) else None
    return {
        "params": params,
        "prompt_version": row_id(version_id),  # true is no id, nor is 2**64
        "presets": recipe_presets(data.get("presets")),
    }


def request_type_problems(params: dict) -> dict[str, str]:
    """Each request-body parameter that is not of its type, the camera move's parts too:
    a list where text goes would otherwise reach the form as its Python spelling."""
    types = {**PARAM_TYPES, "prompt": PARAM_TYPES["negative_prompt"]}
    found = {key: TYPE_WORDS[key] for key, kind in types.items() if not kind(params.get(key))}
    camera = params.get("camera_control")
    if "camera_control" in found or not camera:
        return found
    if not isinstance(camera.get("type", ""), str):
        found["camera_control.type"] = "must be text"
    config = camera.get("config") or {}
    if not isinstance(config, dict):
        return {**found, "camera_control.config": "must be an object"}
    for axis, value in config.items():
        if axis not in CAMERA_AXES:
            found[f"camera_control.config.{axis}"[:80]] = (
                f"is not a camera axis ({', '.join(CAMERA_AXES)})"
            )
        elif not PARAM_TYPES["cfg_scale"](value):
            found[f"camera_control.config.{axis}"] = "must be a number"
    return found


def check_image_recipe(data: dict, body: dict) -> dict:
    """check_recipe for an image-to-video card: its pictures must be the studio's own
    (studio-image:<id>; whether the person may use them is the form's to say, through
    InputImage.usable_by)."""
    params = {key: body[key] for key in IMAGE_PARAM_FIELDS if key in body}
    errors = []
    for name in ("image", "image_tail"):
        value = params.get(name)
        if value is not None and not (isinstance(value, str) and value.startswith(IMAGE_REFERENCE)):
            errors.append(
                f"request.{name}: must name a picture of this studio (studio-image:<id>)."
            )
    text = {k: v for k, v in params.items() if k not in ("image", "image_tail")}
    errors += [f"request.{key}: {message}" for key, message in request_type_problems(text).items()]
    if errors:
        raise ImportRefused(errors[:MAX_ERRORS])
    version = data.get("prompt_version")
    version_id = version.get("id") if isinstance(version, dict) else None
    return {
        "params": {"kind": Kind.IMAGE.value, **params},
        "prompt_version": row_id(version_id),  # true is no id, nor is 2**64
        "presets": recipe_presets(data.get("presets")),
    }


def recipe_presets(presets: object) -> list[dict]:
    """A recipe card's presets, kept as the new generation's record of them: at most
    STUDIO_RECIPE_MAX_PRESETS, each with a name of at most 80 characters and parameters a
    preset may hold (the preset form's rules: known keys, values within the contract's
    limits), so each record stays small. Raises ImportRefused."""
    presets = presets or []
    if not isinstance(presets, list) or not all(isinstance(p, dict) for p in presets):
        raise ImportRefused(["presets: must be a list of objects."])
    most = settings.STUDIO_RECIPE_MAX_PRESETS
    if len(presets) > most:
        raise ImportRefused([f"presets: {len(presets)} presets; a recipe may have at most {most}."])
    errors = []
    for index, preset in enumerate(presets):
        name, params = preset.get("name", ""), preset.get("params", {})
        if not isinstance(name, str) or len(name) > 80:
            errors.append(f"presets[{index}].name: must be text of at most 80 characters.")
        if not isinstance(params, dict):
            found = {"": "must be an object"}
        elif wrong := [key for key, kind in PARAM_TYPES.items() if not kind(params.get(key))]:
            found = {key: PARAM_TYPE_WORDS[key] for key in wrong}
        else:  # {}: a record of values no longer known, small and harmless
            found = preset_problems(params) if params else {}
        where = f"presets[{index}].params"
        errors += [f"{where}{'.' + k if k else ''}: {m}"[:200] for k, m in found.items()]
    if errors:
        raise ImportRefused(errors[:MAX_ERRORS])
    return [
        {"id": row_id(p.get("id")), "name": p.get("name", ""), "params": p.get("params", {})}
        for p in presets
    ]
