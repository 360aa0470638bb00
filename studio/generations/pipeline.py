"""The generation pipeline: create a row, submit it, poll it, store its video.

Each step loads the row, claims it with a conditional UPDATE (R16), talks to the upstream
outside any transaction (R15) and records the outcome through the model's state machine.
A step that dies half way leaves the row with a lease that runs out; the sweep or the
watchdog then repeats the step. The only paid call, the create, is guarded by
`submit_uncertain`: it is set before the body is sent and cleared only when the answer
is known, so any later attempt first looks the task up by its external_task_id (R19-R21).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import F, Min, Q
from django.urls import reverse
from django.utils import timezone

from studio.generations.models import FINAL, Generation, GenerationEvent, Lease, Status
from studio.kling.capabilities import build_body, problems
from studio.kling.client import KlingClient
from studio.kling.types import KlingError, Task, TaskStatus

logger = logging.getLogger(__name__)

# Leases, in seconds: each outlives the longest run of its step, so a lease only runs
# out when the worker holding it died (django-q2 retry is 300 s, timeout 120 s).
SUBMIT_LEASE = 120  # one create and one lookup, each at most connect 5 + write 10 + read 30
POLL_LEASE = 120  # a sweep pass: its budget plus one last read timeout (30 s)
SWEEP_PASS_SECONDS = 60  # upstream answers are awaited at most this long per pass
STORE_LEASE = 20 * 60  # a download may take up to 15 min (R31)
# A queued row that the on-commit submit task has not taken by then is submitted by the
# sweep (the task was lost: a crash between commit and enqueue, or the Redis broker).
SUBMIT_GRACE = 30
STORE_RETRY_SECONDS = 30  # doubled per failed download
SUBMIT_RETRY_MAX = 300  # R45: backoff cap for creates
WATCHDOG_SECONDS = 60  # how often the reconcile schedule runs (migration 0003)
SWEPT = (Status.QUEUED, Status.SUBMITTED, Status.PROCESSING)
POLLED = (Status.SUBMITTED, Status.PROCESSING)
SWEEP_LEASE_NAME = "sweep"


def client() -> KlingClient:
    """The upstream client, from settings. The only reader of COMETAPI_*."""
    key = settings.COMETAPI_KEY
    if not key and settings.SIMULATOR_MODE:
        key = "sk-simulator"  # the simulator takes any `sk-` key
    return KlingClient(
        settings.COMETAPI_BASE_URL, key, max_connections=max(settings.POLL_CONCURRENCY, 4)
    )


# ---------------------------------------------------------------------------- create


def create_generation(
    owner, params: dict, *, client_request_id: uuid.UUID | None = None
) -> Generation:
    """Save a queued generation and enqueue its submit once the row is committed.

    `params` are request-body shaped and already validated by the form. The same
    (owner, client_request_id) twice gives the first row back: a double click is one job.
    """
    if client_request_id is not None:
        existing = Generation.objects.filter(
            owner=owner, client_request_id=client_request_id
        ).first()
        if existing is not None:
            return existing
    # Empty optional values mean "not given" (Generation.params() keeps mode "" for models
    # without a std/pro split; a form may give cfg_scale None).
    params = {k: v for k, v in params.items() if k == "prompt" or v not in (None, "")}
    errors = problems(params, settings.PROMPT_LIMITS)
    if errors:
        raise ValueError("; ".join(errors.values()))
    external_task_id = f"ps-{uuid.uuid4().hex}"
    body = build_body(params)
    body["external_task_id"] = external_task_id  # R19: saved before anything is sent
    now = timezone.now()
    generation = Generation(
        owner=owner,
        client_request_id=client_request_id,
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
    )
    try:
        with transaction.atomic():
            generation.save(force_insert=True)
            GenerationEvent.objects.create(
                generation=generation, status=Status.QUEUED, at=now, note="Created."
            )
            pk = str(generation.pk)
            transaction.on_commit(lambda: enqueue("submit", pk))  # R23
    except IntegrityError:
        if client_request_id is None:
            raise
        # The other click won the race for the unique (owner, client_request_id).
        return Generation.objects.get(owner=owner, client_request_id=client_request_id)
    return generation


def run_again(generation: Generation, user) -> Generation:
    """A new generation with the same parameters (and a new external_task_id)."""
    return create_generation(user, generation.params())


def enqueue(task: str, *args: str) -> None:
    """Hand a task to django-q2. Arguments are only generation ids (R1)."""
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
        _submit_claimed(generation, api)
        return True
    with client() as own:
        _submit_claimed(generation, own)
    return True


def _submit_claimed(generation: Generation, api: KlingClient) -> None:
    """One submit attempt on a row this worker holds the lease on."""
    if generation.submit_uncertain:
        # A create may have landed (ambiguous answer, or a worker died mid-call):
        # look for it before sending anything (R20).
        try:
            found = api.find_by_external_id(generation.external_task_id)
        except KlingError as error:
            logger.warning(
                "Generation %s: looking up %s failed: %s",
                generation.pk,
                generation.external_task_id,
                error,
            )
            _submit_later(generation, error, uncertain=True)
            return
        if found is not None:
            logger.info(
                "Generation %s: found task %s by external_task_id after an uncertain submit",
                generation.pk,
                found.task_id,
            )
            _accepted(generation, found, note="Found upstream by its external_task_id.")
            return
    if generation.submit_attempts >= settings.SUBMIT_MAX_ATTEMPTS:
        _fail(
            generation,
            f"The studio could not submit this video after {generation.submit_attempts} "
            f"attempts. Last error: {generation.last_error or 'unknown'}",
            code="submit_attempts",
        )
        return
    # Record the intent before sending (R19): from here until the answer is saved, any
    # other attempt must reconcile first.
    # The lease is ours and the claim checked the count, so a plain value is safe here.
    generation.touch(submit_attempts=generation.submit_attempts + 1, submit_uncertain=True)
    body = dict(generation.request_body)
    body["external_task_id"] = generation.external_task_id
    url = callback_url(generation)
    if url:
        body["callback_url"] = url  # added here, never stored: it carries the token
    try:
        task = api.create_text2video(body)
    except KlingError as error:
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
            _fail(generation, submit_failure_message(error), code=error.code, error=error)
        return
    _accepted(generation, task, note="Accepted upstream.")


def _submit_later(
    generation: Generation,
    error: KlingError,
    *,
    uncertain: bool,
    seconds: float | None = None,
) -> None:
    if seconds is None:
        seconds = backoff(generation.submit_attempts, settings.POLL_MIN_SECONDS, SUBMIT_RETRY_MAX)
        seconds = max(seconds, error.retry_after or 0)
    generation.touch(
        submit_uncertain=uncertain,
        last_error=str(error)[:1000],
        error_code=error.code[:40],
        next_poll_at=timezone.now() + timedelta(seconds=seconds),
        lease_until=None,
    )


def _accepted(generation: Generation, task: Task, note: str) -> None:
    now = timezone.now()
    moved = generation.move(
        Status.SUBMITTED,
        note=note,
        task_id=task.task_id,
        upstream_status=task.raw_status[:32],
        status_msg=task.status_msg,
        upstream_created_at=task.created_at,
        upstream_updated_at=task.updated_at,
        submitted_at=now,
        submit_uncertain=False,
        last_error="",
        error_code="",
        poll_attempts=0,
        next_poll_at=now + timedelta(seconds=settings.POLL_MIN_SECONDS),
        lease_until=None,
    )
    if moved:
        kick_sweep()


def _duplicate_external_id(error: KlingError) -> bool:
    return error.code in ("1201", "1200") and "external_task_id" in error.message.lower()


def submit_failure_message(error: KlingError) -> str:
    """A sentence for the person who asked for the video (kling-api.md §9)."""
    detail = error.message.strip().rstrip(".")
    by_code = {
        "1300": "The request was blocked by the platform policy. Change the prompt and try again.",
        "1301": "The prompt was blocked by the content-safety policy. "
        "Change the prompt and try again.",
        "1101": "The API account is in arrears; an admin needs to top it up.",
        "1102": "The API account has no credit left; an admin needs to buy more.",
        "1103": "The API account may not use this model.",
        "1203": f"The model {detail!r} is not available through the API.",
        "1304": "The API refused this server's address (IP whitelist).",
    }
    if error.code in by_code:
        return by_code[error.code]
    if error.code in ("1000", "1001", "1002", "1003", "1004") or error.http_status == 401:
        return "The studio's API key was refused; an admin needs to check it."
    if error.code == "redirect":
        return "The API address is misconfigured; an admin needs to check it."
    if error.code in ("1200", "1201") or error.http_status == 400:
        return f"The request was rejected: {detail}."
    return f"The API refused the request: {detail}."


def _fail(
    generation: Generation, message: str, *, code: str = "", error: KlingError | None = None
) -> bool:
    return generation.move(
        Status.FAILED,
        note=message,
        status_msg=message,
        error_code=code[:40],
        last_error=str(error)[:1000] if error else message,
        submit_uncertain=False,
    )


def backoff(attempts: int, base: float, cap: float) -> float:
    """base, 2·base, 4·base … capped: the delay before the next try after `attempts`."""
    return min(cap, base * 2 ** max(0, min(attempts, 30)))


# ---------------------------------------------------------------------------- poll


@dataclass
class SweepResult:
    claimed: int = 0
    polled: int = 0
    submitted: int = 0
    moved: int = 0
    errors: int = 0
    store: list[str] = field(default_factory=list)


def claim_due(now: datetime, limit: int) -> tuple[list[Generation], datetime]:
    """Lease up to `limit` due rows in one UPDATE and read them back (R16).

    The lease's expiry doubles as the claim's identity: random microseconds make it
    ours alone, so the read-back returns exactly the rows this UPDATE took."""
    until = now + timedelta(seconds=POLL_LEASE, microseconds=secrets.randbelow(999_999) + 1)
    due = Generation.objects.due(now).filter(status__in=SWEPT).order_by("next_poll_at")
    ids = list(due.values_list("pk", flat=True)[:limit])
    if not ids:
        return [], until
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    Generation.objects.filter(free, pk__in=ids, status__in=SWEPT).update(lease_until=until)
    rows = Generation.objects.filter(pk__in=ids, lease_until=until).order_by("next_poll_at")
    return list(rows), until


def sweep_once(
    api: KlingClient, pool: ThreadPoolExecutor, *, now: datetime | None = None
) -> SweepResult:
    """One pass over due rows: submit queued ones, poll the others, write what changed.

    Upstream calls run in `pool`; the answers are written on this thread as they arrive,
    unchanged rows in one UPDATE per distinct outcome, so the queries do not grow with
    the number of rows (bulk reads; writes only for rows that changed).
    """
    now = now or timezone.now()
    rows, lease = claim_due(now, settings.POLL_BATCH)
    result = SweepResult(claimed=len(rows))
    if not rows:
        return result
    queued = [row for row in rows if row.status == Status.QUEUED]
    polled = [row for row in rows if row.status != Status.QUEUED and row.task_id]
    orphans = [row for row in rows if row.status != Status.QUEUED and not row.task_id]
    for row in orphans:  # cannot happen through move(); never poll "" forever
        _fail(row, "The upstream task id was lost.", code="no_task_id")
    submits = [pool.submit(_in_thread, _submit_claimed, row, api) for row in queued]
    futures = {pool.submit(_get, api, row.task_id): row for row in polled}
    unchanged: dict[tuple, list] = defaultdict(list)
    pending = dict(futures)
    try:
        for future in as_completed(futures, timeout=SWEEP_PASS_SECONDS):
            row = pending.pop(future)
            result.polled += 1
            try:
                key = apply_poll(row, future.result(), now, result)
            except Exception:  # one bad row is logged and pushed back, never stops the sweep
                logger.exception("Generation %s: applying the poll failed", row.pk)
                key = (settings.POLL_MAX_SECONDS, row.stalled, "Internal error while polling.")
            if key is not None:
                unchanged[key].append(row.pk)
    except TimeoutError:
        # The upstream is hanging: stop here so the task ends well inside the cluster's
        # timeout. Rows not asked yet are given back, due as they were.
        for future in pending:
            future.cancel()
        left = [row.pk for row in pending.values()]
        logger.warning("Sweep pass over its time budget; %s rows left for the next", len(left))
        Generation.objects.filter(pk__in=left, lease_until=lease).update(lease_until=None)
    for (seconds, stalled, error), ids in unchanged.items():
        Generation.objects.filter(pk__in=ids, status__in=POLLED, lease_until=lease).update(
            next_poll_at=now + timedelta(seconds=seconds),
            poll_attempts=F("poll_attempts") + 1,
            stalled=stalled,
            last_error=error,
            lease_until=None,
            updated_at=now,
        )
    for future in submits:
        try:
            future.result()
            result.submitted += 1
        except Exception:
            logger.exception("A submit in the sweep failed")
            result.errors += 1
    for pk in result.store:
        enqueue("store", pk)
    return result


def _get(api: KlingClient, task_id: str) -> Task | KlingError:
    try:
        return api.get_task(task_id)
    except KlingError as error:
        return error


def _in_thread(step: Callable, *args) -> None:
    """Run a step that writes to the database on a pool thread, then close that thread's
    connection (Django opens one per thread and would leave it open)."""
    try:
        step(*args)
    except Exception:
        logger.exception("Step %s failed", getattr(step, "__name__", step))
        raise
    finally:
        connections.close_all()


def apply_poll(
    row: Generation, outcome: Task | KlingError, now: datetime, result: SweepResult
) -> tuple | None:
    """Record one poll answer. Returns the bookkeeping key for an unchanged row (written in
    bulk by the caller), or None when this function wrote the row itself."""
    started = row.submitted_at or row.created_at
    age = now - started
    if isinstance(outcome, KlingError):
        result.errors += 1
        logger.info("Generation %s: poll failed: %s", row.pk, outcome)
        if age > settings.GIVE_UP_AFTER:
            _give_up(row)
            return None
        seconds = max(_poll_interval(row, age), outcome.retry_after or 0)
        return (seconds, row.stalled or age > settings.STALL_AFTER, str(outcome)[:1000])
    task = outcome
    if task.status is TaskStatus.UNKNOWN:
        logger.warning(
            "Generation %s: unknown upstream status %r, counted as still running",
            row.pk,
            task.raw_status,
        )
    facts = {
        "upstream_status": task.raw_status[:32],
        "status_msg": task.status_msg,
        "upstream_updated_at": task.updated_at or row.upstream_updated_at,
        "upstream_created_at": task.created_at or row.upstream_created_at,
    }
    if task.final_unit_deduction is not None:
        facts["units_charged"] = task.final_unit_deduction
    if task.status is TaskStatus.SUCCEED and task.video and task.video.url:
        if row.move(
            Status.STORING,
            note="Finished upstream; saving the video.",
            result_url=task.video.url,
            next_poll_at=now + timedelta(seconds=STORE_LEASE),
            lease_until=None,
            last_error="",
            **facts,
        ):
            result.moved += 1
            result.store.append(str(row.pk))
        return None
    if task.status is TaskStatus.FAILED:
        message = task.status_msg or "The video generation failed upstream (no reason given)."
        if row.move(Status.FAILED, note=message, **{**facts, "status_msg": message}):
            result.moved += 1
        return None
    if task.status is TaskStatus.SUCCEED:
        logger.warning("Generation %s: succeed without a video URL; polling on", row.pk)
    if age > settings.GIVE_UP_AFTER:
        _give_up(row, facts)
        return None
    stalled = age > settings.STALL_AFTER
    seconds = _poll_interval(row, age)
    if task.status is TaskStatus.PROCESSING and row.status == Status.SUBMITTED:
        if row.move(
            Status.PROCESSING,
            note="Processing upstream.",
            poll_attempts=0,
            next_poll_at=now + timedelta(seconds=settings.POLL_MIN_SECONDS),
            lease_until=None,
            stalled=stalled,
            last_error="",
            **facts,
        ):
            result.moved += 1
        return None
    # Timestamps alone do not count: they are saved with the next real change.
    changed = (
        facts["upstream_status"] != row.upstream_status
        or facts["status_msg"] != row.status_msg
        or facts.get("units_charged", row.units_charged) != row.units_charged
    )
    if changed or (stalled and not row.stalled):
        if stalled and not row.stalled:
            logger.info("Generation %s: stalled after %s", row.pk, age)
        row.touch(
            **facts,
            stalled=stalled,
            last_error="",
            poll_attempts=F("poll_attempts") + 1,
            next_poll_at=now + timedelta(seconds=seconds),
            lease_until=None,
        )
        return None
    return (seconds, stalled, "")


def _poll_interval(row: Generation, age: timedelta) -> float:
    if age > settings.STALL_AFTER:
        return stalled_poll_seconds()
    return backoff(row.poll_attempts, settings.POLL_MIN_SECONDS, settings.POLL_MAX_SECONDS)


def stalled_poll_seconds() -> float:
    """How often a stalled task is asked about: four times the longest normal interval."""
    return settings.POLL_MAX_SECONDS * 4


def _give_up(row: Generation, facts: dict | None = None) -> None:
    minutes = int(settings.GIVE_UP_AFTER.total_seconds() // 60)
    message = (
        f"The video was still not ready after {minutes} minutes, so the studio stopped "
        "waiting for it."
    )
    logger.warning("Generation %s: giving up after %s minutes", row.pk, minutes)
    row.move(
        Status.FAILED,
        note=message,
        **{**(facts or {}), "status_msg": message},
        error_code="timeout",
        last_error=message,
        stalled=True,
    )


def next_sweep_due(now: datetime) -> datetime | None:
    """When the next row becomes sweepable: its next_poll_at, or when its lease runs out."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    found = Generation.objects.filter(status__in=SWEPT, next_poll_at__isnull=False).aggregate(
        free=Min("next_poll_at", filter=free),
        leased=Min("lease_until", filter=~free),
    )
    times = [t for t in (found["free"], found["leased"]) if t is not None]
    return min(times) if times else None


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
        _fail(generation, media.EXPIRED_MESSAGE, code="expired")
        return True
    except media.DownloadError as error:
        retry = error.retryable and attempt < settings.DOWNLOAD_MAX_ATTEMPTS
        logger.warning(
            "Generation %s: download attempt %s failed (%s): %s",
            generation.pk,
            attempt,
            "will retry" if retry else "final",
            error,
        )
        if retry:
            seconds = backoff(attempt - 1, STORE_RETRY_SECONDS, 15 * 60)
            generation.touch(
                last_error=str(error)[:1000],
                next_poll_at=timezone.now() + timedelta(seconds=seconds),
                lease_until=None,
            )
        elif error.retryable:
            _fail(
                generation,
                f"The video could not be saved after {attempt} attempts: {error}",
                code="download",
            )
        else:
            _fail(generation, f"The video could not be saved: {error}", code="download")
        return True
    moved = generation.move(
        Status.SUCCEEDED,
        note="Video saved.",
        video=stored.video,
        poster=stored.poster,
        video_bytes=stored.size,
        video_sha256=stored.sha256,
        video_seconds=stored.seconds,
        video_width=stored.width,
        video_height=stored.height,
        last_error="",
    )
    if not moved:  # another worker finished first: do not leave our copy behind
        stored.delete()
    return True


# ---------------------------------------------------------------------------- watchdog


def reconcile(now: datetime | None = None) -> dict[str, int]:
    """Move forward anything stuck (R2): lost submit and store tasks, a stopped sweep."""
    now = now or timezone.now()
    counts = {"submit": 0, "store": 0, "sweep": 0}
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    never_sent = Generation.objects.filter(
        free, status=Status.QUEUED, submit_attempts=0, next_poll_at__lte=now
    )
    for pk in _dispatch(never_sent, now + timedelta(seconds=SUBMIT_GRACE)):
        enqueue("submit", pk)
        counts["submit"] += 1
    storing = Generation.objects.filter(free, status=Status.STORING, next_poll_at__lte=now)
    for pk in _dispatch(storing, now + timedelta(seconds=STORE_LEASE)):
        enqueue("store", pk)
        counts["store"] += 1
    soon = now + timedelta(seconds=WATCHDOG_SECONDS)  # before the next tick
    due = next_sweep_due(now)
    if due is not None and due <= soon and not Lease.is_held(SWEEP_LEASE_NAME):
        enqueue("sweep")
        counts["sweep"] = 1
    return counts


def _dispatch(rows, until: datetime, limit: int = 500) -> Iterable[str]:
    """Push the rows' next action to `until` (so the next tick does not hand them out
    again while their task waits in the queue) and return their ids."""
    ids = list(rows.values_list("pk", flat=True)[:limit])
    if ids:
        Generation.objects.filter(pk__in=ids).exclude(status__in=FINAL).update(next_poll_at=until)
    return [str(pk) for pk in ids]
