"""The generation pipeline: create a row, submit it, store its video (polling: poller.py).

Each step loads the row, claims it with a conditional UPDATE (docs/reliability.md R16), talks to
the upstream outside any transaction (docs/reliability.md R15) and records the outcome through the
model's state machine. A step that dies half way leaves the row with a lease that runs out; the
sweep or the watchdog then repeats the step. The only paid call, the create, is guarded by
`submit_uncertain`: it is set before the body is sent and cleared only when the answer
is known, so any later attempt first looks the task up by its external_task_id (docs/reliability.md
R19-R21).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import random
import uuid
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from studio.generations import vitals
from studio.generations.models import (
    IMAGE_REFERENCE,
    Generation,
    GenerationEvent,
    InputImage,
    Kind,
    Lease,
    Status,
)
from studio.generations.signals import generation_creating
from studio.kling import errors
from studio.kling.capabilities import (
    Shape,
    build_body,
    build_image_body,
    image_problems,
    ordered_body,
    ordered_image_body,
    problems,
)
from studio.kling.client import KlingClient
from studio.kling.types import KlingError, Task

if TYPE_CHECKING:
    from studio.generations.media import DownloadError

logger = logging.getLogger(__name__)

# Leases, in seconds: each outlives the longest run of its step, so a lease only runs
# out when the worker holding it died (django-q2 retry is 300 s, timeout 120 s).
SUBMIT_LEASE = 120  # one create and one lookup, each at most connect 5 + write 10 + read 30
STORE_LEASE = 20 * 60  # a download may take up to 15 min (docs/reliability.md R31)
# A queued row that the on-commit submit task has not taken by then is submitted by the
# sweep (the task was lost: a crash between commit and enqueue, or the Redis broker).
SUBMIT_GRACE = 30
SUBMIT_RETRY_MAX = 300  # docs/reliability.md R45: backoff cap for creates
SWEEP_LEASE_NAME = "sweep"


def client() -> KlingClient:
    """The upstream client, from settings. The only reader of COMETAPI_*."""
    key = settings.COMETAPI_KEY
    if not key and settings.SIMULATOR_MODE:
        key = "sk-simulator"  # the simulator takes any `sk-` key
    return KlingClient(
        settings.COMETAPI_BASE_URL,
        key,
        timeout=httpx.Timeout(
            connect=5.0, read=settings.UPSTREAM_READ_TIMEOUT, write=10.0, pool=5.0
        ),
        max_connections=max(settings.POLL_CONCURRENCY, 4),
    )


def request_shape() -> Shape:
    """The request shape every body the studio makes is held to, from settings: CometAPI's
    documented one unless STUDIO_KLING_V3_ALL_DURATIONS widens kling-v3's durations."""
    return Shape(settings.PROMPT_LIMITS, settings.STUDIO_KLING_V3_ALL_DURATIONS)


# ---------------------------------------------------------------------------- create


def create_generation(
    owner,
    params: dict,
    *,
    client_request_id: uuid.UUID | None = None,
    prompt_version=None,
    presets: list[dict] | None = None,
    batch=None,
    shot=None,
    continued_from: Generation | None = None,
    continued_at: float | None = None,
) -> Generation:
    """Save a queued generation and enqueue its submit once the row is committed.

    `params` are request-body shaped and already validated by the form; with
    `kind="image2video"`, `image` and `image_tail` are InputImages (or their ids), and
    `continued_from`/`continued_at` name the video this shot continues. The same
    (owner, client_request_id) twice gives the first row back: a double click is one job.
    `prompt_version`, `presets` (records of the applied presets) and `batch` say where
    the job came from (studio/library); `shot`, when given, makes it that shot's next
    take (run again, remix), else it starts a shot of its own. Raises CreateRefused
    (signals.py) when a receiver of generation_creating, such as the budget guard,
    refuses it: nothing is saved.
    """
    if client_request_id is not None:
        existing = Generation.objects.filter(
            owner=owner, client_request_id=client_request_id
        ).first()
        if existing is not None:
            return existing
    generation = _queued_row(
        owner,
        params,
        client_request_id=client_request_id,
        prompt_version=prompt_version,
        presets=list(presets or []),
        batch=batch,
        shot=shot,
        continued_from=continued_from,
        continued_at=continued_at,
    )
    try:
        _save_queued(generation)
    except IntegrityError:
        if client_request_id is None:
            raise
        # The other click won the race for the unique (owner, client_request_id).
        return Generation.objects.get(owner=owner, client_request_id=client_request_id)
    return generation


def _queued_row(owner, params: dict, **links) -> Generation:
    """An unsaved queued row for `params`, checked against the contract, with the body to
    send and its own external_task_id; `links` are the fields saying where it came from.
    Raises ValueError on a parameter the contract refuses."""
    # Empty optional values mean "not given" (Generation.params() keeps mode "" for models
    # without a std/pro split; a form may give cfg_scale None).
    params = {k: v for k, v in params.items() if k == "prompt" or v not in (None, "")}
    if params.pop("kind", Kind.TEXT) == Kind.IMAGE:
        return _queued_image_row(owner, params, **links)
    links.pop("continued_from", None)
    links.pop("continued_at", None)
    refused = problems(params, request_shape())
    if refused:
        raise ValueError("; ".join(refused.values()))
    external_task_id = f"ps-{uuid.uuid4().hex}"
    body = build_body(params)
    # docs/reliability.md R19: saved before anything is sent
    body["external_task_id"] = external_task_id
    now = timezone.now()
    return Generation(
        owner=owner,
        prompt=params["prompt"],
        negative_prompt=params.get("negative_prompt") or "",
        model_name=body["model_name"],
        mode=params.get("mode") or "",
        duration=body["duration"],
        aspect_ratio=body["aspect_ratio"],
        cfg_scale=params.get("cfg_scale"),
        camera_control=params.get("camera_control") or None,
        request_body=body,
        external_task_id=external_task_id,
        next_poll_at=now + timedelta(seconds=SUBMIT_GRACE),
        created_at=now,
        **links,
    )


def _queued_image_row(owner, params: dict, **links) -> Generation:
    """As _queued_row, for image2video (docs/upstream.md §15.1): the body names the
    pictures by reference (IMAGE_REFERENCE) and gets their bytes only when it is sent."""
    pictures = {name: _picture(params.get(name)) for name in ("image", "image_tail")}
    if pictures["image"] is None:
        raise ValueError("Choose a start image.")
    named = {k: (v.reference if v else None) for k, v in pictures.items()}
    refused = image_problems({**params, **named}, request_shape())
    if refused:
        raise ValueError("; ".join(refused.values()))
    external_task_id = f"ps-{uuid.uuid4().hex}"
    body = build_image_body(params, named["image"], named["image_tail"] or "")
    body["external_task_id"] = external_task_id  # R19: saved before anything is sent
    now = timezone.now()
    return Generation(
        owner=owner,
        kind=Kind.IMAGE,
        prompt=params.get("prompt") or "",
        negative_prompt=params.get("negative_prompt") or "",
        model_name=body["model_name"],
        mode=body.get("mode", ""),
        duration=body["duration"],
        aspect_ratio="",
        cfg_scale=body.get("cfg_scale"),
        image=pictures["image"],
        image_tail=pictures["image_tail"],
        request_body=body,
        external_task_id=external_task_id,
        next_poll_at=now + timedelta(seconds=SUBMIT_GRACE),
        created_at=now,
        **links,
    )


def _picture(value: object) -> InputImage | None:
    if value is None or isinstance(value, InputImage):
        return value
    try:
        return InputImage.objects.get(pk=value)
    except (InputImage.DoesNotExist, ValueError, TypeError):
        raise ValueError("The picture is gone; choose it again.") from None


def _save_queued(generation: Generation) -> None:
    with transaction.atomic():
        if generation.shot_id is not None:  # rolled back with the row if it is refused
            generation.take = generation.shot.next_take()
        generation.save(force_insert=True)
        # docs/reliability.md R22: the budget check and the reservation in this same transaction.
        # `send`, not send_robust: a receiver's CreateRefused rolls the row back and reaches the
        # caller.
        generation_creating.send(sender=Generation, generation=generation)
        GenerationEvent.objects.create(
            generation=generation, status=Status.QUEUED, at=generation.created_at, note="Created."
        )
        pk = str(generation.pk)
        transaction.on_commit(lambda: enqueue("submit", pk))  # docs/reliability.md R23


def run_again(generation: Generation, user) -> Generation:
    """A new generation with the same parameters (and a new external_task_id), filed
    under the same prompt version and presets: the next take of the same shot."""
    return create_generation(
        user,
        generation.params(),
        prompt_version=generation.prompt_version,
        presets=generation.presets,
        shot=generation.shot,
        continued_from=generation.continued_from,
        continued_at=generation.continued_at,
    )


def enqueue(task: str, *args: str) -> None:
    """Hand a task to django-q2. Arguments are only generation ids (docs/reliability.md R1)."""
    from django_q.tasks import async_task

    async_task(f"studio.generations.tasks.{task}", *args, task_name=f"{task} {' '.join(args)}")


def kick_sweep() -> None:
    """Start the sweep chain unless a sweep is running (it will see due rows itself)."""
    if not Lease.is_held(SWEEP_LEASE_NAME):
        enqueue("sweep")


# ---------------------------------------------------------------------------- callbacks


def callback_token(pk: uuid.UUID | str) -> str:
    """The webhook token of one generation: HMAC-SHA256(SECRET_KEY, "kling-callback:<pk>")."""
    message = f"kling-callback:{pk}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def callback_url(generation: Generation) -> str:
    """Where the upstream should POST status changes; "" when STUDIO_PUBLIC_URL is unset."""
    if not settings.STUDIO_PUBLIC_URL:
        return ""
    path = reverse("kling-callback", args=[generation.pk, callback_token(generation.pk)])
    return settings.STUDIO_PUBLIC_URL + path


# ---------------------------------------------------------------------------- submit


def submit(generation_id: uuid.UUID | str, api: KlingClient | None = None) -> bool:
    """Send one queued generation upstream, if no other worker is at it. True if it acted.

    The first attempt goes at once; a retry only when its backoff has run out.
    """
    now = timezone.now()
    generation = Generation.objects.filter(pk=generation_id, status=Status.QUEUED).first()
    if generation is None:
        return False
    backing_off = generation.next_poll_at is not None and generation.next_poll_at > now
    if generation.submit_attempts and backing_off:
        return False
    # The attempt count in the claim: a worker that read the row before another one's
    # attempt finished cannot claim it and send again early.
    if not generation.claim(SUBMIT_LEASE, submit_attempts=generation.submit_attempts):
        return False
    if api is not None:
        submit_claimed(generation, api)
        return True
    with client() as own:
        submit_claimed(generation, own)
    return True


def submit_claimed(generation: Generation, api: KlingClient) -> None:
    """One submit attempt on a row this worker holds the lease on."""
    if generation.submit_uncertain and _reconciled(generation, api):
        return
    if generation.submit_attempts >= settings.SUBMIT_MAX_ATTEMPTS:
        message = errors.sentence(
            "submit_attempts",
            attempts=generation.submit_attempts,
            last_error=generation.last_error or "unknown",
        )
        generation.mark_failed(message, code="submit_attempts")
        return
    # Record the intent before sending (docs/reliability.md R19): from here until the answer is
    # saved, any other attempt must reconcile first.
    # The lease is ours and the claim checked the count, so a plain value is safe here.
    generation.touch(submit_attempts=generation.submit_attempts + 1, submit_uncertain=True)
    try:
        body = _create_body(generation)
    except OSError as error:  # a picture that cannot be read will not come back
        logger.warning("Generation %s: its picture cannot be read: %s", generation.pk, error)
        generation.mark_failed(errors.sentence("image_missing"), code="image_missing", error=error)
        return
    try:
        task = api.create(generation.kind, body)
    except KlingError as error:
        vitals.tally(vitals.CREATE, Counter({vitals.error_code(error): 1}))
        _create_failed(generation, error)
        return
    vitals.tally(vitals.CREATE, Counter({"": 1}))
    _accepted(generation, task, note="Accepted upstream.")


def _reconciled(generation: Generation, api: KlingClient) -> bool:
    """A create may have landed (ambiguous answer, or a worker died mid-call): look for it
    by external_task_id before sending anything (docs/reliability.md R20). True if this attempt
    ends here: the task was found and adopted, the lookup failed and is retried later, or
    the lookups settled nothing too often and the row needs attention instead of another
    create on a guess (R57)."""
    try:
        found = api.find_by_external_id(generation.external_task_id, generation.kind)
    except KlingError as error:
        vitals.tally(vitals.LOOKUP, Counter({vitals.error_code(error): 1}))
        logger.warning(
            "Generation %s: looking up %s failed: %s",
            generation.pk,
            generation.external_task_id,
            error,
        )
        failures = generation.lookup_failures + 1
        generation.touch(lookup_failures=failures)
        if failures >= settings.STUDIO_RECONCILE_LOOKUP_FAILURES:
            _needs_attention(generation, errors.UNRECONCILED_FAILED, failures, error)
        else:
            _submit_later(generation, error, uncertain=True)
        return True
    vitals.tally(vitals.LOOKUP, Counter({"": 1}))
    if found is None:
        empty = generation.lookup_attempts + 1
        generation.touch(lookup_attempts=empty)
        if empty < settings.STUDIO_RECONCILE_LOOKUPS:
            return False  # sent again with the same id, which a duplicate refusal guards
        _needs_attention(generation, errors.UNRECONCILED_EMPTY, empty, None)
        return True
    logger.info(
        "Generation %s: found task %s by external_task_id after an uncertain submit",
        generation.pk,
        found.task_id,
    )
    _accepted(generation, found, note="Found upstream by its external_task_id.")
    return True


def _needs_attention(
    generation: Generation, template: str, lookups: int, error: KlingError | None
) -> None:
    last_error = str(error) if error else generation.last_error or "no answer"
    detail = template.format(lookups=lookups, last_error=last_error[:300].rstrip("."))
    message = errors.sentence("unreconciled", detail=detail)
    logger.warning("Generation %s needs attention: %s", generation.pk, detail)
    generation.mark_needs_attention(message, code="unreconciled", error=error)


def _create_body(generation: Generation) -> dict:
    body = dict(generation.request_body)
    body["external_task_id"] = generation.external_task_id
    url = callback_url(generation)
    if url:
        body["callback_url"] = url  # added here, never stored: it carries the token
    if generation.kind != Kind.IMAGE:
        return ordered_body(body)
    for name in ("image", "image_tail"):
        if str(body.get(name, "")).startswith(IMAGE_REFERENCE):
            body[name] = _base64(getattr(generation, name))
    return ordered_image_body(body)


def _base64(picture: InputImage | None) -> str:
    """§15.1: raw base64 of the stored picture, no data: prefix. OSError when it is gone."""
    if picture is None or not picture.file:
        raise FileNotFoundError("The picture of this job is gone.")
    with picture.file.open("rb") as handle:
        return base64.b64encode(handle.read()).decode("ascii")


def _create_failed(generation: Generation, error: KlingError) -> None:
    """A create that raised: look it up later, retry later, or fail the row for good."""
    if error.ambiguous:
        logger.warning(
            "Generation %s: submit outcome unknown (%s); will look it up by %s",
            generation.pk,
            error,
            generation.external_task_id,
        )
        _submit_later(generation, error, uncertain=True)
    elif error.retryable:
        logger.info("Generation %s: submit refused for now: %s", generation.pk, error)
        _submit_later(generation, error, uncertain=False)
    elif _duplicate_external_id(error):
        # Our id is already taken upstream: an earlier create landed. Find it.
        _submit_later(generation, error, uncertain=True, seconds=0)
    else:
        logger.info("Generation %s: submit rejected: %s", generation.pk, error)
        generation.mark_failed(errors.explain(error), code=error.code, error=error)


def _submit_later(
    generation: Generation,
    error: KlingError,
    *,
    uncertain: bool,
    seconds: float | None = None,
) -> None:
    if seconds is None:
        ceiling = backoff(generation.submit_attempts, settings.POLL_MIN_SECONDS, SUBMIT_RETRY_MAX)
        # docs/reliability.md R45: Retry-After is a floor, and jitter on top of it keeps rows
        # refused together (a 429 or 503 for everyone) from all coming back in the same instant.
        half = ceiling / 2
        seconds = max(error.retry_after or 0, half) + random.uniform(0, half)
    generation.touch(
        submit_uncertain=uncertain,
        last_error=str(error)[:1000],
        error_code=error.code[:40],
        next_poll_at=timezone.now() + timedelta(seconds=seconds),
        lease_until=None,
    )


def _accepted(generation: Generation, task: Task, note: str) -> None:
    if generation.mark_submitted(task, note=note):
        kick_sweep()


def _duplicate_external_id(error: KlingError) -> bool:
    return error.code in ("1201", "1200") and "external_task_id" in error.message.lower()


def backoff(attempts: int, base: float, cap: float) -> float:
    """base, 2·base, 4·base … capped: the delay before the next try after `attempts`."""
    return min(cap, base * 2 ** max(0, min(attempts, 30)))


# ---------------------------------------------------------------------------- store


def store(generation_id: uuid.UUID | str) -> bool:
    """Copy a finished video into our storage, then mark the row succeeded. True if it acted."""
    from studio.generations import media

    generation = Generation.objects.filter(pk=generation_id, status=Status.STORING).first()
    if generation is None or not generation.claim(STORE_LEASE):
        return False
    attempt = generation.download_attempts + 1
    generation.touch(download_attempts=attempt)
    try:
        stored = media.store_video(generation, generation.result_url)
    except media.LinkExpired as error:
        logger.info("Generation %s: video link expired: %s", generation.pk, error)
        generation.mark_failed(errors.sentence("expired"), code="expired")
        return True
    except media.DownloadError as error:
        _download_failed(generation, error, attempt)
        return True
    moved = generation.mark_succeeded(stored)
    if not moved and not Generation.objects.filter(pk=generation.pk, video=stored.video).exists():
        # The row moved on without us (failed meanwhile): leave nothing behind. When another
        # worker stored it first, the row points at these same names: the files stay.
        stored.delete()
    return True


def _download_failed(generation: Generation, error: DownloadError, attempt: int) -> None:
    """Try the download again later, or fail the row once retrying cannot help."""
    retry = error.retryable and attempt < settings.DOWNLOAD_MAX_ATTEMPTS
    logger.warning(
        "Generation %s: download attempt %s failed (%s): %s",
        generation.pk,
        attempt,
        "will retry" if retry else "final",
        error,
    )
    if retry:
        seconds = backoff(attempt - 1, settings.DOWNLOAD_RETRY_SECONDS, 15 * 60)
        generation.touch(
            last_error=str(error)[:1000],
            next_poll_at=timezone.now() + timedelta(seconds=seconds),
            lease_until=None,
        )
        kick_sweep()  # it hands the retry out when due (or the watchdog, if later)
    elif error.retryable:
        message = errors.sentence("download_attempts", attempts=attempt, detail=error)
        generation.mark_failed(message, code="download_attempts")
    else:
        generation.mark_failed(errors.sentence("download", detail=error), code="download")
