"""The simulator keeps the upstream contract: routes, validation, lifecycle, faults, videos.

Sections (§n) are those of docs/upstream.md.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import httpx
import pytest
from PIL import ImageChops

from studio.kling.capabilities import MODELS
from studio.kling.simulator import SimConfig, Simulator, render_mp4
from studio.kling.simulator.__main__ import parse_args
from tests.conftest import SIM_API_KEY, create_body

ROOT = Path(__file__).resolve().parents[1]
T2V = "/kling/v1/videos/text2video"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def body(**fields: object) -> dict:
    """A valid create body; keyword arguments replace or add fields (None removes one)."""
    text = {"prompt": "A red fox trots through fresh snow at dawn", "aspect_ratio": "16:9"}
    return create_body(**{**text, **fields})


def create(api: httpx.Client, **fields: object) -> httpx.Response:
    return api.post(T2V, json=body(**fields))


def task_id_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["data"]["task_id"]


def wait_for(api: httpx.Client, task_id: str, *statuses: str, within: float = 3.0) -> dict:
    deadline = time.monotonic() + within
    while True:
        data = api.get(f"{T2V}/{task_id}").json()["data"]
        if data["task_status"] in statuses or time.monotonic() > deadline:
            assert data["task_status"] in statuses, data
            return data
        time.sleep(0.05)


def rejection(response: httpx.Response, status: int, code: int) -> str:
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["code"] == code
    assert "data" not in payload
    assert UUID4.match(payload["request_id"])
    return payload["message"]


def accepted_or_refused(response: httpx.Response, accepted: bool) -> None:
    """Accepted: 200. Refused: 400 with code 1201 (a field the model does not take)."""
    if accepted:
        assert response.status_code == 200, response.text
    else:
        rejection(response, 400, 1201)


# -- the envelope and routes ------------------------------------------------------------


def test_create_answers_the_kling_envelope_with_a_numeric_string_id(
    api: httpx.Client, simulator: Simulator
) -> None:
    external = str(uuid.uuid4())
    response = create(api, external_task_id=external)
    payload = response.json()
    assert response.status_code == 200
    assert payload["code"] == 0 and payload["message"] == "SUCCEED"
    assert UUID4.match(payload["request_id"])
    data = payload["data"]
    assert re.fullmatch(r"\d{18,19}", data["task_id"])
    assert data["task_status"] == "submitted"
    assert data["task_info"] == {"external_task_id": external}
    assert data["created_at"] > 1e12 and data["updated_at"] == data["created_at"]
    assert simulator.create_count() == 1 and simulator.create_count(external) == 1
    assert data["task_id"] in simulator.tasks


def test_task_ids_are_unique_across_many_creates(api: httpx.Client) -> None:
    ids = {task_id_of(create(api)) for _ in range(30)}
    assert len(ids) == 30
    assert all(re.fullmatch(r"\d{18,19}", task_id) for task_id in ids)


def test_timestamps_can_be_switched_to_seconds(api: httpx.Client, simulator: Simulator) -> None:
    simulator.config.timestamps_in_seconds = True
    data = create(api).json()["data"]
    assert 1e9 < data["created_at"] < 1e11


@pytest.mark.parametrize(
    ("empty", "msg", "result", "info"),
    [
        ("empty", "", {}, {}),
        ("null", None, None, {"external_task_id": None}),
        ("missing", ..., ..., ...),
    ],
)
def test_empty_fields_can_be_blank_null_or_missing(
    api: httpx.Client, simulator: Simulator, empty: str, msg: object, result: object, info: object
) -> None:
    simulator.config.empty_fields = empty
    created = create(api, prompt="a fox #stall", external_task_id=None).json()["data"]
    data = wait_for(api, created["task_id"], "processing")
    for key, expected in (("task_status_msg", msg), ("task_result", result), ("task_info", info)):
        if expected is ...:
            assert key not in data
        else:
            assert data[key] == expected
    assert created.get("task_info", ...) == info
    external = str(uuid.uuid4())
    kept = create(api, prompt="a fox #fail", external_task_id=external).json()["data"]
    assert kept["task_info"] == {"external_task_id": external}
    assert wait_for(api, kept["task_id"], "failed")["task_status_msg"]


def test_request_ids_can_be_a_gateways_own_or_left_out(
    api: httpx.Client, simulator: Simulator
) -> None:
    simulator.config.request_ids = "gateway"
    assert re.fullmatch(r"\d{14}[0-9a-f]{16}", create(api).json()["request_id"])
    comet = create(api, prompt="a fox #comet-invalid-request").json()["error"]["message"]
    assert re.fullmatch(r"invalid request \(request id: \d{14}[0-9a-f]{16}\)", comet)
    simulator.config.request_ids = "none"
    assert "request_id" not in create(api).json()
    assert "request_id" not in create(api, prompt="a fox #reject-1301").json()
    wrong = api.post(T2V, json=body(), headers={"Authorization": "Bearer sk-wrong"})
    assert wrong.json()["error"]["message"] == "Invalid token"


def test_the_message_of_a_success_can_be_switched(api: httpx.Client, simulator: Simulator) -> None:
    simulator.config.success_message = "success"
    created = create(api).json()
    assert created["message"] == "success"
    assert api.get(f"{T2V}/{created['data']['task_id']}").json()["message"] == "success"
    assert create(api, prompt="a fox #reject-1301").json()["message"].startswith("Content")


def test_the_shape_switches_take_only_their_choices(simulator: Simulator) -> None:
    url = f"{simulator.url}/_sim/config"
    for name in ("request_ids", "empty_fields"):
        answer = httpx.post(url, json={name: "sometimes"}, trust_env=False)
        assert answer.status_code == 400 and name in answer.json()["error"]
    with pytest.raises(ValueError, match="empty_fields"):
        SimConfig(empty_fields="blank")
    ok = httpx.post(url, json={"request_ids": "none", "empty_fields": "null"}, trust_env=False)
    assert ok.status_code == 200
    assert (simulator.config.request_ids, simulator.config.empty_fields) == ("none", "null")


def test_a_task_is_found_by_id_by_external_id_path_and_by_query_string(api: httpx.Client) -> None:
    external = f"ps-{uuid.uuid4()}"
    task_id = task_id_of(create(api, external_task_id=external, prompt="hello #stall"))
    by_id = api.get(f"{T2V}/{task_id}").json()["data"]
    by_path = api.get(f"{T2V}/{external}").json()["data"]
    by_query = api.get(T2V, params={"external_task_id": external}).json()["data"]
    assert by_id["task_id"] == by_path["task_id"] == by_query["task_id"] == task_id
    assert by_query["task_info"] == {"external_task_id": external}


def test_an_unknown_task_is_a_404_with_code_1203(api: httpx.Client) -> None:
    rejection(api.get(f"{T2V}/123456789012345678"), 404, 1203)
    rejection(api.get(T2V, params={"external_task_id": "nobody"}), 404, 1203)


def test_unknown_routes_and_methods_answer_json_404s(api: httpx.Client) -> None:
    assert "route not found" in rejection(api.get("/v1/videos/text2video"), 404, 1203)
    rejection(api.get("/kling/v1/videos/lip-sync/1"), 404, 1203)
    rejection(api.delete(f"{T2V}/1"), 404, 1202)
    rejection(api.get(T2V), 404, 1203)  # the list is off by default (§2: CometAPI has none)


def test_image2video_checks_its_image(api: httpx.Client) -> None:
    # Its every rule: tests/test_image2video_upstream.py.
    message = rejection(api.post("/kling/v1/videos/image2video", json={"image": "x"}), 400, 1201)
    assert "Invalid parameter image" in message


def test_the_list_endpoint_pages_newest_first_when_enabled(
    api: httpx.Client, simulator: Simulator
) -> None:
    simulator.config.list_endpoint = True
    ids = [task_id_of(create(api)) for _ in range(3)]
    page = api.get(T2V, params={"pageNum": 1, "pageSize": 2}).json()["data"]
    assert [task["task_id"] for task in page] == [ids[2], ids[1]]
    second = api.get(T2V, params={"pageNum": 2, "pageSize": 2}).json()["data"]
    assert [task["task_id"] for task in second] == [ids[0]]
    rejection(api.get(T2V, params={"pageSize": 501}), 400, 1201)


# -- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer", "Basic sk-test", "Bearer sk-wrong"])
def test_a_missing_or_wrong_key_gets_the_comet_401(
    simulator: Simulator, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.post(f"{simulator.url}{T2V}", json=body(), headers=headers, trust_env=False)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "comet_api_error" and "request id" in error["message"]
    assert simulator.create_count() == 0


@pytest.mark.parametrize(("header", "code"), [(None, 1000), ("Bearer sk-wrong", 1002)])
def test_the_kling_auth_style_answers_1000_or_1002(
    simulator: Simulator, header: str | None, code: int
) -> None:
    simulator.config.auth_style = "kling"
    headers = {"Authorization": header} if header else {}
    response = httpx.get(f"{simulator.url}{T2V}/1", headers=headers, trust_env=False)
    rejection(response, 401, code)


def test_without_a_configured_key_any_sk_token_passes() -> None:
    sim = Simulator(SimConfig(api_key=None))
    with httpx.Client(transport=httpx.WSGITransport(app=sim), base_url="http://sim") as client:
        ok = client.post(T2V, json=body(), headers={"Authorization": "Bearer sk-anything"})
        bad = client.post(T2V, json=body(), headers={"Authorization": "Bearer pk-anything"})
    sim.close()
    assert ok.status_code == 200 and bad.status_code == 401


def test_the_authorization_header_is_never_logged(
    api: httpx.Client, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = "sk-canary-5f2e9c"
    simulator.config.api_key = canary
    api.headers["Authorization"] = f"Bearer {canary}"
    task_id_of(create(api))
    api.headers["Authorization"] = "Bearer sk-not-it"
    api.get(f"{T2V}/1")
    assert any("/kling/v1/videos/text2video" in r.getMessage() for r in caplog.records)
    assert canary not in caplog.text and "sk-not-it" not in caplog.text


# -- validation -------------------------------------------------------------------------


def test_an_unknown_model_is_400_with_code_1203(api: httpx.Client, simulator: Simulator) -> None:
    message = rejection(create(api, model_name="kling-v3-omni"), 400, 1203)
    assert "invalid model name" in message
    assert simulator.create_count() == 0


@pytest.mark.parametrize(
    ("strict", "field", "length", "accepted"),
    [
        (True, "prompt", 500, True),
        (True, "prompt", 501, False),
        (True, "negative_prompt", 200, True),
        (True, "negative_prompt", 201, False),
        (False, "prompt", 2500, True),
        (False, "prompt", 2501, False),
        (False, "negative_prompt", 2500, True),
        (False, "negative_prompt", 2501, False),
    ],
)
def test_prompt_limits_are_strict_or_upstream(
    api: httpx.Client, simulator: Simulator, strict: bool, field: str, length: int, accepted: bool
) -> None:
    simulator.config.strict = strict
    response = create(api, **{field: "x" * length})
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert "limit" in rejection(response, 400, 1201)


@pytest.mark.parametrize(
    "fields",
    [
        {"mode": "ultra"},
        {"aspect_ratio": "4:3"},
        {"duration": "7"},
        {"sound": "loud"},
        {"prompt": "   "},
        {"prompt": None},
    ],
)
def test_bad_values_are_400_with_code_1201(
    api: httpx.Client, simulator: Simulator, fields: dict
) -> None:
    rejection(create(api, **fields), 400, 1201)
    assert simulator.create_count() == 0


@pytest.mark.parametrize("field", ["duration", "prompt", "mode", "external_task_id"])
def test_string_fields_must_be_strings(api: httpx.Client, field: str) -> None:
    assert "must be a string" in rejection(create(api, **{field: 5}), 400, 1201)


@pytest.mark.parametrize(
    ("fields", "accepted"),
    [
        ({"model_name": "kling-v1", "cfg_scale": 0.5}, True),
        ({"model_name": "kling-v2-6", "cfg_scale": 0.5}, False),  # §4: no cfg_scale on v2.x
        ({"model_name": "kling-v1", "cfg_scale": 1.5}, False),
        ({"model_name": "kling-v2-master", "mode": None}, True),
        ({"model_name": "kling-v2-master", "mode": "std"}, False),  # no std/pro split
        ({"model_name": "kling-v3", "duration": "10"}, True),
        ({"model_name": "kling-v3", "duration": "12"}, False),  # strict: §15, 5 or 10 only
        ({"model_name": "kling-v2-6", "duration": "12"}, False),
        ({"model_name": "kling-v2-6", "mode": "pro", "sound": "on"}, True),
        ({"model_name": "kling-v2-6", "mode": "std", "sound": "on"}, False),
        ({"model_name": None, "mode": "pro", "duration": "10"}, True),  # omitted: kling-v1
    ],
)
def test_the_capability_matrix_is_enforced(api: httpx.Client, fields: dict, accepted: bool) -> None:
    accepted_or_refused(create(api, **fields), accepted)


V1_STD_5 = {"model_name": "kling-v1", "mode": "std", "duration": "5"}


@pytest.mark.parametrize(
    ("fields", "accepted"),
    [
        ({**V1_STD_5, "camera_control": {"type": "simple", "config": {"zoom": 5}}}, True),
        (
            {
                **V1_STD_5,
                "camera_control": {
                    "type": "simple",
                    "config": dict.fromkeys(("horizontal", "vertical", "pan", "roll"), 0)
                    | {"tilt": -3.5, "zoom": 0},
                },
            },
            True,
        ),
        ({**V1_STD_5, "camera_control": {"type": "down_back"}}, True),
        (
            {**V1_STD_5, "camera_control": {"type": "simple", "config": {"zoom": 5, "pan": 1}}},
            False,
        ),
        ({**V1_STD_5, "camera_control": {"type": "simple", "config": {}}}, False),
        ({**V1_STD_5, "camera_control": {"type": "simple"}}, False),
        ({**V1_STD_5, "camera_control": {"type": "simple", "config": {"zoom": 11}}}, False),
        ({**V1_STD_5, "camera_control": {"type": "forward_up", "config": {"zoom": 1}}}, False),
        ({**V1_STD_5, "camera_control": {"type": "orbit"}}, False),
    ],
)
def test_camera_control_rules(api: httpx.Client, fields: dict, accepted: bool) -> None:
    accepted_or_refused(create(api, **fields), accepted)


@pytest.mark.parametrize(
    "fields",
    [
        {"model_name": "kling-v1", "mode": "pro", "duration": "5"},
        {"model_name": "kling-v1", "mode": "std", "duration": "10"},
        {"model_name": "kling-v2-6", "mode": "std", "duration": "5"},
    ],
)
def test_camera_control_outside_v1_std_5s_gives_the_live_message(
    api: httpx.Client, fields: dict
) -> None:
    camera = {"type": "simple", "config": {"pan": 2}}
    message = rejection(create(api, **fields, camera_control=camera), 400, 1201)
    assert message == "camera_control is only supported in std mode with 5s duration and kling-v1"


def test_a_duplicate_external_task_id_is_400_with_code_1201(
    api: httpx.Client, simulator: Simulator
) -> None:
    task_id_of(create(api, external_task_id="dup-1"))
    assert "already exists" in rejection(create(api, external_task_id="dup-1"), 400, 1201)
    assert simulator.create_count("dup-1") == 1


def test_concurrent_creates_with_one_external_id_make_one_task(simulator: Simulator) -> None:
    codes: list[int] = []

    def post() -> None:
        response = httpx.post(
            f"{simulator.url}{T2V}",
            json=body(external_task_id="race"),
            headers={"Authorization": f"Bearer {SIM_API_KEY}"},
            trust_env=False,
        )
        codes.append(response.status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200] + [400] * 7
    assert simulator.create_count("race") == 1


def test_a_body_that_is_not_json_is_rejected(api: httpx.Client) -> None:
    response = api.post(T2V, content=b"{not json", headers={"Content-Type": "application/json"})
    rejection(response, 400, 1200)


# -- CometAPI's documented shape (strict, the default) and Kling's official one ----------


def test_tests_run_the_strict_simulator(simulator: Simulator) -> None:
    assert simulator.config.strict and SimConfig().strict


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("duration", ["3", "4", "5", "6", "10", "12", "15"])
def test_strict_mode_takes_5_or_10_seconds_from_every_model(
    api: httpx.Client, simulator: Simulator, model: str, duration: str
) -> None:
    mode = "std" if MODELS[model].modes else None
    response = create(api, model_name=model, mode=mode, duration=duration)
    if duration in ("5", "10"):
        task_id = task_id_of(response)
        assert simulator.tasks[task_id].params["duration"] == duration
    else:
        assert "makes videos of 5 s or 10 s" in rejection(response, 400, 1201)
        assert simulator.create_count() == 0


def test_strict_mode_says_why_kling_v3_takes_less_than_officially(api: httpx.Client) -> None:
    message = rejection(create(api, model_name="kling-v3", duration="12"), 400, 1201)
    assert message == (
        "Kling 3.0 makes videos of 5 s or 10 s through CometAPI "
        "(other values are outside its request shape)."
    )


@pytest.mark.parametrize(
    ("model", "duration", "accepted"),
    [
        *(("kling-v3", str(seconds), True) for seconds in range(3, 16)),
        ("kling-v3", "2", False),
        ("kling-v3", "16", False),
        ("kling-v2-6", "12", False),  # §4: the official range is kling-v3's alone
        ("kling-v1", "3", False),
    ],
)
def test_the_official_shape_takes_kling_v3_from_3_to_15_seconds(
    api: httpx.Client, simulator: Simulator, model: str, duration: str, accepted: bool
) -> None:
    simulator.config.strict = False
    response = create(api, model_name=model, duration=duration)
    if accepted:
        task_id_of(response)
    else:
        rejection(response, 400, 1201)


def test_the_shape_switches_at_runtime_through_sim_config(
    api: httpx.Client, simulator: Simulator
) -> None:
    url = f"{simulator.url}/_sim/config"
    assert httpx.get(url, trust_env=False).json()["strict"] is True
    rejection(create(api, model_name="kling-v3", duration="12"), 400, 1201)
    assert httpx.post(url, json={"strict": False}, trust_env=False).json()["strict"] is False
    task_id_of(create(api, model_name="kling-v3", duration="12"))


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(
    ("ratio", "accepted"),
    [
        ("16:9", True),
        ("9:16", True),
        ("1:1", True),
        *((ratio, False) for ratio in ("4:3", "3:4", "3:2", "2:3", "21:9", "16-9", "")),
    ],
)
def test_only_the_three_video_ratios_are_taken(
    api: httpx.Client, simulator: Simulator, strict: bool, ratio: str, accepted: bool
) -> None:
    simulator.config.strict = strict
    response = create(api, aspect_ratio=ratio)
    if accepted:
        assert simulator.tasks[task_id_of(response)].params["aspect_ratio"] == ratio
    else:
        assert "16:9, 9:16, 1:1" in rejection(response, 400, 1201)


@pytest.mark.parametrize(
    ("sound", "accepted"),
    [("off", True), ("on", True), ("OFF", False), ("On", False), ("true", False), ("", False)],
)
def test_sound_is_off_or_on(api: httpx.Client, sound: str, accepted: bool) -> None:
    response = create(api, model_name="kling-v3", sound=sound)
    if accepted:
        task_id_of(response)
    else:
        assert rejection(response, 400, 1201) == "sound must be on or off."


@pytest.mark.parametrize("value", [True, False, 1, 0])
def test_sound_must_be_a_string(api: httpx.Client, value: object) -> None:
    message = rejection(create(api, model_name="kling-v3", sound=value), 400, 1201)
    assert message == "Invalid parameter sound: must be a string"


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ({"model_name": "kling-v3", "mode": "std"}, ""),
        ({"model_name": "kling-v3", "mode": "pro"}, ""),
        ({"model_name": "kling-v2-6", "mode": "pro"}, ""),
        ({"model_name": "kling-v2-6", "mode": "std"}, "Kling 2.6 makes sound only in pro mode."),
        ({"model_name": "kling-v1", "mode": "std"}, "Kling 1.0 makes no sound."),
        ({"model_name": "kling-v2-master", "mode": None}, "Kling 2.0 Master makes no sound."),
        ({"model_name": "kling-v2-5-turbo", "mode": "pro"}, "Kling 2.5 Turbo makes no sound."),
    ],
)
def test_sound_on_is_taken_only_where_the_model_makes_sound(
    api: httpx.Client, fields: dict, refusal: str
) -> None:
    response = create(api, sound="on", **fields)
    if refusal:
        assert rejection(response, 400, 1201) == refusal
    else:
        task_id_of(response)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_sound_off_is_taken_from_every_model(api: httpx.Client, model: str) -> None:
    task_id_of(
        create(api, model_name=model, mode="std" if MODELS[model].modes else None, sound="off")
    )


@pytest.mark.parametrize(
    ("strict", "sound", "units"),
    [
        (True, None, "2"),  # strict: the "model default" read the costly way (§15)
        (True, "off", "1"),
        (True, "on", "2"),
        (False, None, "1"),  # official: the default is off
        (False, "on", "2"),
    ],
)
def test_an_omitted_sound_is_billed_as_on_in_strict_mode(
    api: httpx.Client, simulator: Simulator, strict: bool, sound: str | None, units: str
) -> None:
    simulator.config.strict = strict
    task_id = task_id_of(create(api, model_name="kling-v3", mode="std", duration="5", sound=sound))
    assert wait_for(api, task_id, "succeed")["final_unit_deduction"] == units
    assert simulator.tasks[task_id].sound is (units == "2")


def test_a_model_without_sound_is_never_billed_for_it(
    api: httpx.Client, simulator: Simulator
) -> None:
    task_id = task_id_of(create(api, model_name="kling-v2-6", mode="std", duration="5"))
    assert wait_for(api, task_id, "succeed")["final_unit_deduction"] == "1"
    assert simulator.tasks[task_id].sound is False


def test_the_cli_serves_the_strict_shape_unless_told_no_strict() -> None:
    assert parse_args([]).strict is True
    assert parse_args(["--no-strict"]).strict is False
    assert "CometAPI's documented request shape" in subprocess.run(
        [sys.executable, "-m", "studio.kling.simulator", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


# -- lifecycle --------------------------------------------------------------------------


def test_a_task_moves_from_submitted_through_processing_to_succeed(
    api: httpx.Client, simulator: Simulator
) -> None:
    task_id = task_id_of(create(api, duration="10", aspect_ratio="9:16"))
    seen = [api.get(f"{T2V}/{task_id}").json()["data"]["task_status"]]
    assert seen == ["submitted"]
    assert wait_for(api, task_id, "processing", "succeed")["task_status"] == "processing"
    data = wait_for(api, task_id, "succeed")
    video = data["task_result"]["videos"][0]
    assert set(video) == {"id", "url", "duration"}
    assert video["duration"] == "10.0"
    assert video["url"] == f"{simulator.url}/_sim/videos/{task_id}.mp4"
    assert data["watermark_info"] == {"enabled": False}
    assert isinstance(data["final_unit_deduction"], str)
    assert data["task_status_msg"] == ""
    assert data["updated_at"] > data["created_at"]


def test_tasks_advance_without_being_queried(api: httpx.Client, simulator: Simulator) -> None:
    task_id = task_id_of(create(api))
    deadline = time.monotonic() + 2
    while simulator.tasks[task_id].status != "succeed" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert simulator.tasks[task_id].status == "succeed"  # the ticker moved it, no query did


@pytest.mark.parametrize(
    ("keyword", "reason"),
    [("#fail-moderation", "content moderation did not pass"), ("#fail", "generation failed")],
)
def test_a_failed_task_is_http_200_code_0_with_the_reason(
    api: httpx.Client, keyword: str, reason: str
) -> None:
    task_id = task_id_of(create(api, prompt=f"a fox {keyword}"))
    wait_for(api, task_id, "failed")
    response = api.get(f"{T2V}/{task_id}")
    payload = response.json()
    assert response.status_code == 200
    assert payload["code"] == 0 and payload["message"] == "SUCCEED"
    assert reason in payload["data"]["task_status_msg"]
    assert payload["data"]["task_result"] == {}


def test_a_stalled_task_stays_processing(api: httpx.Client, simulator: Simulator) -> None:
    simulator.config.processing_after, simulator.config.finish_after = 0.05, 0.1
    task_id = task_id_of(create(api, prompt="a fox #stall"))
    time.sleep(0.3)
    assert api.get(f"{T2V}/{task_id}").json()["data"]["task_status"] == "processing"


def test_creates_beyond_max_in_flight_get_429_1303_until_a_slot_frees(
    api: httpx.Client, simulator: Simulator
) -> None:
    simulator.config.max_in_flight = 1
    first = task_id_of(create(api))
    busy = create(api)
    assert "parallel task" in rejection(busy, 429, 1303)
    assert busy.headers["Retry-After"] == "1"
    wait_for(api, first, "succeed")
    task_id_of(create(api))


class _Receiver:
    """A tiny HTTP server that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/kling/secret-token/"
        serve = self.server.serve_forever
        threading.Thread(target=serve, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def wait_for(self, count: int, within: float = 3.0) -> list[dict]:
        deadline = time.monotonic() + within
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.bodies

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    receiver = _Receiver()
    yield receiver
    receiver.close()


def test_callbacks_post_the_bare_task_object_on_each_change(
    api: httpx.Client, receiver: _Receiver
) -> None:
    task_id = task_id_of(create(api, callback_url=receiver.url))
    bodies = receiver.wait_for(2)
    assert [b["task_status"] for b in bodies] == ["processing", "succeed"]
    assert all(b["task_id"] == task_id and "code" not in b and "data" not in b for b in bodies)
    assert bodies[1]["task_result"]["videos"][0]["url"].endswith(f"/{task_id}.mp4")
    assert bodies[1]["updated_at"] >= bodies[0]["updated_at"]


def test_callbacks_can_be_delivered_twice(
    api: httpx.Client, simulator: Simulator, receiver: _Receiver
) -> None:
    simulator.config.duplicate_callbacks = True
    task_id_of(create(api, prompt="a fox #fail", callback_url=receiver.url))
    statuses = [b["task_status"] for b in receiver.wait_for(4)]
    assert statuses == ["processing", "processing", "failed", "failed"]


def test_callbacks_can_be_switched_off(
    api: httpx.Client, simulator: Simulator, receiver: _Receiver
) -> None:
    simulator.config.callbacks = False
    task_id = task_id_of(create(api, callback_url=receiver.url))
    wait_for(api, task_id, "succeed")
    time.sleep(0.1)
    assert receiver.bodies == []


def test_an_unreachable_callback_url_changes_nothing(
    api: httpx.Client, simulator: Simulator
) -> None:
    task_id = task_id_of(create(api, callback_url="http://127.0.0.1:9/nowhere"))
    wait_for(api, task_id, "succeed")
    deadline = time.monotonic() + 2
    while simulator.stats()["callbacks"]["failed"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert simulator.stats()["callbacks"]["failed"] == 2


# -- scripted faults --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "status", "code"),
    [
        ("#rate-1302", 429, 1302),
        ("#busy-1303", 429, 1303),
        ("#error-5000", 500, 5000),
        ("#unavailable-5001", 503, 5001),
    ],
)
def test_first_attempt_faults_create_nothing_and_the_retry_works(
    api: httpx.Client, simulator: Simulator, keyword: str, status: int, code: int
) -> None:
    external = str(uuid.uuid4())
    first = create(api, prompt=f"a fox {keyword}", external_task_id=external)
    rejection(first, status, code)
    if status in (429, 503):
        assert first.headers["Retry-After"] == "1"
    assert simulator.create_count(external) == 0
    task_id_of(create(api, prompt=f"a fox {keyword}", external_task_id=external))
    assert simulator.create_count(external) == 1


def test_first_attempt_is_tracked_per_prompt_without_an_external_id(
    api: httpx.Client, simulator: Simulator
) -> None:
    rejection(create(api, prompt="one #rate-1302", external_task_id=None), 429, 1302)
    task_id_of(create(api, prompt="one #rate-1302", external_task_id=None))
    rejection(create(api, prompt="two #rate-1302", external_task_id=None), 429, 1302)
    assert simulator.create_count() == 1


def test_reject_1301_refuses_every_attempt(api: httpx.Client, simulator: Simulator) -> None:
    external = str(uuid.uuid4())
    for _ in range(2):
        rejection(create(api, prompt="a fox #reject-1301", external_task_id=external), 400, 1301)
    assert simulator.create_count() == 0


def test_ambiguous_504_creates_the_task_then_answers_5002(
    api: httpx.Client, simulator: Simulator
) -> None:
    external = str(uuid.uuid4())
    rejection(create(api, prompt="a fox #ambiguous-504", external_task_id=external), 504, 5002)
    assert simulator.create_count(external) == 1
    found = api.get(T2V, params={"external_task_id": external}).json()["data"]
    assert found["task_info"] == {"external_task_id": external}
    retry = create(api, prompt="a fox #ambiguous-504", external_task_id=external)
    rejection(retry, 400, 1201)  # resubmitting is refused: reconcile instead
    assert simulator.create_count() == 1


def test_malformed_answers_200_with_broken_json_and_creates_nothing(
    api: httpx.Client, simulator: Simulator
) -> None:
    external = str(uuid.uuid4())
    response = create(api, prompt="a fox #malformed", external_task_id=external)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    assert simulator.create_count() == 0
    task_id_of(create(api, prompt="a fox #malformed", external_task_id=external))


def test_slow_creates_the_task_and_answers_after_the_read_timeout(
    api: httpx.Client, simulator: Simulator
) -> None:
    simulator.config.slow_seconds = 0.6
    external = str(uuid.uuid4())
    with pytest.raises(httpx.ReadTimeout):
        api.post(T2V, json=body(prompt="a fox #slow", external_task_id=external), timeout=0.2)
    assert simulator.create_count(external) == 1
    started = time.monotonic()
    retry = create(api, prompt="a fox #slow", external_task_id=external)
    assert time.monotonic() - started < 0.5  # only the first attempt is slow
    rejection(retry, 400, 1201)


@pytest.mark.parametrize(
    ("keyword", "status", "code"),
    [("#comet-invalid-request", 500, "invalid_request"), ("#comet-524", 524, "")],
)
def test_comet_envelope_faults(
    api: httpx.Client, simulator: Simulator, keyword: str, status: int, code: str
) -> None:
    response = create(api, prompt=f"a fox {keyword}")
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == "comet_api_error" and error["code"] == code
    assert simulator.create_count() == 0


def test_comet_invalid_request_repeats_but_524_only_hits_the_first_attempt(
    api: httpx.Client,
) -> None:
    external = str(uuid.uuid4())
    for _ in range(2):
        answer = create(api, prompt="x #comet-invalid-request", external_task_id=external)
        assert answer.status_code == 500
    external = str(uuid.uuid4())
    assert create(api, prompt="x #comet-524", external_task_id=external).status_code == 524
    task_id_of(create(api, prompt="x #comet-524", external_task_id=external))


def test_html_301_answers_a_redirect_page_every_time(
    api: httpx.Client, simulator: Simulator
) -> None:
    external = str(uuid.uuid4())
    for _ in range(2):
        response = create(api, prompt="a fox #html-301", external_task_id=external)
        assert response.status_code == 301
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.headers["Location"]
        assert response.text.lstrip().startswith("<html>")
    assert simulator.create_count() == 0


def test_poll_flaky_fails_every_other_query(api: httpx.Client) -> None:
    task_id = task_id_of(create(api, prompt="a fox #poll-flaky"))
    codes = [api.get(f"{T2V}/{task_id}").status_code for _ in range(4)]
    assert codes == [500, 200, 500, 200]
    rejection(api.get(f"{T2V}/{task_id}"), 500, 5000)


def test_poll_no_task_answers_every_other_query_without_a_task(api: httpx.Client) -> None:
    task_id = task_id_of(create(api, prompt="a fox #poll-no-task"))
    answers = [api.get(f"{T2V}/{task_id}") for _ in range(4)]
    assert [a.status_code for a in answers] == [200] * 4
    assert [a.json()["data"] is None for a in answers] == [True, False, True, False]
    assert all(a.json()["code"] == 0 and UUID4.match(a.json()["request_id"]) for a in answers)


def test_create_no_task_makes_the_task_then_answers_without_it(
    api: httpx.Client, simulator: Simulator
) -> None:
    external = str(uuid.uuid4())
    first = create(api, prompt="a fox #create-no-task", external_task_id=external).json()
    assert (first["code"], first["data"]) == (0, None)
    assert simulator.create_count(external) == 1
    assert api.get(f"{T2V}/{external}").json()["data"]["task_info"] == {
        "external_task_id": external
    }
    rejection(create(api, prompt="a fox #create-no-task", external_task_id=external), 400, 1201)
    once = {"prompt": "a heron #create-no-task", "external_task_id": None}
    assert create(api, **once).json()["data"] is None
    task_id_of(create(api, **once))  # only the first attempt answers without the task


def test_poll_rate_limits_every_other_query_with_retry_after(
    api: httpx.Client, simulator: Simulator
) -> None:
    simulator.config.retry_after = 7
    task_id = task_id_of(create(api, prompt="a fox #poll-rate-1302"))
    answers = [api.get(f"{T2V}/{task_id}") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [429, 200, 429, 200]
    assert answers[0].headers["Retry-After"] == "7"
    rejection(api.get(f"{T2V}/{task_id}"), 429, 1302)


def test_expire_makes_the_video_url_403_at_once(api: httpx.Client) -> None:
    task_id = task_id_of(create(api, prompt="a fox #expire"))
    url = wait_for(api, task_id, "succeed")["task_result"]["videos"][0]["url"]
    assert httpx.get(url, trust_env=False).status_code == 403


# -- random faults ----------------------------------------------------------------------


def _random_run(seed: int) -> tuple[list[tuple[int, bool]], Simulator]:
    sim = Simulator(SimConfig(fault_rate=0.4, seed=seed, slow_seconds=0.01))
    outcomes = []
    transport = httpx.WSGITransport(app=sim)
    headers = {"Authorization": "Bearer sk-x"}
    with httpx.Client(transport=transport, base_url="http://sim", headers=headers) as client:
        for _ in range(60):
            response = client.post(T2V, json=body())
            try:
                response.json()
                parsed = True
            except json.JSONDecodeError:
                parsed = False
            outcomes.append((response.status_code, parsed))
    sim.close()
    return outcomes, sim


def test_random_faults_follow_the_seed_and_keep_the_books_straight() -> None:
    first, sim = _random_run(seed=7)
    again, _ = _random_run(seed=7)
    other, _ = _random_run(seed=8)
    assert first == again
    assert first != other
    statuses = {status for status, _ in first}
    assert {200, 429, 500, 504} <= statuses
    assert (200, False) in first  # malformed JSON
    assert set(sim.stats()["faults"]) == {
        "error-5000",
        "rate-1302",
        "slow",
        "malformed",
        "ambiguous-504",
    }
    # A well-formed 200 or an ambiguous 504 made a task; nothing else did.
    made = sum(1 for status, parsed in first if (status == 200 and parsed) or status == 504)
    assert sim.create_count() == made


def test_random_faults_hit_queries_too(api: httpx.Client, simulator: Simulator) -> None:
    task_id = task_id_of(create(api))
    simulator.config.update({"fault_rate": 1.0, "seed": 3, "slow_seconds": 0.01})
    statuses = {api.get(f"{T2V}/{task_id}").status_code for _ in range(20)}
    assert statuses <= {200, 429, 500} and statuses & {429, 500}
    assert api.get("/_sim/stats").status_code == 200  # the control routes are never faulted


# -- videos -----------------------------------------------------------------------------


def _decode(path: Path) -> tuple[int, int, float, list]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_image() for frame in container.decode(stream)]
        duration = float(container.duration) / 1_000_000
        return stream.codec_context.width, stream.codec_context.height, duration, frames


@pytest.mark.parametrize(("ratio", "seconds"), [("16:9", 5.0), ("9:16", 10.0), ("1:1", 3.0)])
def test_render_mp4_writes_a_real_h264_video_that_moves(
    tmp_path: Path, ratio: str, seconds: float
) -> None:
    started = time.monotonic()
    path = render_mp4(tmp_path / "out.mp4", "A fox in the snow", ratio, seconds, fps=10)
    if seconds == 5.0:
        assert time.monotonic() - started < 1.0
    width, height, duration, frames = _decode(path)
    wide, tall = (int(n) for n in ratio.split(":"))
    assert abs(width / height - wide / tall) < 0.02
    assert abs(duration - seconds) <= 0.2
    assert ImageChops.difference(frames[0], frames[len(frames) // 2]).getbbox() is not None
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_the_video_url_serves_an_mp4_of_the_requested_shape(
    api: httpx.Client, simulator: Simulator, tmp_path: Path
) -> None:
    task_id = task_id_of(create(api, aspect_ratio="9:16", duration="10"))
    url = wait_for(api, task_id, "succeed")["task_result"]["videos"][0]["url"]
    response = httpx.get(url, trust_env=False)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "video/mp4"
    assert response.content[4:8] == b"ftyp"
    (tmp_path / "v.mp4").write_bytes(response.content)
    width, height, duration, frames = _decode(tmp_path / "v.mp4")
    assert (width, height) == (180, 320)
    assert abs(duration - 10.0) <= 0.2
    assert ImageChops.difference(frames[0], frames[-1]).getbbox() is not None
    head = httpx.head(url, trust_env=False)
    assert head.headers["Content-Length"] == str(len(response.content))


def test_video_seconds_spreads_a_download_over_that_time(
    api: httpx.Client, simulator: Simulator
) -> None:
    task_id = task_id_of(create(api))
    url = wait_for(api, task_id, "succeed")["task_result"]["videos"][0]["url"]
    whole = httpx.get(url, trust_env=False).content
    simulator.config.video_seconds = 0.6
    started = time.monotonic()
    with httpx.stream("GET", url, trust_env=False) as response:
        pieces = list(response.iter_raw())
    assert time.monotonic() - started >= 0.5
    assert b"".join(pieces) == whole
    assert len(pieces) > 1


def test_the_video_url_answers_403_after_its_ttl(api: httpx.Client, simulator: Simulator) -> None:
    task_id = task_id_of(create(api))
    url = wait_for(api, task_id, "succeed")["task_result"]["videos"][0]["url"]
    assert httpx.get(url, trust_env=False).status_code == 200
    simulator.config.url_ttl = 0.2
    time.sleep(0.25)
    assert httpx.get(url, trust_env=False).status_code == 403


def test_a_video_before_success_is_404(api: httpx.Client, simulator: Simulator) -> None:
    task_id = task_id_of(create(api))
    assert (
        httpx.get(f"{simulator.url}/_sim/videos/{task_id}.mp4", trust_env=False).status_code == 404
    )


# -- control routes and the CLI ---------------------------------------------------------


def test_sim_stats_counts_creates_per_external_id_and_tasks_by_status(
    api: httpx.Client, simulator: Simulator
) -> None:
    simulator.config.processing_after = 30  # both stay submitted, however loaded the machine
    task_id_of(create(api, external_task_id="stats-1"))
    task_id_of(create(api, external_task_id="stats-2", prompt="x #stall"))
    stats = httpx.get(f"{simulator.url}/_sim/stats", trust_env=False).json()
    assert stats["creates"] == 2
    assert stats["creates_by_external_id"] == {"stats-1": 1, "stats-2": 1}
    assert stats["tasks"] == {"submitted": 2, "processing": 0, "succeed": 0, "failed": 0}
    create(api, external_task_id="stats-1")  # refused as a duplicate, but a POST all the same
    stats = httpx.get(f"{simulator.url}/_sim/stats", trust_env=False).json()
    assert stats["create_attempts_by_external_id"] == {"stats-1": 2, "stats-2": 1}
    assert stats["creates_by_external_id"] == {"stats-1": 1, "stats-2": 1}
    assert stats["in_flight"] == 2


def test_sim_config_changes_settings_at_runtime(simulator: Simulator) -> None:
    url = f"{simulator.url}/_sim/config"
    answer = httpx.post(url, json={"latency": 0.05, "max_in_flight": 3}, trust_env=False)
    assert answer.status_code == 200 and answer.json()["latency"] == 0.05
    assert simulator.config.latency == 0.05 and simulator.config.max_in_flight == 3
    assert answer.json()["api_key"] != SIM_API_KEY  # masked
    bad = httpx.post(url, json={"latency": "fast"}, trust_env=False)
    unknown = httpx.post(url, json={"nope": 1}, trust_env=False)
    assert bad.status_code == 400 and unknown.status_code == 400
    assert simulator.config.latency == 0.05


def test_the_cli_serves_until_terminated() -> None:
    command = [sys.executable, "-m", "studio.kling.simulator", "--port", "0", "--latency", "0"]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            line = process.stdout.readline()  # type: ignore[union-attr]
            url = re.search(r"http://127\.0\.0\.1:\d+", line)[0]  # type: ignore[index]
            stats = httpx.get(f"{url}/_sim/stats", trust_env=False, timeout=5).json()
            assert stats["creates"] == 0
            headers = {"Authorization": "Bearer sk-any"}  # no --api-key: any sk- key passes
            created = httpx.post(f"{url}{T2V}", json=body(), headers=headers, trust_env=False)
            assert created.status_code == 200
        finally:
            process.terminate()
            _, errors = process.communicate(timeout=5)
        assert process.returncode == 0, errors
