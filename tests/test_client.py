"""The Kling client against the simulator (loopback), and tiny fake servers for rarer shapes."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import httpx
import pytest

from studio.kling.capabilities import build_body, ordered_body
from studio.kling.client import DEFAULT_TIMEOUT, KlingClient, build_http_client, parse_task
from studio.kling.simulator import Simulator
from studio.kling.types import KlingError, TaskStatus

KEY = "sk-test"  # the key the conftest simulator expects


def envelope(data: object) -> dict:
    return {"code": 0, "message": "SUCCEED", "request_id": "req-1", "data": data}


def task_json(task_id: str = "880000000000000123", external: str = "") -> dict:
    return {
        "task_id": task_id,
        "task_status": "submitted",
        "task_info": {"external_task_id": external} if external else {},
        "created_at": 1767225600000,
        "updated_at": 1767225600000,
    }


WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def wsgi(app: WSGIApp) -> httpx.WSGITransport:
    return httpx.WSGITransport(app=app)


def fake(answers: list[tuple], key: str = KEY, seen: list[dict] | None = None) -> KlingClient:
    """A client whose upstream is a tiny WSGI app giving `answers` in order.

    Each answer is (status, dict-or-text) or (status, dict-or-text, headers).
    """
    queue = list(answers)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if seen is not None:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            seen.append({**environ, "body": environ["wsgi.input"].read(length)})
        status, content, *rest = queue.pop(0)
        headers = dict(rest[0]) if rest else {}
        if isinstance(content, dict | list):
            content = json.dumps(content)
            headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Content-Type", "text/html")
        start_response(
            f"{status} {httpx.codes.get_reason_phrase(status) or 'X'}", list(headers.items())
        )
        return [content.encode()]

    return KlingClient("http://upstream.test", key, transport=wsgi(app))


def recording(app: WSGIApp, seen: list[str]) -> WSGIApp:
    """Wrap a WSGI app to note each request as "METHOD /path?query"."""

    def wrapped(environ: dict, start_response: Callable) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING")
        seen.append(
            f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}{'?' + query if query else ''}"
        )
        return app(environ, start_response)

    return wrapped


def without_item_route(app: WSGIApp) -> WSGIApp:
    """The simulator, as a gateway that answers 404 to GET .../text2video/{id}."""

    def wrapped(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        if environ["REQUEST_METHOD"] == "GET" and path.startswith("/kling/v1/videos/text2video/"):
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"code": 1203, "message": "route not found"}']
        return app(environ, start_response)

    return wrapped


def body(prompt: str = "a red fox runs through snow", **fields: object) -> dict:
    return {
        "model_name": "kling-v2-6",
        "prompt": prompt,
        "mode": "std",
        "aspect_ratio": "16:9",
        "duration": "5",
        "external_task_id": f"ps-{uuid.uuid4().hex[:12]}",
        **fields,
    }


@pytest.fixture
def client(simulator: Simulator) -> Iterator[KlingClient]:
    with KlingClient(simulator.url, KEY) as kling:
        yield kling


def create_error(client: KlingClient, request: dict) -> KlingError:
    with pytest.raises(KlingError) as caught:
        client.create_text2video(request)
    return caught.value


def wait_for(client: KlingClient, task_id: str, done: Callable, timeout: float = 5.0) -> list:
    """Poll until `done(task)`; return every task seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.append(client.get_task(task_id))
        if done(seen[-1]):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} never got there: {[t.raw_status for t in seen]}")


# ---------------------------------------------------------------- the simulator, lifecycle


def test_create_returns_a_submitted_task_with_a_string_id_and_the_external_id(
    client: KlingClient,
) -> None:
    request = body()
    task = client.create_text2video(request)
    assert task.status is TaskStatus.SUBMITTED
    assert task.raw_status == "submitted"
    assert isinstance(task.task_id, str) and task.task_id.isdigit()
    assert task.external_task_id == request["external_task_id"]
    assert task.request_id
    assert task.created_at is not None and task.created_at.tzinfo is not None


def test_a_task_goes_from_submitted_through_processing_to_succeed_with_a_video(
    client: KlingClient, simulator: Simulator
) -> None:
    simulator.config.processing_after, simulator.config.finish_after = 0.3, 1.0
    created = client.create_text2video(body(duration="10"))
    assert client.get_task(created.task_id).status is TaskStatus.SUBMITTED
    time.sleep(0.5)
    processing = client.get_task(created.task_id)
    assert processing.status is TaskStatus.PROCESSING
    assert processing.videos == ()
    assert processing.status_msg == ""

    done = wait_for(client, created.task_id, lambda t: t.status.is_final)[-1]
    assert done.status is TaskStatus.SUCCEED
    assert done.raw_status == "succeed"
    assert done.video is not None
    assert done.video.url.endswith(".mp4")
    assert done.video.duration == Decimal("10.0")
    assert done.final_unit_deduction == Decimal("2")
    assert done.updated_at > done.created_at


def test_a_failed_task_keeps_its_reason_from_task_status_msg(client: KlingClient) -> None:
    created = client.create_text2video(body("a fox #fail-moderation"))
    done = wait_for(client, created.task_id, lambda t: t.status.is_final)[-1]
    assert done.status is TaskStatus.FAILED
    assert done.status_msg == "content moderation did not pass"
    assert done.videos == ()


def test_timestamps_in_seconds_and_in_milliseconds_give_the_same_instant(
    client: KlingClient, simulator: Simulator
) -> None:
    created = client.create_text2video(body())
    in_ms = client.get_task(created.task_id)
    simulator.config.timestamps_in_seconds = True
    in_seconds = client.get_task(created.task_id)
    stored = simulator.tasks[created.task_id].created
    assert in_ms.created_at == datetime.fromtimestamp(int(stored * 1000) / 1000, tz=UTC)
    assert in_seconds.created_at == datetime.fromtimestamp(int(stored), tz=UTC)
    assert abs(in_ms.created_at - in_seconds.created_at) < timedelta(seconds=1)


def test_the_client_can_be_shared_by_many_threads(simulator: Simulator) -> None:
    requests = [body(f"fox number {n}") for n in range(16)]
    kling = KlingClient(simulator.url, KEY, max_connections=4)
    with kling, ThreadPoolExecutor(max_workers=8) as pool:
        tasks = list(pool.map(kling.create_text2video, requests))
        fetched = list(pool.map(kling.get_task, [t.task_id for t in tasks]))
    assert len({t.task_id for t in tasks}) == 16
    assert [t.task_id for t in fetched] == [t.task_id for t in tasks]
    assert simulator.create_count() == 16


# ---------------------------------------------------------------- the simulator, errors


@pytest.mark.parametrize(
    ("auth_style", "code", "message"),
    [("comet", "", "Invalid token (request id: "), ("kling", "1002", "Authorization is invalid")],
    ids=["comet", "kling"],
)
def test_a_wrong_key_is_a_final_401(
    simulator: Simulator, auth_style: str, code: str, message: str
) -> None:
    simulator.config.auth_style = auth_style
    with KlingClient(simulator.url, "sk-wrong") as kling:
        error = create_error(kling, body())
    assert error.http_status == 401
    assert error.code == code
    assert not error.retryable
    assert not error.ambiguous
    assert error.message.startswith(message)
    assert simulator.create_count() == 0


def test_a_content_safety_rejection_is_final_and_keeps_the_upstream_message(
    client: KlingClient,
) -> None:
    error = create_error(client, body("a fox #reject-1301"))
    assert (error.http_status, error.code) == (400, "1301")
    assert error.message.startswith("Content security policy triggered")
    assert error.request_id
    assert not error.retryable
    assert not error.ambiguous


def test_a_capability_violation_is_a_final_1201_with_the_reason(client: KlingClient) -> None:
    camera = {"type": "down_back"}
    error = create_error(client, body(camera_control=camera))
    assert (error.http_status, error.code) == (400, "1201")
    assert "camera_control is only supported" in error.message
    assert not error.retryable


def test_an_unknown_model_is_a_final_1203(client: KlingClient) -> None:
    error = create_error(client, body(model_name="kling-v9-imaginary"))
    assert (error.http_status, error.code) == (400, "1203")
    assert "invalid model name" in error.message
    assert not error.retryable


@pytest.mark.parametrize(
    ("keyword", "status", "code", "retry_after", "ambiguous"),
    [
        ("#rate-1302", 429, "1302", 1.0, False),
        ("#busy-1303", 429, "1303", 1.0, False),
        ("#error-5000", 500, "5000", None, True),
        ("#unavailable-5001", 503, "5001", 1.0, True),
        ("#comet-524", 524, "", None, True),
    ],
)
def test_transient_create_errors_are_retryable_and_5xx_ones_are_ambiguous(
    client: KlingClient,
    keyword: str,
    status: int,
    code: str,
    retry_after: float | None,
    ambiguous: bool,
) -> None:
    request = body(f"a fox {keyword}")
    error = create_error(client, request)
    assert (error.http_status, error.code) == (status, code)
    assert error.retryable
    assert error.retry_after == retry_after
    assert error.ambiguous is ambiguous
    assert error.request_id  # Kling's field, or Comet's "(request id: …)" in the message
    assert client.create_text2video(request).status is TaskStatus.SUBMITTED  # the retry works


def test_a_comet_500_invalid_request_is_final(client: KlingClient) -> None:
    error = create_error(client, body("a fox #comet-invalid-request"))
    assert (error.http_status, error.code) == (500, "invalid_request")
    assert error.message.startswith("invalid request (request id: ")
    assert not error.retryable
    assert not error.ambiguous


def test_an_html_301_is_a_final_wrong_base_url_error_and_is_not_followed(
    client: KlingClient, simulator: Simulator
) -> None:
    error = create_error(client, body("a fox #html-301"))
    assert error.http_status == 301
    assert not error.retryable
    assert not error.ambiguous
    assert "base URL" in error.message
    assert error.details["location"] == "https://www.cometapi.com/"
    assert simulator.create_count() == 0


def test_a_504_after_creation_is_ambiguous_and_reconciles_to_the_one_task(
    client: KlingClient, simulator: Simulator
) -> None:
    request = body("a fox #ambiguous-504")
    error = create_error(client, request)
    assert (error.http_status, error.code) == (504, "5002")
    assert error.retryable
    assert error.ambiguous

    found = client.find_by_external_id(request["external_task_id"])
    assert found is not None
    assert found.external_task_id == request["external_task_id"]
    assert found.task_id in simulator.tasks
    assert simulator.create_count(request["external_task_id"]) == 1

    duplicate = create_error(client, request)  # why resubmitting blindly is wrong
    assert (duplicate.code, duplicate.retryable) == ("1201", False)


def test_a_malformed_200_on_create_is_ambiguous_and_retryable(client: KlingClient) -> None:
    error = create_error(client, body("a fox #malformed"))
    assert error.http_status == 200
    assert error.code == "malformed"
    assert error.retryable
    assert error.ambiguous


def test_a_create_that_outlives_the_read_timeout_is_ambiguous_and_the_task_exists(
    simulator: Simulator,
) -> None:
    request = body("a fox #slow")
    timeout = httpx.Timeout(5.0, read=0.3)
    with KlingClient(simulator.url, KEY, timeout=timeout) as kling:
        error = create_error(kling, request)
        assert error.code == "ReadTimeout"
        assert error.http_status is None
        assert error.retryable
        assert error.ambiguous
        assert "may or may not have been created" in error.message
        assert kling.find_by_external_id(request["external_task_id"]) is not None
    assert simulator.create_count(request["external_task_id"]) == 1


def test_a_refused_connection_is_retryable_but_not_ambiguous() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with KlingClient(f"http://127.0.0.1:{port}", KEY) as kling:
        error = create_error(kling, body())
    assert error.code == "ConnectError"
    assert error.retryable
    assert not error.ambiguous


def test_a_failing_query_is_retryable_and_never_ambiguous(client: KlingClient) -> None:
    created = client.create_text2video(body("a fox #poll-flaky"))
    with pytest.raises(KlingError) as caught:
        client.get_task(created.task_id)  # the 1st query of a #poll-flaky task is a 500/5000
    assert (caught.value.http_status, caught.value.code) == (500, "5000")
    assert caught.value.retryable
    assert not caught.value.ambiguous
    assert client.get_task(created.task_id).task_id == created.task_id


def test_an_unknown_task_id_is_a_final_not_found_error(client: KlingClient) -> None:
    with pytest.raises(KlingError) as caught:
        client.get_task("880000000000000999")
    assert (caught.value.http_status, caught.value.code) == (404, "1203")
    assert caught.value.not_found
    assert not caught.value.retryable


# ---------------------------------------------------------------- the simulator, response shapes

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def without_external_id(request: dict) -> dict:
    return {key: value for key, value in request.items() if key != "external_task_id"}


@pytest.mark.parametrize("empty", ["empty", "null", "missing"])
def test_empty_fields_as_blank_null_or_missing_read_the_same(
    client: KlingClient, simulator: Simulator, empty: str
) -> None:
    simulator.config.empty_fields = empty
    stalled = client.create_text2video(without_external_id(body("a fox #stall")))
    assert stalled.external_task_id == ""
    running = client.get_task(stalled.task_id)
    assert not running.status.is_final
    assert (running.status_msg, running.videos, running.external_task_id) == ("", (), "")

    created = client.create_text2video(without_external_id(body()))
    done = wait_for(client, created.task_id, lambda t: t.status.is_final)[-1]
    assert done.status is TaskStatus.SUCCEED and done.video.url.endswith(".mp4")
    failed = client.create_text2video(body("a fox #fail-moderation"))
    failed = wait_for(client, failed.task_id, lambda t: t.status.is_final)[-1]
    assert failed.status_msg == "content moderation did not pass"
    assert failed.external_task_id  # a field with something in it is always sent


@pytest.mark.parametrize("message", ["SUCCEED", "success", "Success", "SUCCESS", ""])
def test_the_message_of_a_success_is_never_read(
    client: KlingClient, simulator: Simulator, message: str
) -> None:
    simulator.config.success_message = message
    created = client.create_text2video(body())
    assert created.status is TaskStatus.SUBMITTED
    assert client.get_task(created.task_id).task_id == created.task_id


def test_request_ids_that_are_not_uuids_are_kept_as_sent(simulator: Simulator) -> None:
    simulator.config.request_ids = "gateway"
    with KlingClient(simulator.url, KEY) as kling:
        created = kling.create_text2video(body())
        rejected = create_error(kling, body("a fox #reject-1301"))
        comet = create_error(kling, body("a fox #comet-invalid-request"))
    with KlingClient(simulator.url, "sk-wrong") as stranger:
        refused = create_error(stranger, body())  # CometAPI's own envelope for a bad key
    for request_id in (created.request_id, rejected.request_id, comet.request_id):
        assert re.fullmatch(r"\d{14}[0-9a-f]{16}", request_id), request_id
    assert refused.request_id and not UUID.match(refused.request_id)
    assert (refused.http_status, refused.code, refused.retryable) == (401, "", False)
    assert refused.message.startswith("Invalid token (request id: ")
    assert len({created.request_id, rejected.request_id, comet.request_id}) == 3


def test_answers_without_a_request_id_still_parse(simulator: Simulator) -> None:
    simulator.config.request_ids = "none"
    with KlingClient(simulator.url, KEY) as kling:
        created = kling.create_text2video(body())
        assert kling.get_task(created.task_id).task_id == created.task_id
        rejected = create_error(kling, body("a fox #reject-1301"))
    with KlingClient(simulator.url, "sk-wrong") as stranger:
        refused = create_error(stranger, body())
    assert created.request_id == rejected.request_id == refused.request_id == ""
    assert (rejected.code, refused.code, refused.message) == ("1301", "", "Invalid token")


def test_a_query_answered_without_a_task_counts_as_still_running_and_is_logged(
    client: KlingClient, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.config.request_ids = "gateway"
    created = client.create_text2video(body("a fox #poll-no-task"))
    with caplog.at_level(logging.WARNING, logger="studio.kling.client"):
        odd = client.get_task(created.task_id)  # the 1st query answers `data: null`
    assert odd.task_id == created.task_id
    assert odd.status is TaskStatus.UNKNOWN and not odd.status.is_final
    assert odd.request_id and odd.request_id in caplog.text
    assert client.get_task(created.task_id).status is TaskStatus.SUBMITTED


def test_a_create_answered_without_a_task_is_ambiguous_and_the_task_exists(
    client: KlingClient, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    request = body("a fox #create-no-task")
    with caplog.at_level(logging.WARNING, logger="studio.kling.client"):
        error = create_error(client, request)
    assert (error.http_status, error.code) == (200, "malformed")
    assert error.retryable and error.ambiguous
    assert UUID.match(error.request_id) and error.request_id in caplog.text
    found = client.find_by_external_id(request["external_task_id"])
    assert found is not None and found.task_id in simulator.tasks
    assert simulator.create_count(request["external_task_id"]) == 1


# ---------------------------------------------------------------- the strict simulator, bodies


@pytest.mark.parametrize(
    ("params", "sent"),
    [
        (
            {"model_name": "kling-v3", "mode": "std", "duration": "10", "sound": None},
            {"mode": "std", "aspect_ratio": "16:9", "duration": "10", "sound": "off"},
        ),
        (
            {"model_name": "kling-v3", "mode": "pro", "duration": "5", "sound": "on"},
            {"mode": "pro", "aspect_ratio": "16:9", "duration": "5", "sound": "on"},
        ),
        (
            {"model_name": "kling-v2-6", "mode": "pro", "duration": "5"},
            {"mode": "pro", "aspect_ratio": "16:9", "duration": "5", "sound": "off"},
        ),
        (
            {"model_name": "kling-v2-6", "mode": "std", "duration": "5", "sound": "off"},
            {"mode": "std", "aspect_ratio": "16:9", "duration": "5"},  # silent only: no field
        ),
        (
            {"model_name": "kling-v1", "mode": "std", "duration": "5", "cfg_scale": 0.5},
            {"mode": "std", "aspect_ratio": "16:9", "duration": "5", "cfg_scale": 0.5},
        ),
    ],
    ids=["v3-silent", "v3-sound", "v2-6-pro", "v2-6-std", "v1"],
)
def test_a_body_from_the_capability_table_reaches_the_upstream_as_built(
    client: KlingClient, simulator: Simulator, params: dict, sent: dict
) -> None:
    request = {
        **build_body({"prompt": "a fox in the snow", **params}),
        "external_task_id": "ps-body",
    }
    task = client.create_text2video(request)
    received = simulator.tasks[task.task_id].params
    expected = {"model_name": params["model_name"], "prompt": "a fox in the snow", **sent}
    assert received == {**expected, "external_task_id": "ps-body"}
    assert list(received) == [*ordered_body(expected), "external_task_id"]


@pytest.mark.parametrize("duration", ["3", "12", "15"])
def test_a_kling_v3_duration_outside_cometapis_shape_is_a_final_1201(
    client: KlingClient, simulator: Simulator, duration: str
) -> None:
    error = create_error(client, body(model_name="kling-v3", duration=duration, sound="off"))
    assert (error.http_status, error.code) == (400, "1201")
    assert "5 s or 10 s through CometAPI" in error.message
    assert not error.retryable and not error.ambiguous
    assert simulator.create_count() == 0
    simulator.config.strict = False  # Kling's official shape takes them
    assert client.create_text2video(body(model_name="kling-v3", duration=duration)).task_id


def test_sound_on_where_the_model_makes_none_is_a_final_1201(client: KlingClient) -> None:
    error = create_error(client, body(model_name="kling-v2-6", mode="std", sound="on"))
    assert (error.http_status, error.code) == (400, "1201")
    assert error.message == "Kling 2.6 makes sound only in pro mode."
    assert not error.retryable


# ---------------------------------------------------------------- finding by external id


def test_find_by_external_id_returns_none_when_the_upstream_has_no_such_task(
    client: KlingClient,
) -> None:
    assert client.find_by_external_id("ps-never-sent") is None


def test_find_by_external_id_uses_the_path_form_first(simulator: Simulator) -> None:
    request = body()
    seen: list[str] = []
    with KlingClient("http://sim", KEY, transport=wsgi(recording(simulator, seen))) as kling:
        created = kling.create_text2video(request)
        found = kling.find_by_external_id(request["external_task_id"])
    assert found is not None and found.task_id == created.task_id
    assert seen[-1] == f"GET /kling/v1/videos/text2video/{request['external_task_id']}"


def test_find_by_external_id_falls_back_to_the_query_string_form(simulator: Simulator) -> None:
    request = body()
    seen: list[str] = []
    app = recording(without_item_route(simulator), seen)
    with KlingClient("http://sim", KEY, transport=wsgi(app)) as kling:
        created = kling.create_text2video(request)
        found = kling.find_by_external_id(request["external_task_id"])
    assert found is not None and found.task_id == created.task_id
    assert seen[-2:] == [
        f"GET /kling/v1/videos/text2video/{request['external_task_id']}",
        f"GET /kling/v1/videos/text2video?external_task_id={request['external_task_id']}",
    ]


def test_a_lookup_only_counts_a_task_with_the_same_external_id() -> None:
    other = task_json(task_id="1", external="ps-other")
    stranger = fake([(200, envelope(other)), (200, envelope([other, task_json(task_id="2")]))])
    assert stranger.find_by_external_id("ps-mine") is None

    mine = task_json(task_id="3", external="ps-mine")
    listing = fake([(404, {"code": 1203, "message": "not found"}), (200, envelope([other, mine]))])
    assert listing.find_by_external_id("ps-mine").task_id == "3"


@pytest.mark.parametrize(
    "miss",
    [
        (404, "<html>404 Not Found</html>"),
        (400, {"code": 1201, "message": "Invalid parameter external_task_id"}),
        (400, {"code": 1200, "message": "Invalid request parameters"}),
        (200, envelope(None)),
        (200, envelope([])),
        (200, envelope({})),
    ],
    ids=["html-404", "1201", "1200", "null-data", "empty-list", "empty-object"],
)
def test_a_lookup_that_says_not_found_in_any_way_gives_none(miss: tuple) -> None:
    assert fake([miss, miss]).find_by_external_id("ps-mine") is None


def test_a_lookup_that_fails_for_another_reason_raises() -> None:
    busy = (503, {"code": 5001, "message": "service temporarily unavailable"})
    with pytest.raises(KlingError) as caught:
        fake([busy]).find_by_external_id("ps-mine")
    assert caught.value.retryable
    assert not caught.value.ambiguous


# ---------------------------------------------------------------- shapes only a fake can make


def test_a_new_api_task_failed_error_keeps_its_string_code_and_message() -> None:
    answer = (400, {"code": "task_failed", "message": "invalid model name", "data": None})
    error = create_error(fake([answer]), body())
    assert (error.http_status, error.code) == (400, "task_failed")
    assert error.message == "invalid model name"
    assert not error.retryable
    assert not error.ambiguous


def test_a_200_with_a_non_zero_code_is_an_error() -> None:
    answer = (200, {"code": 1303, "message": "parallel task over resource pack limit"})
    error = create_error(fake([answer]), body())
    assert (error.http_status, error.code) == (200, "1303")
    assert error.retryable
    assert not error.ambiguous


def test_1102_is_final_even_though_it_comes_as_http_429() -> None:
    answer = (429, {"code": 1102, "message": "resource pack exhausted"})
    error = create_error(fake([answer]), body())
    assert error.code == "1102"
    assert not error.retryable


@pytest.mark.parametrize(
    ("status", "content", "retryable", "ambiguous"),
    [
        (502, "", True, True),
        (503, "<html><body>Service Unavailable</body></html>", True, True),
        (404, "<html><body>Not Found</body></html>", False, False),
        (200, "<html><body>Welcome to nginx!</body></html>", True, True),
        (200, "", True, True),
        (200, '{"code": 0, "message": "SUCCEED", "data": {"task_id": "88', True, True),
        (200, '["not", "an", "envelope"]', True, True),
    ],
    ids=["empty-502", "html-503", "html-404", "html-200", "empty-200", "cut-200", "list-200"],
)
def test_non_json_and_malformed_bodies_become_errors(
    status: int, content: str, retryable: bool, ambiguous: bool
) -> None:
    create = create_error(fake([(status, content)]), body())
    assert create.http_status == status
    assert create.retryable is retryable
    assert create.ambiguous is ambiguous
    assert create.message

    with pytest.raises(KlingError) as query:
        fake([(status, content)]).get_task("1")
    assert query.value.retryable is retryable
    assert not query.value.ambiguous


def test_retry_after_as_an_http_date_becomes_seconds_from_now() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    answer = (429, {"error": {"code": "", "message": "rate limited"}}, {"Retry-After": later})
    error = create_error(fake([answer]), body())
    assert error.retryable
    assert 115 <= error.retry_after <= 120


def test_a_numeric_task_id_and_a_null_status_msg_are_normalised() -> None:
    data = {**task_json(external="ps-1"), "task_id": 880000000000000123, "task_status_msg": None}
    task = fake([(200, envelope(data))]).get_task("880000000000000123")
    assert task.task_id == "880000000000000123"
    assert task.status_msg == ""


def test_a_success_with_error_null_is_a_success() -> None:
    answer = (200, {**envelope(task_json(external="ps-1")), "error": None})
    assert fake([answer]).create_text2video(body()).external_task_id == "ps-1"


@pytest.mark.parametrize(
    "data",
    [{"task_id": {"id": "1"}}, {"task_id": True}, {"task_id": " "}, ["1"], "1"],
    ids=["dict-id", "bool-id", "blank-id", "list", "string"],
)
def test_a_success_without_a_readable_task_is_running_for_a_query_and_ambiguous_for_a_create(
    data: object,
) -> None:
    task = fake([(200, envelope(data))]).get_task("880000000000000123")
    assert (task.task_id, task.status) == ("880000000000000123", TaskStatus.UNKNOWN)
    assert task.request_id == "req-1"
    error = create_error(fake([(200, envelope(data))]), body())
    assert (error.code, error.retryable, error.ambiguous) == ("malformed", True, True)


def test_numbers_the_client_cannot_use_become_none_instead_of_raising() -> None:
    data = {
        **task_json(),
        "created_at": 1e300,
        "updated_at": "NaN",
        "final_unit_deduction": "Infinity",
        "task_result": {"videos": [{"id": "v", "url": "https://cdn.test/v.mp4", "duration": []}]},
    }
    task = fake([(200, envelope(data))]).get_task("1")
    assert (task.created_at, task.updated_at, task.final_unit_deduction) == (None, None, None)
    assert task.video.duration is None


def test_an_unknown_status_is_kept_raw_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    data = {**task_json(), "task_status": "succeeded"}
    with caplog.at_level(logging.WARNING, logger="studio.kling.client"):
        task = fake([(200, envelope(data))]).get_task("1")
    assert task.status is TaskStatus.UNKNOWN
    assert not task.status.is_final
    assert task.raw_status == "succeeded"
    assert "succeeded" in caplog.text


def test_a_callback_body_parses_as_a_bare_task_object() -> None:
    callback = {
        "task_id": "880000000000000123",
        "task_status": "succeed",
        "task_status_msg": "",
        "created_at": 1767225600000,
        "updated_at": 1767225702000,
        "final_unit_deduction": "1",
        "task_info": {"external_task_id": "ps-7d3f2c"},
        "task_result": {
            "videos": [{"id": "vid_0a1b2c", "url": "https://cdn.test/a.mp4", "duration": "5.042"}]
        },
    }
    task = parse_task(callback)
    assert task.status is TaskStatus.SUCCEED
    assert task.external_task_id == "ps-7d3f2c"
    assert task.video.duration == Decimal("5.042")
    assert task.updated_at == datetime(2026, 1, 1, 0, 1, 42, tzinfo=UTC)
    assert task.final_unit_deduction == Decimal("1")
    with pytest.raises(KlingError):
        parse_task({"task_status": "succeed"})


def test_the_api_key_never_appears_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk-very-secret-key"
    echo = (401, {"error": {"code": "", "message": f"Invalid token {secret}"}})
    with caplog.at_level(logging.DEBUG):
        kling = fake([echo], key=secret)
        error = create_error(kling, body())
    assert error.message == "Invalid token ***"
    for text in (repr(error), str(error), repr(error.details), repr(kling), caplog.text):
        assert secret not in text


def test_the_client_sends_bearer_json_and_does_not_follow_redirects() -> None:
    http = build_http_client("https://api.cometapi.com/", KEY, None, None, 8)
    assert http.headers["Authorization"] == f"Bearer {KEY}"
    assert http.timeout == DEFAULT_TIMEOUT == httpx.Timeout(connect=5, read=30, write=10, pool=5)
    assert not http.follow_redirects
    http.close()

    seen: list[dict] = []
    created = task_json(external="ps-1")
    fake([(200, envelope(created))], seen=seen).create_text2video({"prompt": "x"})
    assert seen[0]["HTTP_AUTHORIZATION"] == f"Bearer {KEY}"
    assert seen[0]["CONTENT_TYPE"] == "application/json"
    assert json.loads(seen[0]["body"]) == {"prompt": "x"}
