"""What crosses the wire: the parsed request, the Kling envelope, error shapes, plain bodies."""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs

# Two 10 MB images as base64 (docs/upstream.md §15.1) and the rest of an image2video body.
MAX_BODY = 32 << 20

WSGIEnviron = dict[str, object]

# Statuses http.HTTPStatus does not know; wsgiref needs a reason phrase for each.
_REASONS = {524: "A Timeout Occurred"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    authorization: str
    body: bytes
    base_url: str  # scheme://host as the client addressed us
    truncated: bool = False  # the body was longer than MAX_BODY; only MAX_BODY was read

    @classmethod
    def from_environ(cls, environ: WSGIEnviron) -> Request:
        path = str(environ.get("PATH_INFO") or "/")
        with contextlib.suppress(UnicodeError):  # PEP 3333 passes the path as latin-1
            path = path.encode("latin-1").decode("utf-8")
        query = parse_qs(str(environ.get("QUERY_STRING") or ""), keep_blank_values=True)
        try:
            length = int(str(environ.get("CONTENT_LENGTH") or 0))
        except ValueError:
            length = 0
        stream = environ.get("wsgi.input")
        body = stream.read(min(length, MAX_BODY)) if length > 0 and stream else b""  # type: ignore[attr-defined]
        server = f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
        host = environ.get("HTTP_HOST") or server
        return cls(
            method=str(environ.get("REQUEST_METHOD") or "GET").upper(),
            path=path,
            query={key: values[0] for key, values in query.items()},
            authorization=str(environ.get("HTTP_AUTHORIZATION") or ""),
            body=body,
            base_url=f"{environ.get('wsgi.url_scheme', 'http')}://{host}",
            truncated=length > MAX_BODY,
        )


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    length: int | None = None  # Content-Length when it differs from the body (HEAD)
    spread: float = 0.0  # seconds to send the body over, in pieces (a slow download)

    @property
    def status_line(self) -> str:
        reason = _REASONS.get(self.status) or HTTPStatus(self.status).phrase
        return f"{self.status} {reason}"

    def header_list(self) -> list[tuple[str, str]]:
        length = len(self.body) if self.length is None else self.length
        return [
            ("Content-Type", self.content_type),
            ("Content-Length", str(length)),
            *self.headers,
        ]


def request_id(style: str = "uuid") -> str:
    """A trace id: a uuid4 as Kling sends (docs/upstream.md §6.1), or in the "gateway" style a
    timestamp and hex digits with no dashes, as a gateway may make its own."""
    if style == "gateway":
        return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + uuid.uuid4().hex[:16]
    return str(uuid.uuid4())


_COMET_REQUEST_ID = re.compile(r" \(request id: [^)]*\)")


def restyle(response: Response, request_ids: str, success_message: str) -> Response:
    """An API answer with the configured request ids (uuid, gateway or none) and the
    `message` of a success. Bodies that are not a JSON object (broken on purpose) stay."""
    if request_ids == "uuid" and success_message == "SUCCEED":
        return response
    if not response.content_type.startswith("application/json"):
        return response
    try:
        payload = json.loads(response.body)
    except ValueError:
        return response
    if not isinstance(payload, dict):
        return response
    if "request_id" in payload and request_ids == "none":
        del payload["request_id"]
    elif "request_id" in payload:
        payload["request_id"] = request_id(request_ids)
    error = payload.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        note = "" if request_ids == "none" else f" (request id: {request_id(request_ids)})"
        error["message"] = _COMET_REQUEST_ID.sub(lambda _: note, error["message"])
    if payload.get("code") == 0 and "message" in payload:
        payload["message"] = success_message
    return json_response(response.status, payload, response.headers)


def json_response(status: int, payload: object, headers: tuple = ()) -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return Response(status, body, "application/json; charset=utf-8", headers)


def ok(data: object) -> Response:
    # docs/upstream.md §6.1: the envelope of every successful answer.
    return json_response(
        200, {"code": 0, "message": "SUCCEED", "request_id": request_id(), "data": data}
    )


def kling_error(status: int, code: int, message: str, retry_after: int | None = None) -> Response:
    # §9.1: business errors carry no `data`.
    headers = (("Retry-After", str(retry_after)),) if retry_after is not None else ()
    payload = {"code": code, "message": message, "request_id": request_id()}
    return json_response(status, payload, headers)


def comet_error(status: int, message: str, code: str = "") -> Response:
    # §9.2: CometAPI's own gateway envelope, with the request id inside the message.
    error = {
        "message": f"{message} (request id: {request_id()})",
        "type": "comet_api_error",
        "param": "",
        "code": code,
    }
    return json_response(status, {"error": error})


def text(status: int, body: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status, body.encode(), content_type)
