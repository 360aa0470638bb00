"""The simulator's WSGI app: CometAPI's /kling routes, task state, the ticker and callbacks."""

from __future__ import annotations

import hmac
import json
import logging
import random
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from .. import capabilities, images
from . import faults
from .callbacks import Callbacks
from .config import SimConfig
from .render import render_from_image, render_mp4
from .tasks import STATUSES, SUCCEED, SimTask, new_task_id
from .wire import (
    Request,
    Response,
    WSGIEnviron,
    comet_error,
    json_response,
    kling_error,
    ok,
    restyle,
    text,
)

log = logging.getLogger(__name__)

_COLLECTION = re.compile(r"^/kling/v1/videos/(text2video|image2video)/?$")
_ITEM = re.compile(r"^/kling/v1/videos/(text2video|image2video)/([^/]+)$")
_VIDEO = re.compile(r"^/_sim/videos/(\d+)\.mp4$")
_STRING_FIELDS = (
    "model_name", "model", "prompt", "negative_prompt", "mode", "aspect_ratio", "duration",
    "callback_url", "external_task_id", "sound",
)  # fmt: skip
_TICK = 0.05  # seconds between lifecycle sweeps

StartResponse = Callable[..., object]


class Simulator:
    """A CometAPI-compatible Kling text2video server as a WSGI callable; thread-safe.

    One lock guards all state. `close()` stops the ticker and the callback pool and removes
    the rendered videos; `serve(...).stop()` calls it.
    """

    def __init__(
        self, config: SimConfig | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config or SimConfig()
        self.tasks: dict[str, SimTask] = {}
        self.url = ""  # set by serve(), with `server`
        self.server: WSGIServer | None = None  # set by server.serve
        self._clock = clock
        self._lock = threading.Lock()
        self._by_external: dict[str, str] = {}
        self._active: set[str] = set()  # ids of tasks not yet final: the concurrency slots
        self._attempts: Counter[str] = Counter()  # create attempts per external id / prompt
        self._creates: Counter[str] = Counter()  # successful creates per external id
        self._posts: Counter[str] = Counter()  # create requests per external id
        self._create_total = 0
        self._counts: Counter[str] = Counter()
        self._seed = self.config.seed
        self._rng = random.Random(self._seed)
        self._closing = threading.Event()
        self._ticker: threading.Thread | None = None
        self._callbacks = Callbacks(lambda: self.config, self._count)
        self._video_dir: Path | None = None
        self._owns_video_dir = False
        self._render_locks: dict[str, threading.Lock] = {}

    # -- WSGI and routing ----------------------------------------------------------------

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        request = Request.from_environ(environ)
        try:
            response = self.handle(request)
        except Exception:  # a simulator bug: say so loudly, answer like a broken upstream
            log.exception("simulator failed on %s %s", request.method, request.path)
            response = kling_error(500, 5000, "simulator internal error")
        # Only method, path and status: the Authorization header is never logged.
        log.debug("%s %s -> %s", request.method, request.path, response.status)
        start_response(response.status_line, response.header_list())
        if response.spread and response.body:
            return self._trickle(response.body, response.spread)
        return [response.body]

    def _trickle(self, body: bytes, seconds: float, pieces: int = 20) -> Iterator[bytes]:
        """The body in `pieces` parts over `seconds`: a slow CDN, or a download to cut."""
        size = max(1, -(-len(body) // pieces))
        for start in range(0, len(body), size):
            yield body[start : start + size]
            if self._closing.wait(seconds / pieces):
                return

    def handle(self, request: Request) -> Response:
        method, path = request.method, request.path
        if path == "/_sim/stats" and method == "GET":
            return json_response(200, self.stats())
        if path == "/_sim/config" and method in ("GET", "POST"):
            return self._config(request)
        if match := _VIDEO.match(path):
            if method not in ("GET", "HEAD"):
                return kling_error(404, 1202, "invalid request method")
            return self._api(request, "video", lambda: self._video(request, match[1]), auth=False)
        if match := _ITEM.match(path):
            if method != "GET":
                return kling_error(404, 1202, "invalid request method")
            return self._api(request, "query", lambda: self._query(match[1], match[2]))
        if match := _COLLECTION.match(path):
            action = match[1]
            if method == "POST":
                return self._api(request, "create", lambda: self._create(request, action))
            if method == "GET" and "external_task_id" in request.query:
                external = request.query["external_task_id"]
                return self._api(request, "query", lambda: self._query(action, external, True))
            if method == "GET" and self.config.list_endpoint:
                return self._api(request, "query", lambda: self._list(action, request.query))
            if method != "GET":
                return kling_error(404, 1202, "invalid request method")
        return kling_error(404, 1203, f"route not found: {method} {path}")

    def _api(
        self, request: Request, kind: str, handler: Callable[[], Response], auth: bool = True
    ) -> Response:
        """One API request, its answer in the configured request-id and message style."""
        config = self.config
        response = self._answer(request, kind, handler, auth)
        return restyle(response, config.request_ids, config.success_message)

    def _answer(
        self, request: Request, kind: str, handler: Callable[[], Response], auth: bool
    ) -> Response:
        """Latency, authentication and random faults around one API request."""
        with self._lock:
            self._counts["requests"] += 1
        if self.config.latency:
            time.sleep(self.config.latency)
        if auth and (denied := self._authenticate(request)):
            return denied
        fault = self._roll_fault(kind)
        if fault in ("error-5000", "rate-1302", "malformed"):
            return faults.response(fault, self.config.retry_after)
        response = handler()
        if fault == "ambiguous-504" and response.status == 200:
            return faults.response(fault, self.config.retry_after)  # the task exists by now
        if fault == "slow":
            self._closing.wait(self.config.slow_seconds)
        return response

    def _authenticate(self, request: Request) -> Response | None:
        scheme, _, token = request.authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            if self.config.auth_style == "kling":
                return kling_error(401, 1000, "Authentication failed: no Authorization header")
            return comet_error(401, "Missing Authorization header")
        expected = self.config.api_key
        if expected is None:
            valid = token.startswith("sk-")
        else:
            valid = hmac.compare_digest(token.encode(), expected.encode())
        if valid:
            return None
        if self.config.auth_style == "kling":
            return kling_error(401, 1002, "Authorization is invalid")
        return comet_error(401, "Invalid token")

    def _roll_fault(self, kind: str) -> str:
        rate = self.config.fault_rate
        if rate <= 0:
            return ""
        choices = {"create": faults.RANDOM_CREATE, "video": faults.RANDOM_VIDEO}
        with self._lock:
            self._reseed()
            if self._rng.random() >= rate:
                return ""
            fault = self._rng.choice(choices.get(kind, faults.RANDOM_QUERY))
            self._counts[f"fault:{fault}"] += 1
        return fault

    def _reseed(self) -> None:
        # A seed changed at runtime (e.g. through /_sim/config) restarts the sequence.
        if self.config.seed != self._seed:
            self._seed = self.config.seed
            self._rng.seed(self._seed)

    # -- create, query, list -------------------------------------------------------------

    def _create(self, request: Request, action: str) -> Response:
        if request.truncated:
            return kling_error(400, 1201, "Invalid request parameters: the body is too large")
        try:
            body = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return kling_error(400, 1200, "Invalid request parameters: the body is not JSON")
        if not isinstance(body, dict):
            return kling_error(400, 1200, "Invalid request parameters: expected a JSON object")
        validate = self._validate_image if action == "image2video" else self._validate
        if rejection := validate(body):
            return rejection
        prompt, external = body.get("prompt") or "", body.get("external_task_id") or ""
        words = faults.keywords(prompt)
        with self._lock:
            if external:
                self._posts[external] += 1
            if external in self._by_external:
                return kling_error(
                    400, 1201, f"external_task_id {external!r} already exists, it must be unique"
                )
            if self.config.lose_creates:
                self._counts["fault:lose-creates"] += 1
                return faults.response("ambiguous-504", self.config.retry_after)
            key = f"external:{external}" if external else f"prompt:{prompt}"
            self._attempts[key] += 1
            fault = faults.submit_fault(words, self._attempts[key])
            if fault:
                self._counts[f"fault:{fault}"] += 1
            if fault and fault not in faults.CREATES_TASK:
                return faults.response(fault, self.config.retry_after)
            limit = self.config.max_in_flight
            if limit and len(self._active) >= limit:
                # §9.5: each task holds a slot from submitted until final.
                return kling_error(
                    429, 1303, "parallel task over resource pack limit", self.config.retry_after
                )
            task = self._add_task(action, body, words, request.base_url)
            data = self._snapshot(task, brief=True)
        self._start_ticker()
        if fault in ("ambiguous-504", "create-no-task"):
            return faults.response(fault, self.config.retry_after)
        if fault == "slow":
            self._closing.wait(self.config.slow_seconds)
        return ok(data)

    def _validate(self, body: dict) -> Response | None:
        """The gateway's checks (docs/upstream.md §13): 1203 for the model, else 1201."""
        for name in _STRING_FIELDS:
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                example = ' such as "5"' if name == "duration" else ""
                return kling_error(
                    400, 1201, f"Invalid parameter {name}: must be a string{example}"
                )
        model = body.get("model_name") or "kling-v1"  # §3: omitted (or legacy `model`) is v1
        if model not in capabilities.MODELS:
            return kling_error(400, 1203, f"invalid model name: {model}")
        shape = capabilities.COMET if self.config.strict else capabilities.OFFICIAL
        if found := capabilities.problems(body, shape):
            return kling_error(400, 1201, "; ".join(found.values()))
        return self._common_checks(body)

    def _validate_image(self, body: dict) -> Response | None:
        """The image2video checks (docs/upstream.md §15.1): the same table-driven rules as
        text2video from capabilities.image_problems, then what is in each image."""
        for name in (*_STRING_FIELDS, "image", "image_tail"):
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                return kling_error(400, 1201, f"Invalid parameter {name}: must be a string")
        model = body.get("model_name") or "kling-v1"
        if model not in capabilities.IMAGE_MODELS:
            return kling_error(400, 1203, f"invalid model name: {model}")
        shape = capabilities.COMET if self.config.strict else capabilities.OFFICIAL
        if found := capabilities.image_problems(body, shape):
            return kling_error(400, 1201, "; ".join(found.values()))
        for name in ("image", "image_tail"):
            if body.get(name) is not None and (problem := images.wire_problem(body[name])):
                return kling_error(400, 1201, f"Invalid parameter {name}: {problem}")
        return self._common_checks(body)

    def _common_checks(self, body: dict) -> Response | None:
        callback = body.get("callback_url")
        if callback and not callback.startswith(("http://", "https://")):
            return kling_error(400, 1201, "Invalid parameter callback_url: must be an http(s) URL")
        if not isinstance(body.get("watermark_info", {}), dict):
            return kling_error(400, 1201, "Invalid parameter watermark_info: must be an object")
        return None

    def _add_task(self, action: str, body: dict, words: frozenset[str], base_url: str) -> SimTask:
        now = self._clock()
        outcome, fail_msg = faults.outcome(words)
        params = dict(body)
        pictures = {name: params.pop(name, None) for name in ("image", "image_tail")}
        task = SimTask(
            task_id=new_task_id(now),
            action=action,
            params=params,
            image=_picture(pictures["image"]),
            image_tail=_picture(pictures["image_tail"]),
            created=now,
            base_url=self.config.public_url.rstrip("/") or base_url,
            external_task_id=body.get("external_task_id") or "",
            callback_url=body.get("callback_url") or "",
            outcome=outcome,
            fail_msg=fail_msg,
            expire_at_once="expire" in words,
            poll_flaky="poll-flaky" in words,
            poll_no_task="poll-no-task" in words,
            sound=self._makes_sound(body),
            poll_limited="poll-rate-1302" in words,
        )
        self.tasks[task.task_id] = task
        self._active.add(task.task_id)
        self._create_total += 1
        if task.external_task_id:
            self._by_external[task.external_task_id] = task.task_id
            self._creates[task.external_task_id] += 1
        return task

    def _makes_sound(self, body: dict) -> bool:
        """Whether the video is made (and billed) with audio. §15: an omitted sound is the
        "model default"; strict mode takes the costly reading, as the bill might."""
        if body.get("sound") is not None:
            return body["sound"] == "on"
        spec = capabilities.MODELS.get(body.get("model_name") or "kling-v1")
        if spec is None or "image" in body or "image_tail" in body:
            return False  # §15.1: no sound field on image2video
        return self.config.strict and spec.takes_sound(body.get("mode"))

    def _query(self, action: str, ident: str, external_only: bool = False) -> Response:
        with self._lock:
            if self.config.lookups_fail and (external_only or ident not in self.tasks):
                self._counts["fault:lookups-fail"] += 1
                return kling_error(500, 5000, "server internal error")
            task = None if external_only else self.tasks.get(ident)
            if task is None:
                task = self.tasks.get(self._by_external.get(ident, ""))
            if task is None or task.action != action:
                return kling_error(404, 1203, f"task not found: {ident}")
            task.queries += 1
            self._counts["queries"] += 1
            snapshots = self._advance(task, self._clock())
            fault = ""
            if task.queries % 2 == 1:  # the 1st, 3rd, 5th... query of a faulty task
                if task.poll_flaky:
                    fault = "poll-flaky"
                elif task.poll_no_task:
                    fault = "poll-no-task"
                elif task.poll_limited:
                    fault = "poll-rate-1302"
            if fault:
                self._counts[f"fault:{fault}"] += 1
            data = self._snapshot(task)
        self._dispatch(task, snapshots)
        if fault == "poll-flaky":
            return kling_error(500, 5000, "server internal error")
        if fault:
            return faults.response(fault, self.config.retry_after)
        return ok(data)

    def _list(self, action: str, query: dict[str, str]) -> Response:
        # §2: pageNum in [1, 1000] (default 1), pageSize in [1, 500] (default 30).
        try:
            page, size = int(query.get("pageNum") or 1), int(query.get("pageSize") or 30)
        except ValueError:
            page = size = 0
        if not (1 <= page <= 1000 and 1 <= size <= 500):
            return kling_error(400, 1201, "pageNum must be 1 to 1000 and pageSize 1 to 500")
        self.tick()
        with self._lock:
            newest_first = [t for t in reversed(self.tasks.values()) if t.action == action]
            data = [self._snapshot(t) for t in newest_first[(page - 1) * size : page * size]]
        return ok(data)

    # -- videos --------------------------------------------------------------------------

    def _video(self, request: Request, task_id: str) -> Response:
        with self._lock:
            task = self.tasks.get(task_id)
            snapshots = self._advance(task, self._clock()) if task else []
            ready = task is not None and task.status == SUCCEED
            expired = ready and task.video_expired(self._clock(), self.config.url_ttl)  # type: ignore[union-attr]
        if task is not None:
            self._dispatch(task, snapshots)
        if task is None or not ready:
            return text(404, "404 Not Found")
        if expired:
            # §11: an expired (or hot-link-protected) Kling URL answers 403.
            return text(403, "403 Forbidden: this video link has expired")
        content = self._render(task).read_bytes()
        body = b"" if request.method == "HEAD" else content
        return Response(
            200, body, "video/mp4", length=len(content), spread=self.config.video_seconds
        )

    def _render(self, task: SimTask) -> Path:
        with self._lock:
            lock = self._render_locks.setdefault(task.task_id, threading.Lock())
            directory = self._videos()
        target = directory / f"{task.task_id}.mp4"
        with lock:  # one render per task, without holding up the rest of the API
            if not target.exists():
                model = task.params.get("model_name") or "kling-v1"
                if task.action == "image2video":
                    caption = f"SIMULATED · image2video · {model} · {task.duration}s"
                    render_from_image(
                        target, task.image, task.image_tail, task.prompt, float(task.duration),
                        fps=self.config.fps, caption=caption,
                    )  # fmt: skip
                    task.image = task.image_tail = None  # the video holds them now
                    return target
                caption = f"SIMULATED · {model} · {task.aspect_ratio} · {task.duration}s"
                caption += " · sound on" if task.sound else ""
                render_mp4(
                    target, task.prompt, task.aspect_ratio, float(task.duration),
                    fps=self.config.fps, caption=caption,
                )  # fmt: skip
        return target

    def _videos(self) -> Path:
        if self._video_dir is None:
            if self.config.video_dir:
                self._video_dir = Path(self.config.video_dir)
                self._video_dir.mkdir(parents=True, exist_ok=True)
            else:
                self._video_dir = Path(tempfile.mkdtemp(prefix="kling-sim-videos-"))
                self._owns_video_dir = True
        return self._video_dir

    # -- lifecycle and callbacks ---------------------------------------------------------

    def tick(self) -> None:
        """Advance every running task to now and send their callbacks (the ticker's job)."""
        with self._lock:
            now = self._clock()
            running = [self.tasks[task_id] for task_id in self._active]
            moved = [(task, self._advance(task, now)) for task in running]
        for task, snapshots in moved:
            self._dispatch(task, snapshots)

    def _advance(self, task: SimTask, now: float) -> list[dict]:
        """Every transition due by `now`, as the task object right after each one."""
        snapshots = []
        while task.step(now, self.config):
            snapshots.append(self._snapshot(task))
        if task.is_final:
            self._active.discard(task.task_id)
        return snapshots

    def _snapshot(self, task: SimTask, brief: bool = False) -> dict:
        config = self.config
        return task.to_json(config.timestamps_in_seconds, brief, config.empty_fields)

    def _start_ticker(self) -> None:
        with self._lock:
            if self._ticker is not None or self._closing.is_set():
                return
            self._ticker = threading.Thread(
                target=self._tick_forever, name="sim-ticker", daemon=True
            )
        self._ticker.start()

    def _tick_forever(self) -> None:
        while not self._closing.wait(_TICK):
            try:
                self.tick()
            except Exception:  # one bad sweep must not stop the clock
                log.exception("simulator tick failed")

    def _dispatch(self, task: SimTask, snapshots: list[dict]) -> None:
        config = self.config
        if not (snapshots and task.callback_url and config.callbacks):
            return
        bodies = []
        with self._lock:
            for snapshot in snapshots:
                if config.callback_drop_rate and self._rng.random() < config.callback_drop_rate:
                    self._counts["callbacks_dropped"] += 1
                    continue
                body = json.dumps(snapshot).encode()
                # §8: the same update may arrive more than once.
                bodies.extend([body] * (2 if config.duplicate_callbacks else 1))
        if bodies:
            self._callbacks.send(task.task_id, task.callback_url, bodies)

    # -- introspection and control -------------------------------------------------------

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def create_count(self, external_task_id: str | None = None) -> int:
        """Successful creates (tasks made), in total or for one external_task_id."""
        with self._lock:
            if external_task_id is None:
                return self._create_total
            return self._creates.get(external_task_id, 0)

    def stats(self) -> dict:
        self.tick()
        with self._lock:
            by_status = Counter(task.status for task in self.tasks.values())
            counts = self._counts
            return {
                "creates": self._create_total,
                "creates_by_external_id": dict(self._creates),
                # Create requests per external_task_id that reached the create logic (past
                # auth and random faults), whether or not they made a task.
                "create_attempts_by_external_id": dict(self._posts),
                "tasks": {status: by_status.get(status, 0) for status in STATUSES},
                "in_flight": len(self._active),
                "requests": counts["requests"],
                "queries": counts["queries"],
                "faults": {k[6:]: v for k, v in sorted(counts.items()) if k.startswith("fault:")},
                "callbacks": {
                    "sent": counts["callbacks_sent"],
                    "failed": counts["callbacks_failed"],
                    "dropped": counts["callbacks_dropped"],
                },
            }

    def _config(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                changes = json.loads(request.body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object of config fields")
                self.config.update(changes)
            except ValueError as error:
                return json_response(400, {"error": str(error)})
        return json_response(200, self.config.public())

    def close(self) -> None:
        """Stop the ticker and callbacks and delete the videos this simulator rendered."""
        self._closing.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=1)
        self._callbacks.close()
        if self._owns_video_dir and self._video_dir is not None:
            shutil.rmtree(self._video_dir, ignore_errors=True)


def _picture(value: object) -> bytes | None:
    """The decoded bytes of a validated `image` or `image_tail`; None for none or a URL."""
    if not isinstance(value, str) or not value:
        return None
    return images.from_wire(value)
