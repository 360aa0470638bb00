"""The capability tables: which model takes which mode, duration and field, for
text2video and for image2video.

Reference: docs/upstream.md §3 (fields and limits), §4 (capability matrix), §5
(camera_control), §15 (what CometAPI's newer page documents), §15.1 (image2video).
Everything that validates or offers a request (the studio form, presets, recipes, the
simulator) reads these tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ASPECT_RATIOS: tuple[str, ...] = ("16:9", "9:16", "1:1")  # §3: official video ratios only
MODES: tuple[str, ...] = ("std", "pro")
CAMERA_PRESETS: tuple[str, ...] = (
    "down_back",
    "forward_up",
    "right_turn_forward",
    "left_turn_forward",
)
CAMERA_TYPES: tuple[str, ...] = ("simple", *CAMERA_PRESETS)
CAMERA_PRESET_LABELS = {
    "down_back": "Down and back",
    "forward_up": "Forward and up",
    "right_turn_forward": "Right turn, forward",
    "left_turn_forward": "Left turn, forward",
}
CAMERA_AXES: tuple[str, ...] = ("horizontal", "vertical", "pan", "tilt", "roll", "zoom")
CAMERA_AXIS_RANGE: tuple[float, float] = (-10.0, 10.0)
CFG_SCALE_RANGE: tuple[float, float] = (0.0, 1.0)
DEFAULT_CFG_SCALE = 0.5

# §3.2: CometAPI documents 500/200; the official API allows 2500/2500.
STRICT_LIMITS = {"prompt": 500, "negative_prompt": 200}
UPSTREAM_LIMITS = {"prompt": 2500, "negative_prompt": 2500}
# §15: CometAPI documents only these durations; other values are "outside the text-to-video
# request shape", whatever a model officially takes (§4: kling-v3 3–15 s).
COMET_DURATIONS: tuple[str, ...] = ("5", "10")
# §15: CometAPI's default is "model default"; "off" is how to ask for a silent video.
SOUND_VALUES: tuple[str, ...] = ("off", "on")


@dataclass(frozen=True)
class ModelSpec:
    """What one model accepts on text2video (docs/upstream.md §4)."""

    name: str
    label: str
    modes: tuple[str, ...] = MODES  # empty: no std/pro split, `mode` is omitted from the body
    durations: tuple[str, ...] = ("5", "10")  # what Kling officially takes; see Shape
    cfg_scale: bool = False
    camera_control: tuple[tuple[str, str], ...] = ()  # allowed (mode, duration) pairs
    sound_modes: tuple[str, ...] = ()
    fps: int = 24
    # output height by mode ("" when the model has no mode split)
    heights: dict[str, int] = field(default_factory=lambda: {"std": 720, "pro": 1080})
    note: str = ""

    def allows_camera(self, mode: str, duration: str) -> bool:
        return (mode, duration) in self.camera_control

    def takes_sound(self, mode: str | None) -> bool:
        """Whether `sound` belongs in the body in this mode (§4: v2-6 pro, v3)."""
        return (mode or "std") in self.sound_modes

    def height(self, mode: str) -> int:
        return self.heights.get(mode) or self.heights.get("", 720)


def by_name(*specs):
    """A model table: the specs keyed by model name, in the order given."""
    return {spec.name: spec for spec in specs}


# kling-v3 officially takes any whole length from 3 to 15 s (§4).
V3_DURATIONS: tuple[str, ...] = tuple(str(s) for s in range(3, 16))
TURBO_NOTE = "CometAPI prices only pro for 2.5 Turbo; std may be rejected."
# Each model names only what sets it apart from the defaults of ModelSpec (std and pro,
# 5 or 10 s, no cfg_scale, no camera control or sound, 24 fps, 720p std and 1080p pro).
MODELS: dict[str, ModelSpec] = by_name(
    ModelSpec(
        "kling-v1",
        "Kling 1.0",
        cfg_scale=True,
        camera_control=(("std", "5"),),
        fps=30,
        heights={"std": 720, "pro": 720},
    ),
    ModelSpec("kling-v1-6", "Kling 1.6", cfg_scale=True),
    ModelSpec("kling-v2-master", "Kling 2.0 Master", modes=(), heights={"": 720}),
    ModelSpec("kling-v2-1-master", "Kling 2.1 Master", modes=(), heights={"": 1080}),
    ModelSpec("kling-v2-5-turbo", "Kling 2.5 Turbo", note=TURBO_NOTE),
    ModelSpec("kling-v2-6", "Kling 2.6", sound_modes=("pro",)),
    ModelSpec("kling-v3", "Kling 3.0", durations=V3_DURATIONS, sound_modes=MODES),
)

DEFAULT_MODEL = "kling-v2-6"


def get_model(name: str) -> ModelSpec | None:
    return MODELS.get(name)


@dataclass(frozen=True)
class Shape:
    """Which request shape bodies are held to. COMET (the default) is what CometAPI's page
    documents (§15): 5 or 10 s for every model and prompts of 500/200. OFFICIAL is Kling's
    own, wider one: kling-v3's 3–15 s and prompts of 2500/2500 (§3, §4)."""

    limits: Mapping[str, int] = field(default_factory=lambda: dict(STRICT_LIMITS))
    official_durations: bool = False

    def durations(self, spec: AnySpec) -> tuple[str, ...]:
        if self.official_durations:
            return spec.durations
        return tuple(d for d in spec.durations if d in COMET_DURATIONS)

    def every_duration(self) -> list[str]:
        """Every duration some model takes in this shape, shortest first."""
        found = {d for spec in MODELS.values() for d in self.durations(spec)}
        return sorted(found, key=int)


COMET = Shape()
OFFICIAL = Shape(UPSTREAM_LIMITS, official_durations=True)


def problems(params: dict, shape: Shape = COMET) -> dict[str, str]:
    """Every reason `params` would be rejected, keyed by field name ("" for the whole request).

    `params` uses the request body's field names and types: duration is a string,
    cfg_scale a number, camera_control a dict. Missing optional fields are fine.
    """
    found = _model_problems(params, shape, MODELS, "Unknown model {!r}.", _text_fields)
    return _text_problems(params, shape.limits) | found


def _model_problems(
    params: dict, shape: Shape, table: Mapping[str, AnySpec], unknown: str, fields
) -> dict[str, str]:
    """What the model named in `params` refuses, by the rows of `table` (either endpoint's):
    the model itself (`unknown` names it), then its mode and duration, then what `fields`
    (spec, mode, duration, params, shape) finds in that endpoint's own fields."""
    name = params.get("model_name") or "kling-v1"  # §3: an omitted model means kling-v1
    spec = table.get(name)
    if spec is None:
        return {"model_name": unknown.format(name)}
    mode, duration = params.get("mode"), params.get("duration", "5")
    found = {
        "mode": _mode_problem(spec, mode),
        "duration": _duration_problem(spec, duration, shape),
        **fields(spec, mode, duration, params, shape),
    }
    return {key: message for key, message in found.items() if message}


def _text_fields(
    spec: ModelSpec, mode: object, duration: object, params: dict, shape: Shape
) -> dict[str, str]:
    return {
        "aspect_ratio": _ratio_problem(params.get("aspect_ratio")),
        "cfg_scale": _cfg_problem(spec, params.get("cfg_scale")),
        "sound": _sound_problem(spec, mode, params.get("sound")),
        "camera_control": _camera_fit_problem(spec, mode, duration, params.get("camera_control")),
    }


def _text_problems(params: dict, limits: Mapping[str, int]) -> dict[str, str]:
    errors = {}
    prompt = params.get("prompt") or ""
    if not str(prompt).strip():
        errors["prompt"] = "Write a prompt."
    elif len(prompt) > limits["prompt"]:
        errors["prompt"] = (
            f"The prompt is {len(prompt)} characters; the limit is {limits['prompt']}."
        )
    negative = params.get("negative_prompt") or ""
    if len(negative) > limits["negative_prompt"]:
        errors["negative_prompt"] = (
            f"The negative prompt is {len(negative)} characters; "
            f"the limit is {limits['negative_prompt']}."
        )
    return errors


def _mode_problem(spec: AnySpec, mode: object) -> str:
    if mode is not None and mode not in MODES:
        return f"Mode must be one of {', '.join(MODES)}."
    if mode and not spec.modes:
        return f"{spec.label} has no std/pro mode."
    return ""


def _duration_problem(spec: AnySpec, duration: object, shape: Shape) -> str:
    allowed = shape.durations(spec)
    if isinstance(duration, str) and duration in allowed:
        return ""
    message = f"{spec.label} makes videos of {_seconds(allowed)}"
    if allowed != spec.durations:  # §15: the model takes more, the gateway documents less
        return f"{message} through CometAPI (other values are outside its request shape)."
    return f"{message}."


def _ratio_problem(ratio: object) -> str:
    if ratio is not None and ratio not in ASPECT_RATIOS:
        return f"Aspect ratio must be one of {', '.join(ASPECT_RATIOS)}."
    return ""


def _cfg_problem(spec: AnySpec, cfg: object) -> str:
    if cfg is None:
        return ""
    if not spec.cfg_scale:
        return f"{spec.label} does not take cfg_scale."
    if isinstance(cfg, bool) or not isinstance(cfg, int | float):
        return "cfg_scale must be a number."
    if not CFG_SCALE_RANGE[0] <= cfg <= CFG_SCALE_RANGE[1]:
        return "cfg_scale must be between 0 and 1."
    return ""


def _sound_problem(spec: ModelSpec, mode: object, sound: object) -> str:
    if sound is None:
        return ""
    if sound not in SOUND_VALUES:
        return "sound must be on or off."
    if sound == "on" and not spec.takes_sound(mode if isinstance(mode, str) else None):
        if not spec.sound_modes:
            return f"{spec.label} makes no sound."
        return f"{spec.label} makes sound only in {_join(spec.sound_modes)} mode."
    return ""


def _camera_fit_problem(spec: ModelSpec, mode: object, duration: object, camera: object) -> str:
    if camera is None:
        return ""
    if malformed := camera_problem(camera):
        return malformed
    if not spec.allows_camera(str(mode or "std"), duration if isinstance(duration, str) else ""):
        return "camera_control is only supported in std mode with 5s duration and kling-v1"
    return ""


def camera_problem(camera: object) -> str:
    """Why a camera_control object is malformed (docs/upstream.md §5), or "" when it is fine."""
    if not isinstance(camera, dict):
        return "camera_control must be an object."
    kind = camera.get("type")
    if kind not in CAMERA_TYPES:
        return f"camera_control.type must be one of {', '.join(CAMERA_TYPES)}."
    config = camera.get("config")
    if kind != "simple":
        return (
            "" if config is None else f"camera_control.config is only for type simple, not {kind}."
        )
    if not isinstance(config, dict):
        return "camera_control type simple needs a config."
    unknown = set(config) - set(CAMERA_AXES)
    if unknown:
        return f"Unknown camera axis {sorted(unknown)[0]!r}."
    values = []
    for axis in CAMERA_AXES:
        value = config.get(axis, 0)  # §5: gateways drop zero values (omitempty)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"camera_control.config.{axis} must be a number."
        if not CAMERA_AXIS_RANGE[0] <= value <= CAMERA_AXIS_RANGE[1]:
            return f"camera_control.config.{axis} must be between -10 and 10."
        values.append(value)
    if sum(1 for v in values if v != 0) != 1:
        return "camera_control simple config needs exactly one non-zero axis."
    return ""


# The create body's fields in the order of the contract (§3). JSON columns may not keep key
# order (PostgreSQL's jsonb does not), so bodies are put back in this order to be sent or shown.
# PARAM_FIELDS are what a person chooses; the last two are per task.
PARAM_FIELDS: tuple[str, ...] = (
    "model_name",
    "prompt",
    "negative_prompt",
    "mode",
    "aspect_ratio",
    "duration",
    "cfg_scale",
    "camera_control",
    "sound",
)
BODY_FIELDS: tuple[str, ...] = (*PARAM_FIELDS, "external_task_id", "callback_url")


def ordered_body(body: dict) -> dict:
    """`body` with the contract's fields first, in contract order, then any others."""
    known = {name: body[name] for name in BODY_FIELDS if name in body}
    return known | {name: value for name, value in body.items() if name not in known}


def build_body(params: dict) -> dict:
    """The create body for `params`, with every field the model does not take left out (§3.1)."""
    spec = MODELS[params["model_name"]]
    body: dict = {"model_name": spec.name, "prompt": params["prompt"]}
    if params.get("negative_prompt"):
        body["negative_prompt"] = params["negative_prompt"]
    if spec.modes:
        body["mode"] = params.get("mode") or "std"
    body["aspect_ratio"] = params.get("aspect_ratio") or "16:9"  # §12.4: always send it
    body["duration"] = str(params.get("duration") or "5")
    if spec.cfg_scale and params.get("cfg_scale") is not None:
        body["cfg_scale"] = float(params["cfg_scale"])
    if params.get("camera_control") and spec.allows_camera(body.get("mode", ""), body["duration"]):
        body["camera_control"] = params["camera_control"]
    if spec.takes_sound(body.get("mode")):
        # §15: an omitted sound is the "model default" and may be billed at the audio
        # rate, so a model that can make sound is always told whether to.
        body["sound"] = "on" if params.get("sound") == "on" else "off"
    return body


def _seconds(durations: tuple[str, ...]) -> str:
    if len(durations) > 2:
        return f"{durations[0]}–{durations[-1]} s"
    return " or ".join(f"{d} s" for d in durations)


def _join(items: tuple[str, ...]) -> str:
    return " or ".join(items)


# ---------------------------------------------------------------------------- image2video
# docs/upstream.md §15.1: the same create-and-poll shapes at /kling/v1/videos/image2video.
# The body is `image` (and optionally `image_tail`, the end frame) plus prompt,
# negative_prompt, mode, duration and, on v1.x, cfg_scale. There is no aspect_ratio (the
# video follows the image) and CometAPI's page lists no sound or camera_control for it.
TEXT2VIDEO, IMAGE2VIDEO = "text2video", "image2video"
KINDS: tuple[str, ...] = (TEXT2VIDEO, IMAGE2VIDEO)


@dataclass(frozen=True)
class ImageModelSpec:
    """What one model accepts on image2video (docs/upstream.md §15.1)."""

    name: str
    label: str
    modes: tuple[str, ...] = MODES  # empty: no std/pro split, `mode` is omitted
    durations: tuple[str, ...] = ("5", "10")  # what Kling officially takes; see Shape
    cfg_scale: bool = False
    image_tail: tuple[tuple[str, str], ...] = ()  # (mode, duration) pairs that take an end frame
    # Official only (§10): camera_control on image2video, and the motion-brush masks.
    camera_control: tuple[tuple[str, str], ...] = ()
    masks: tuple[tuple[str, str], ...] = ()
    note: str = ""

    def takes_tail(self, mode: str, duration: str) -> bool:
        return (mode, duration) in self.image_tail


_PRO_TAIL = (("pro", "5"), ("pro", "10"))
# As MODELS: each model names what sets it apart from the defaults of ImageModelSpec.
IMAGE_MODELS: dict[str, ImageModelSpec] = by_name(
    ImageModelSpec(
        "kling-v1",
        "Kling 1.0",
        cfg_scale=True,
        image_tail=(("std", "5"), ("pro", "5")),
        camera_control=(("std", "5"),),
        masks=(("std", "5"), ("pro", "5")),
    ),
    ImageModelSpec(
        "kling-v1-5",
        "Kling 1.5",
        cfg_scale=True,
        image_tail=_PRO_TAIL,
        camera_control=(("pro", "5"),),
        masks=(("pro", "5"),),
    ),
    ImageModelSpec("kling-v1-6", "Kling 1.6", cfg_scale=True, image_tail=_PRO_TAIL),
    ImageModelSpec("kling-v2-master", "Kling 2.0 Master", modes=()),
    ImageModelSpec("kling-v2-1", "Kling 2.1", image_tail=_PRO_TAIL),
    ImageModelSpec("kling-v2-1-master", "Kling 2.1 Master", modes=()),
    ImageModelSpec("kling-v2-5-turbo", "Kling 2.5 Turbo", image_tail=_PRO_TAIL, note=TURBO_NOTE),
    ImageModelSpec("kling-v2-6", "Kling 2.6", image_tail=_PRO_TAIL),
    ImageModelSpec(
        "kling-v3",
        "Kling 3.0",
        durations=V3_DURATIONS,
        image_tail=tuple((m, s) for m in MODES for s in V3_DURATIONS),
    ),
)
DEFAULT_IMAGE_MODEL = "kling-v2-6"
AnySpec = ModelSpec | ImageModelSpec
# The fields an image2video body may carry, in the order of docs/upstream.md §15.1.
IMAGE_PARAM_FIELDS: tuple[str, ...] = (
    "model_name",
    "image",
    "image_tail",
    "prompt",
    "negative_prompt",
    "mode",
    "duration",
    "cfg_scale",
)
IMAGE_BODY_FIELDS: tuple[str, ...] = (*IMAGE_PARAM_FIELDS, "external_task_id", "callback_url")
# Not image2video fields in CometAPI's shape (§15.1); the official one (§10) takes the last three.
NOT_IMAGE_FIELDS = ("aspect_ratio", "sound", "camera_control", "static_mask", "dynamic_masks")


def image_problems(params: dict, shape: Shape = COMET) -> dict[str, str]:
    """Every reason an image2video `params` would be rejected, keyed by field name, as
    problems() does for text2video. The images are only checked for being there; what is
    in them is studio/kling/images.py's business."""
    # The prompt is optional here; only its length is checked.
    errors = _text_problems({**params, "prompt": params.get("prompt") or "-"}, shape.limits)
    if not (params.get("image") or params.get("image_tail")):
        errors["image"] = "Choose a start image."
    unknown = "{!r} does not make videos from images."
    return errors | _model_problems(params, shape, IMAGE_MODELS, unknown, _image_fields)


def _image_fields(
    spec: ImageModelSpec, mode: object, duration: object, params: dict, shape: Shape
) -> dict[str, str]:
    return {
        "cfg_scale": _cfg_problem(spec, params.get("cfg_scale")),
        "image_tail": _tail_problem(spec, mode, duration, params),
        **_foreign_fields(spec, mode, duration, params, shape),
    }


def _tail_problem(spec: ImageModelSpec, mode: object, duration: object, params: dict) -> str:
    if not params.get("image_tail"):
        return ""
    mode = str(mode or "std") if spec.modes else ""
    if not spec.takes_tail(mode, str(duration)):
        # The gateway's own words (§4, G4).
        return (
            f"model/mode/duration({spec.name}/{mode or '-'}/{duration}) "
            "is not supported with image_tail"
        )
    if any(params.get(name) for name in ("camera_control", "static_mask", "dynamic_masks")):
        return "image_tail cannot be combined with camera_control or masks."
    return ""


def _foreign_fields(
    spec: ImageModelSpec, mode: object, duration: object, params: dict, shape: Shape
) -> dict[str, str]:
    """Fields outside the image2video shape: aspect_ratio never (the video follows the
    image; kling-v3 rejects it), the rest only in the official shape and where it fits."""
    errors = {}
    if params.get("aspect_ratio") is not None:
        errors["aspect_ratio"] = (
            "aspect_ratio is not an image-to-video field: the video follows the image."
        )
    official = shape.official_durations
    pair = (str(mode or "std"), str(duration))
    for name, allowed in (
        ("camera_control", spec.camera_control),
        ("static_mask", spec.masks),
        ("dynamic_masks", spec.masks),
    ):
        if params.get(name) is None:
            continue
        if not official:
            errors[name] = f"{name} is outside CometAPI's image-to-video request shape."
        elif pair not in allowed:
            errors[name] = f"{spec.label} takes no {name} in {pair[0]} mode for {pair[1]} s."
        elif name == "camera_control" and (malformed := camera_problem(params[name])):
            errors[name] = malformed
    if params.get("sound") is not None and not official:
        errors["sound"] = "sound is outside CometAPI's image-to-video request shape."
    return errors


def build_image_body(params: dict, image: str, image_tail: str = "") -> dict:
    """The image2video create body (§15.1): `image` and `image_tail` are what goes on the
    wire for them (raw base64, or the studio's reference to a stored image); no
    aspect_ratio, sound or camera_control; cfg_scale only on v1.x."""
    spec = IMAGE_MODELS[params["model_name"]]
    body: dict = {"model_name": spec.name, "image": image}
    if image_tail:
        body["image_tail"] = image_tail
    if params.get("prompt"):
        body["prompt"] = params["prompt"]
    if params.get("negative_prompt"):
        body["negative_prompt"] = params["negative_prompt"]
    if spec.modes:
        body["mode"] = params.get("mode") or "std"
    body["duration"] = str(params.get("duration") or "5")
    if spec.cfg_scale and params.get("cfg_scale") is not None:
        body["cfg_scale"] = float(params["cfg_scale"])
    return body


def ordered_image_body(body: dict) -> dict:
    """An image2video body with the contract's fields first, in §15.1's order."""
    known = {name: body[name] for name in IMAGE_BODY_FIELDS if name in body}
    return known | {name: value for name, value in body.items() if name not in known}


def any_problems(params: dict, shape: Shape = COMET) -> dict[str, str]:
    """problems() or image_problems(), by `params["kind"]` (text2video when absent)."""
    params = dict(params)
    kind = params.pop("kind", TEXT2VIDEO) or TEXT2VIDEO
    if kind == IMAGE2VIDEO:
        return image_problems(params, shape)
    if kind != TEXT2VIDEO:
        return {"kind": f"kind must be one of {', '.join(KINDS)}."}
    return problems(params, shape)


def describe_camera(camera_control: dict | None) -> str:
    """A camera_control body in words for people: "Zoom +5", "Pan −3, Tilt +2", or a
    preset's name ("Down and back"); "none" when there is none."""
    if not camera_control:
        return "none"
    kind = str(camera_control.get("type") or "")
    if kind != "simple":
        return CAMERA_PRESET_LABELS.get(kind, kind or "none")
    config = camera_control.get("config") or {}
    moves = [
        f"{axis.capitalize()} {'+' if value > 0 else '−'}{abs(value):g}"
        for axis in CAMERA_AXES
        if isinstance(value := config.get(axis), int | float) and value
    ]
    return ", ".join(moves) or "Simple, no movement"
