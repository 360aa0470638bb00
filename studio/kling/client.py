"""The one door to the upstream: CometAPI's Kling text-to-video and image-to-video
routes, as typed calls.

Reference: docs/upstream.md §1 (hosts, auth), §2 (endpoints), §6 (responses), §9 (errors),
§11 and §12 (timing, ambiguous submissions), §15.1 (image2video). Only this module knows
URLs, headers and JSON.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx

from studio.kling import errors
from studio.kling.types import (
    KlingError,
    Task,
    TaskStatus,
    Video,
    parse_decimal,
    parse_timestamp,
)

logger = logging.getLogger(__name__)

TEXT2VIDEO = "/kling/v1/videos/text2video"  # §2: CometAPI prefixes Kling's /v1 with /kling
IMAGE2VIDEO = "/kling/v1/videos/image2video"  # §15.1: same shapes, its own task route
ROUTES = {"text2video": TEXT2VIDEO, "image2video": IMAGE2VIDEO}
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)

# find_by_external_id: a lookup form the upstream rejects as a bad parameter also means
# "no task here" (§2: neither form is documented on CometAPI).
LOOKUP_MISS_CODES = frozenset({"1200", "1201"})

_COMET_REQUEST_ID = re.compile(r"\(request id: ([^)\s]+)\)")
_SNIPPET = 500  # characters of a non-JSON body kept in KlingError.details

Operation = Literal["create", "query"]
Action = Literal["text2video", "image2video"]


def build_http_client(
    base_url: str,
    api_key: str,
    timeout: httpx.Timeout | None,
    transport: httpx.BaseTransport | None,
    max_connections: int,
) -> httpx.Client:
    """The one httpx client: bearer auth, JSON, explicit timeouts, no redirects (§1, §9.2).

    httpx.Client is safe to share between threads; its pool holds `max_connections`.
    (httpx applies `limits` only to its own transport, not to one passed in.)
    """
    if not api_key:
        raise ValueError("The CometAPI key is empty.")
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        headers={
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": "kling-prompt-studio",
        },
        timeout=timeout or DEFAULT_TIMEOUT,
        follow_redirects=False,  # §9.2: a 301 means a wrong base URL; never follow it
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        transport=transport,
    )


class KlingClient:
    """Typed calls to the text-to-video routes; every failure is a KlingError.

    Thread-safe: it holds one shared httpx.Client and no other mutable state.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 32,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = api_key  # only to scrub it from anything we hand out
        self._http = build_http_client(base_url, api_key, timeout, transport, max_connections)

    def __repr__(self) -> str:
        return f"KlingClient({self.base_url!r})"

    def __enter__(self) -> KlingClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # Reference: docs/upstream.md §2 (create), §3 (body), §6.3 (response), §12.6 (ambiguous)
    def create_text2video(self, body: dict) -> Task:
        """Create a task. On an unknown outcome the error has `ambiguous=True`: reconcile
        by `external_task_id` before sending the body again."""
        return self._create(TEXT2VIDEO, body)

    # Reference: docs/upstream.md §15.1 (image2video: body, same responses as text2video)
    def create_image2video(self, body: dict) -> Task:
        """Create an image-to-video task; `image` (and `image_tail`) are raw base64 or URLs.
        Failures as for create_text2video."""
        return self._create(IMAGE2VIDEO, body)

    def create(self, action: Action, body: dict) -> Task:
        return self._create(ROUTES[action], body)

    def _create(self, route: str, body: dict) -> Task:
        payload = self._call("POST", route, "create", body=body)
        request_id = _request_id(payload.get("request_id"))
        data = payload.get("data")
        if _looks_like_task(data):
            return parse_task(data, request_id=request_id)
        # A success we cannot read may still have made the task: reconcile, never resend.
        _log_shapeless("POST", route, request_id, data)
        raise self._scrub(
            KlingError(
                message="The upstream answered 200 without a task in `data`.",
                http_status=200,
                code="malformed",
                retryable=errors.retryable("malformed", 200),
                ambiguous=errors.maybe_created("malformed", 200),
                request_id=request_id,
                details={"method": "POST", "path": route, "body": payload},
            )
        )

    # Reference: docs/upstream.md §2 (query one task), §6.2 and §6.4 (task object), §12.1
    def get_task(self, task_id: str, action: Action = "text2video") -> Task:
        """The task as the upstream sees it now, on the route it was made on (§15.1). A
        success in a shape this client does not know is logged and comes back as status
        UNKNOWN: still running, asked again later."""
        if not task_id:
            raise ValueError("task_id is empty.")
        path = f"{ROUTES[action]}/{quote(str(task_id), safe='')}"
        payload = self._call("GET", path, "query")
        request_id = _request_id(payload.get("request_id"))
        data = payload.get("data")
        if _looks_like_task(data):
            return parse_task(data, request_id=request_id)
        _log_shapeless("GET", path, request_id, data)
        return Task(task_id=str(task_id), status=TaskStatus.UNKNOWN, request_id=request_id)

    # Reference: docs/upstream.md §2 (query by external_task_id is undocumented on CometAPI,
    # so both forms are tried), §12.6 (reconcile an ambiguous create)
    def find_by_external_id(
        self, external_task_id: str, action: Action = "text2video"
    ) -> Task | None:
        """The task created with `external_task_id`, or None when the upstream has none.

        A task counts only if its own `task_info.external_task_id` matches: a gateway
        may ignore the query string and answer with some other task or a whole list.
        """
        if not external_task_id:
            raise ValueError("external_task_id is empty.")
        route = ROUTES[action]
        lookups: tuple[tuple[str, dict[str, str] | None], ...] = (
            (f"{route}/{quote(external_task_id, safe='')}", None),
            (route, {"external_task_id": external_task_id}),
        )
        for path, params in lookups:
            try:
                payload = self._call("GET", path, "query", params=params)
            except KlingError as error:
                if _lookup_miss(error):
                    continue
                raise
            for task in self._tasks_in(payload):
                if task.external_task_id == external_task_id:
                    return task
        return None

    # ------------------------------------------------------------------ plumbing

    def _call(
        self,
        method: str,
        path: str,
        operation: Operation,
        *,
        body: dict | None = None,
        params: dict[str, str] | None = None,
    ) -> dict:
        """Send one request; return the parsed success envelope or raise KlingError."""
        try:
            response = self._http.request(method, path, json=body, params=params)
        except httpx.RequestError as exc:
            raise self._network_error(exc, method, path, operation) from None
        payload = _decode(response)
        if isinstance(payload, dict) and _is_success(response, payload):
            return payload
        raise self._http_error(response, payload, method, path, operation)

    def _tasks_in(self, payload: dict) -> Iterator[Task]:
        """§6.4: `data` is one task, a list of them (list form), or empty."""
        data = payload.get("data")
        request_id = _request_id(payload.get("request_id"))
        for item in data if isinstance(data, list) else [data]:
            if _looks_like_task(item):
                yield parse_task(item, request_id=request_id)

    def _network_error(
        self, exc: httpx.RequestError, method: str, path: str, operation: Operation
    ) -> KlingError:
        # Nothing reached the server on these, so a create cannot have happened.
        unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.ProxyError):
            kind, retryable, unsent = "bad request setup", False, True
        elif isinstance(exc, httpx.TimeoutException):
            kind, retryable = "timed out", True
        else:
            kind, retryable = "connection failed", True
        reason = str(exc) or type(exc).__name__
        message = f"The upstream request {kind} ({type(exc).__name__}: {reason})."
        if operation == "create" and not unsent:
            message += " The task may or may not have been created."
        return self._scrub(
            KlingError(
                message=message,
                code=type(exc).__name__,
                retryable=retryable,
                ambiguous=operation == "create" and not unsent,
                details={"method": method, "path": path},
            )
        )

    def _http_error(
        self, response: httpx.Response, payload: Any, method: str, path: str, operation: Operation
    ) -> KlingError:
        status = response.status_code
        details: dict = {"method": method, "path": path}
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if 300 <= status < 400:
            return self._scrub(_redirect_error(response, details))
        fields = _error_fields(payload, status) if isinstance(payload, dict) else None
        if fields is None:
            return self._scrub(_unreadable(response, payload, details, operation, retry_after))
        code, message, request_id = fields
        details["body"] = payload
        logger.info(
            "Kling %s %s failed: HTTP %s code %s request %s",
            method,
            path,
            status,
            code,
            request_id,
        )
        return self._scrub(
            _coded_error(message, status, code, operation, retry_after, request_id, details)
        )

    def _scrub(self, error: KlingError) -> KlingError:
        """The key must never leave this object, even if an upstream echoes it back."""
        if self._secret and self._secret in repr(error):
            error.message = error.message.replace(self._secret, "***")
            error.details = json.loads(json.dumps(error.details).replace(self._secret, "***"))
            error.args = (error.message,)
        return error


# Reference: docs/upstream.md §6.2 (task object), §8 (callbacks post the bare task object)
def parse_task(data: dict, *, request_id: str = "") -> Task:
    """A Task from a bare task object (the `data` of an envelope, or a callback body)."""
    if not _looks_like_task(data):
        raise KlingError(message="Not a Kling task object: it has no task_id.", code="malformed")
    raw_status = data.get("task_status")
    raw_status = "" if raw_status is None else str(raw_status)
    status = TaskStatus.parse(raw_status)
    task_id = _text(data["task_id"])
    if status is TaskStatus.UNKNOWN:
        # §12.1: an unknown string counts as still running, but someone should look.
        logger.warning("Kling task %s has unknown status %r", task_id, raw_status)
    info = data.get("task_info")
    result = data.get("task_result")
    raw_videos = result.get("videos") if isinstance(result, dict) else None
    videos = tuple(
        Video(
            id=_text(video.get("id")),
            url=_text(video.get("url")),
            duration=parse_decimal(video.get("duration")),
            watermark_url=_text(video.get("watermark_url")),
        )
        for video in (raw_videos if isinstance(raw_videos, list) else [])
        if isinstance(video, dict)
    )
    return Task(
        task_id=task_id,
        status=status,
        raw_status=raw_status,
        status_msg=_text(data.get("task_status_msg")),
        external_task_id=_text(info.get("external_task_id")) if isinstance(info, dict) else "",
        videos=videos,
        created_at=parse_timestamp(data.get("created_at")),
        updated_at=parse_timestamp(data.get("updated_at")),
        final_unit_deduction=parse_decimal(data.get("final_unit_deduction")),
        request_id=request_id,
    )


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds from now: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


_NOT_JSON = object()


def _decode(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:  # includes JSONDecodeError and UnicodeDecodeError
        return _NOT_JSON


def _is_success(response: httpx.Response, payload: dict) -> bool:
    """§6.1: HTTP 2xx and code 0. A 200 with any other code is an error (§9.3). `message`
    says SUCCEED, success or nothing at all, so it is never read (§6.1)."""
    if not 200 <= response.status_code < 300 or payload.get("error"):
        return False
    code = payload.get("code")
    if code is None:
        return "data" in payload
    return not isinstance(code, bool) and (code == 0 or code == "0")


def _error_fields(payload: dict, status: int) -> tuple[str, str, str] | None:
    """(code, message, request id) of an error body in the shapes of §9.3, or None for a
    2xx body that is neither a success nor a known error."""
    error = payload.get("error")
    if isinstance(error, dict):  # §9.2: CometAPI's own envelope, e.g. for a bad key
        message = _text(error.get("message")) or _status_message(status)
        match = _COMET_REQUEST_ID.search(message)
        request_id = match.group(1) if match else _request_id(payload.get("request_id"))
        return _text(error.get("code") or ""), message, request_id
    code = payload.get("code")
    if isinstance(code, int | str) and not isinstance(code, bool):
        # §9.1 Kling-native int code, or §9.3 new-api string code ("task_failed")
        message = _text(payload.get("message")) or _status_message(status)
        return str(code), message, _request_id(payload.get("request_id"))
    if 200 <= status < 300:
        return None
    return "", _status_message(status), _request_id(payload.get("request_id"))


def _redirect_error(response: httpx.Response, details: dict) -> KlingError:
    # §9.2: a redirect means a wrong base URL or path; following it never helps.
    status = response.status_code
    where = response.headers.get("Location", "")
    details["location"] = where
    return KlingError(
        message=(
            f"The upstream redirected (HTTP {status}{' to ' + where if where else ''});"
            " the base URL or path is wrong."
        ),
        http_status=status,
        code="redirect",
        retryable=errors.retryable("redirect", status),
        details=details,
    )


def _unreadable(
    response: httpx.Response,
    payload: Any,
    details: dict,
    operation: Operation,
    retry_after: float | None,
) -> KlingError:
    """A body that is not an envelope: HTML, empty, truncated or other JSON."""
    status = response.status_code
    request_id = _request_id(payload.get("request_id")) if isinstance(payload, dict) else ""
    if payload is _NOT_JSON:
        details["body"] = response.text[:_SNIPPET]
        details["content_type"] = response.headers.get("Content-Type", "")
    else:
        details.setdefault("body", payload)
    if 200 <= status < 300:
        # The call may have worked; we cannot tell. Asking again can help.
        message = f"The upstream answered HTTP {status} with a body that is not a Kling response."
        code = "malformed"
    else:
        message = f"{_status_message(status)} The body was not a Kling response."
        if status == 404:
            message += " Check the base URL."
        code = ""
    logger.warning(
        "Kling answered HTTP %s with an unreadable body (request %s)", status, request_id or "-"
    )
    return _coded_error(message, status, code, operation, retry_after, request_id, details)


def _coded_error(
    message: str,
    status: int,
    code: str,
    operation: Operation,
    retry_after: float | None,
    request_id: str,
    details: dict,
) -> KlingError:
    """An error answer with its code: retryable and "may have made a task" from the table."""
    return KlingError(
        message=message,
        http_status=status,
        code=code,
        retryable=errors.retryable(code, status),
        retry_after=retry_after,
        ambiguous=operation == "create" and errors.maybe_created(code, status),
        request_id=request_id,
        details=details,
    )


def _log_shapeless(method: str, path: str, request_id: str, data: object) -> None:
    # §12.1: an answer we cannot read is not a crash, but someone should look.
    logger.warning(
        "Kling %s %s answered a success without a task in `data` (%s; request %s)",
        method,
        path,
        type(data).__name__,
        request_id or "-",
    )


def _looks_like_task(data: object) -> bool:
    """A task object: a dict with a task_id that is a non-empty string or a whole number."""
    if not isinstance(data, dict):
        return False
    task_id = data.get("task_id")
    if isinstance(task_id, bool):
        return False
    if isinstance(task_id, float):
        return task_id.is_integer()
    return isinstance(task_id, int) or (isinstance(task_id, str) and task_id.strip() != "")


def _request_id(value: object) -> str:
    """§6.1: a trace id, UUID-like on Kling and anything at all on a gateway: kept as text,
    never parsed; missing or an odd type becomes ""."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _lookup_miss(error: KlingError) -> bool:
    return error.not_found or error.code in LOOKUP_MISS_CODES


def _status_message(status: int) -> str:
    phrase = httpx.codes.get_reason_phrase(status)
    return f"The upstream answered HTTP {status}{' ' + phrase if phrase else ''}."


def _text(value: object) -> str:
    """Ids and messages as strings: JSON numbers keep their digits, null becomes ""."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
