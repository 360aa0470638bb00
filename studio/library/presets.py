"""Presets as data: which parameters a preset may hold, whether some model can take them
(the capability table), their values in words, the studio form's field values for them,
and the form's list of stacked preset ids."""

from __future__ import annotations

from studio import ids
from studio.generations.pipeline import request_shape
from studio.kling.capabilities import (
    CAMERA_AXES,
    DEFAULT_MODEL,
    IMAGE_MODELS,
    MODELS,
    PARAM_FIELDS,
    image_problems,
    problems,
)

# What a preset may hold: the text2video request's parameters, never the prompt itself, and
# never a picture (image, image_tail, which text2video has not): those belong to one job.
PRESET_KEYS = tuple(key for key in PARAM_FIELDS if key != "prompt")
MAX_STACK = 8  # presets stacked on one form


def preset_problems(params: dict) -> dict[str, str]:
    """Why `params` cannot be a preset, keyed like capabilities.problems ("" for the whole).

    A preset holds only some parameters, so it is checked on top of each model's plain
    defaults (std, 5 s, 16:9): it must work with its own model, or with at least one model
    when it names none. The problems reported are those of the closest model."""
    if not isinstance(params, dict) or not params:
        return {"": "Choose at least one parameter for the preset."}
    unknown = sorted(set(params) - set(PRESET_KEYS))
    if unknown:
        return {"": f"A preset cannot hold {', '.join(unknown)}."}
    names = [params["model_name"]] if "model_name" in params else list(MODELS)
    names.sort(key=lambda name: name != DEFAULT_MODEL)
    if params.get("model_name") in IMAGE_MODELS and params["model_name"] not in MODELS:
        return _image_only_problems(params)
    closest: dict[str, str] | None = None
    for name in names:
        spec = MODELS.get(name) if isinstance(name, str) else None
        base = {
            "model_name": name,
            "mode": "std" if spec and spec.modes else None,
            "duration": "5",
            "aspect_ratio": "16:9",
        }
        found = problems({**base, **params, "prompt": "preset check"}, request_shape())
        if not found:
            return {}
        if closest is None or len(found) < len(closest):
            closest = found
    return closest or {}


def _image_only_problems(params: dict) -> dict[str, str]:
    """A preset for a model that makes videos only from images (kling-v1-5, kling-v2-1)
    is checked against the image-to-video table, with the fields image2video does not
    take (aspect ratio, sound, camera) refused, as its request would refuse them."""
    spec = IMAGE_MODELS[params["model_name"]]
    base = {"model_name": spec.name, "mode": "std" if spec.modes else None, "duration": "5"}
    return image_problems({**base, **params, "image": "preset check"}, request_shape())


def describe_params(params: dict) -> list[str]:
    words = []
    if "model_name" in params:
        spec = MODELS.get(params["model_name"])
        words.append(f"Model {spec.label if spec else params['model_name']}")
    if params.get("mode"):
        words.append(f"Mode {params['mode']}")
    if "duration" in params:
        words.append(f"{params['duration']} s")
    if "aspect_ratio" in params:
        words.append(params["aspect_ratio"])
    if params.get("cfg_scale") is not None:
        words.append(f"cfg_scale {params['cfg_scale']:g}")
    if "camera_control" in params:
        camera = params["camera_control"] or {}
        config = camera.get("config") or {}
        moves = [f"{axis} {value:g}" for axis, value in config.items() if value]
        kind = str(camera.get("type", "none")).replace("_", " ")
        words.append(f"Camera {kind}{' ' + ' '.join(moves) if moves else ''}")
    if params.get("sound"):
        words.append(f"Sound {params['sound']}")
    if params.get("negative_prompt"):
        words.append(f"Avoid: {params['negative_prompt']}")
    return words


def form_fields(params: dict) -> dict[str, str]:
    """The studio form's field values (strings) that set `params`."""
    fields = {
        key: str(params[key])
        for key in ("model_name", "mode", "duration", "aspect_ratio", "sound", "negative_prompt")
        if key in params and params[key] is not None
    }
    if "cfg_scale" in params:
        cfg = params["cfg_scale"]
        fields["cfg_scale"] = "" if cfg is None else f"{cfg:g}"
    if "camera_control" in params:
        camera = params["camera_control"] or {}
        fields["camera_type"] = camera.get("type", "")
        config = camera.get("config") or {}
        for axis in CAMERA_AXES:
            value = config.get(axis)
            fields[f"camera_{axis}"] = "" if value is None else f"{value:g}"
    return fields


def as_text(value: object) -> str:
    """A parameter as the form's field shows it: 0.5 not 0.50000, None as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_ids(raw: object, limit: int = MAX_STACK) -> list[int]:
    """The stacked preset ids from "3,5,2" (studio/ids.py: bounded, order kept)."""
    return ids.parse_ids(raw, limit)
