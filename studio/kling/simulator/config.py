"""The simulator's settings: one mutable dataclass, shared by the app, the CLI and /_sim/config."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

AUTH_STYLES = ("comet", "kling")
# docs/upstream.md §6.1: Kling's request ids are UUIDs; a gateway may send its own, or none.
REQUEST_ID_STYLES = ("uuid", "gateway", "none")
# §6.2: an empty task_status_msg, task_result or external_task_id may be "", {}, null or absent.
EMPTY_FIELD_STYLES = ("empty", "null", "missing")
CHOICES = {
    "auth_style": AUTH_STYLES,
    "request_ids": REQUEST_ID_STYLES,
    "empty_fields": EMPTY_FIELD_STYLES,
}


def _option(default: object, help: str) -> Any:
    """A field whose help text the CLI shows."""
    return field(default=default, metadata={"help": help})


@dataclass
class SimConfig:
    """Every knob of the simulator. Fields may be changed while it runs (reads are unlocked)."""

    api_key: str | None = _option(None, "unset: any `Bearer sk-...` passes; else it must match")
    auth_style: str = _option("comet", "401 shape: comet ({error: ...}) or kling (1000/1002)")
    processing_after: float = _option(1.0, "seconds from create to processing")
    finish_after: float = _option(4.0, "seconds from create to succeed or failed")
    url_ttl: float = _option(3600.0, "seconds a video URL works after succeed; then 403")
    strict: bool = _option(
        True,
        "CometAPI's documented request shape (5 or 10 s, prompts 500/200, an omitted sound "
        "billed as on); --no-strict: Kling's official one (kling-v3 3-15 s, 2500/2500)",
    )
    timestamps_in_seconds: bool = _option(False, "seconds instead of ms, as some gateways send")
    request_ids: str = _option("uuid", "request_id: uuid, gateway (no dashes) or none (left out)")
    success_message: str = _option(
        "SUCCEED", "`message` of a success (CometAPI also shows success)"
    )
    empty_fields: str = _option(
        "empty", "empty task_status_msg/task_result/external_task_id: empty, null or missing"
    )
    latency: float = _option(0.0, "seconds slept before answering each API request")
    callbacks: bool = _option(True, "POST the task to callback_url on each status change")
    duplicate_callbacks: bool = _option(False, "deliver every callback twice (they may repeat)")
    callback_delay: float = _option(0.0, "seconds to hold each callback back")
    callback_drop_rate: float = _option(0.0, "share of callbacks silently dropped")
    callback_timeout: float = _option(5.0, "seconds to wait for a callback receiver")
    max_in_flight: int = _option(0, "0: unlimited; else creates beyond N running get 429/1303")
    fault_rate: float = _option(0.0, "share of API requests that get a random fault")
    seed: int | None = _option(None, "seed for random faults and drops (repeatable runs)")
    slow_seconds: float = _option(30.0, "how long a slow fault sleeps (beyond a read timeout)")
    lose_creates: bool = _option(
        False, "every create answers 504/5002 and makes no task (a create lost on the way)"
    )
    lookups_fail: bool = _option(
        False, "every lookup by external_task_id answers 500/5000 (polls by task id answer)"
    )
    retry_after: int = _option(1, "the Retry-After header on 429 and 503 answers")
    list_endpoint: bool = _option(False, "serve GET .../text2video?pageNum=&pageSize=")
    public_url: str = _option("", "base of video URLs; serve() fills in its own URL")
    video_dir: str | None = _option(None, "where rendered MP4s are cached; unset: a temp dir")
    fps: int = _option(10, "frame rate of the rendered videos")
    video_seconds: float = _option(0.0, "seconds each video download is spread over (0: at once)")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}")
        for name in ("fault_rate", "callback_drop_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in (
            "processing_after",
            "finish_after",
            "url_ttl",
            "latency",
            "slow_seconds",
            "video_seconds",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_in_flight < 0 or self.fps < 1:
            raise ValueError("max_in_flight must be >= 0 and fps >= 1")

    def update(self, changes: dict[str, object]) -> None:
        """Apply JSON-typed changes after checking every one; nothing changes on an error."""
        kinds = field_kinds()
        coerced = {}
        for name, value in changes.items():
            if name not in kinds:
                raise ValueError(f"unknown config field {name!r}")
            coerced[name] = coerce(name, value, *kinds[name])
        dataclasses.replace(self, **coerced)  # runs validate() on the would-be result
        for name, value in coerced.items():
            setattr(self, name, value)

    def public(self) -> dict[str, object]:
        """The config as JSON, with the API key masked."""
        data = dataclasses.asdict(self)
        data["api_key"] = "sk-…" if self.api_key else None
        return data


def field_help() -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(SimConfig)}


def field_kinds() -> dict[str, tuple[type, bool]]:
    """Each field's base type and whether it may be None (for the CLI and /_sim/config)."""
    kinds = {}
    for name, hint in typing.get_type_hints(SimConfig).items():
        if isinstance(hint, types.UnionType):
            args = typing.get_args(hint)
            base = next(arg for arg in args if arg is not type(None))
            kinds[name] = (base, type(None) in args)
        else:
            kinds[name] = (hint, False)
    return kinds


def coerce(name: str, value: object, base: type, optional: bool) -> object:
    if value is None:
        if optional:
            return None
        raise ValueError(f"{name} may not be null")
    if base is bool:
        if isinstance(value, bool):
            return value
    elif base is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, base):
        return value
    raise ValueError(f"{name} must be {base.__name__}")
