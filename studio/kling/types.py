"""Typed values of the upstream contract: task status, task, video, and the one error type.

Reference: docs/upstream.md §6 (responses), §7 (state machine), §9 (errors).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation


class TaskStatus(enum.StrEnum):
    # §6.2: exact strings; note `succeed`, not "succeeded".
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEED = "succeed"
    FAILED = "failed"
    UNKNOWN = "unknown"  # any other string: still running, logged (§12.1)

    @classmethod
    def parse(cls, raw: object) -> TaskStatus:
        try:
            return cls(str(raw))
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_final(self) -> bool:
        return self in (TaskStatus.SUCCEED, TaskStatus.FAILED)


@dataclass(frozen=True)
class Video:
    id: str
    url: str
    duration: Decimal | None = None
    watermark_url: str = ""


@dataclass(frozen=True)
class Task:
    task_id: str
    status: TaskStatus
    raw_status: str = ""
    status_msg: str = ""
    external_task_id: str = ""
    videos: tuple[Video, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    final_unit_deduction: Decimal | None = None
    request_id: str = ""

    @property
    def video(self) -> Video | None:
        return self.videos[0] if self.videos else None


def parse_timestamp(value: object) -> datetime | None:
    """§6.2: Unix milliseconds; some gateways send seconds. Values below 1e11 are seconds."""
    if value in (None, ""):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if number < 1e11:
        number *= 1000
    try:
        return datetime.fromtimestamp(number / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):  # NaN, infinity, or beyond year 9999
        return None


def parse_decimal(value: object) -> Decimal | None:
    """A decimal from a JSON string or number; None for anything else, NaN or infinity."""
    if value in (None, "") or isinstance(value, bool | dict | list):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


@dataclass
class KlingError(Exception):
    """Any failed call to the upstream, in one shape.

    `retryable` says whether the same call may succeed later; `retry_after` is the
    server's `Retry-After` in seconds when it sent one; `ambiguous` marks a create whose
    outcome is unknown (timeout or 5xx after the body was sent, §11 / §12.6).
    """

    message: str
    http_status: int | None = None
    code: str = ""  # Kling int codes as strings ("1301"), Comet/new-api string codes as is
    retryable: bool = False
    retry_after: float | None = None
    ambiguous: bool = False
    request_id: str = ""
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def not_found(self) -> bool:
        """The upstream says there is no such task (§9.1 1203, HTTP 404, new-api `task_not_exist`).

        Right after a create this can be a gateway lag (§12.11), not a lost task.
        """
        return self.http_status == 404 or self.code in ("1203", "task_not_exist", "task_not_found")

    def __str__(self) -> str:
        where = f"HTTP {self.http_status}" if self.http_status else "no response"
        code = f", code {self.code}" if self.code else ""
        return f"{self.message} ({where}{code})"
