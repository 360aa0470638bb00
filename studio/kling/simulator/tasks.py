"""One simulated task: its clock-driven lifecycle and its JSON shape (docs/upstream.md §6.2, §7)."""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from .config import SimConfig

SUBMITTED, PROCESSING, SUCCEED, FAILED = "submitted", "processing", "succeed", "failed"
FINAL = frozenset({SUCCEED, FAILED})
STATUSES = (SUBMITTED, PROCESSING, SUCCEED, FAILED)

_sequence = itertools.count()
_sequence_lock = threading.Lock()


def new_task_id(now: float) -> str:
    """A snowflake-style id: milliseconds << 22 | sequence, 19 digits today (§6.2: 18–19)."""
    with _sequence_lock:
        sequence = next(_sequence) & 0x3FFFFF
    return str((int(now * 1000) << 22) | sequence)


@dataclass
class SimTask:
    task_id: str
    action: str  # "text2video" or "image2video"
    params: dict  # the create body, without image and image_tail
    created: float  # wall-clock seconds
    base_url: str  # where this task's video is served
    external_task_id: str = ""
    callback_url: str = ""
    outcome: str = SUCCEED  # the final status it will reach, or "stall"
    fail_msg: str = ""
    expire_at_once: bool = False  # `#expire`: the video URL is 403 from the start
    poll_flaky: bool = False  # `#poll-flaky`
    poll_no_task: bool = False  # `#poll-no-task`
    sound: bool = False  # made with audio: asked for, or left to the model default
    poll_limited: bool = False  # `#poll-rate-1302`
    status: str = SUBMITTED
    status_msg: str = ""
    updated: float = 0.0
    finished: float | None = None  # when it became final
    queries: int = 0
    video_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # image2video: the decoded start and end frames (None for a URL), until rendered
    image: bytes | None = field(default=None, repr=False)
    image_tail: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.updated = self.updated or self.created

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    @property
    def prompt(self) -> str:
        return str(self.params.get("prompt") or "")

    @property
    def aspect_ratio(self) -> str:
        return str(self.params.get("aspect_ratio") or "16:9")  # §3: Kling's default

    @property
    def duration(self) -> str:
        return str(self.params.get("duration") or "5")

    @property
    def video_url(self) -> str:
        return f"{self.base_url}/_sim/videos/{self.task_id}.mp4"

    def step(self, now: float, config: SimConfig) -> bool:
        """Make the next transition that is due by `now`; True when the status changed."""
        if self.status == SUBMITTED and now >= self.created + config.processing_after:
            self._move(PROCESSING, self.created + config.processing_after)
            return True
        due = self.created + max(config.finish_after, config.processing_after)
        if self.status == PROCESSING and self.outcome in FINAL and now >= due:
            self._move(self.outcome, due)
            self.status_msg = self.fail_msg
            self.finished = self.updated
            return True
        return False

    def _move(self, status: str, at: float) -> None:
        # Stamp the scheduled time, not the time someone looked: updated_at stays monotonic
        # and independent of when the ticker or a query noticed.
        self.status = status
        self.updated = max(self.updated, at)

    def video_expired(self, now: float, ttl: float) -> bool:
        return self.expire_at_once or (self.finished is not None and now - self.finished > ttl)

    def to_json(self, seconds: bool = False, brief: bool = False, empty: str = "empty") -> dict:
        """The task object: `brief` is the create answer (§6.3), else query and callback.

        `empty` is how fields with nothing in them are written: "empty" ("" and {}, as
        CometAPI's examples show), "null", or "missing" (left out); §6.2 allows all three.
        """
        data: dict = {"task_id": self.task_id, "task_status": self.status}
        external = {"external_task_id": self.external_task_id} if self.external_task_id else None
        _put(data, "task_info", external, {}, {"external_task_id": None}, empty)
        data["created_at"] = _stamp(self.created, seconds)
        data["updated_at"] = _stamp(self.updated, seconds)
        if brief:
            return data
        watermark = bool((self.params.get("watermark_info") or {}).get("enabled"))
        _put(data, "task_status_msg", self.status_msg or None, "", None, empty)
        result = None
        if self.status == SUCCEED:
            seconds_long = f"{float(self.duration):.1f}"  # §6.2: a string, e.g. "5.0"
            video = {"id": self.video_id, "url": self.video_url, "duration": seconds_long}
            if watermark:
                video["watermark_url"] = f"{self.video_url}?watermark=1"
            result = {"videos": [video]}
        _put(data, "task_result", result, {}, None, empty)
        data["watermark_info"] = {"enabled": watermark}
        if self.is_final:
            data["final_unit_deduction"] = self.units() if self.status == SUCCEED else "0"
        return data

    def units(self) -> str:
        # Made-up billing: 1 unit per 5 s, double in pro, double again with audio. Only the
        # shape (a string) and which request costs more matter.
        value = Decimal(self.duration) / 5 * (2 if self.params.get("mode") == "pro" else 1)
        value *= 2 if self.sound else 1
        return format(value.normalize(), "f")


def _put(data: dict, key: str, value: object, blank: object, null: object, empty: str) -> None:
    """data[key] = value; when there is no value, the blank, the null form or nothing."""
    if value is not None:
        data[key] = value
    elif empty == "empty":
        data[key] = blank
    elif empty == "null":
        data[key] = null


def _stamp(moment: float, seconds: bool) -> int:
    return int(moment) if seconds else int(moment * 1000)
