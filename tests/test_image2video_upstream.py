"""Image-to-video at the upstream's edge (docs/upstream.md §15.1): every field rule of the
strict simulator over real HTTP, the client's calls on the image2video routes, the image
rules themselves (studio/kling/images.py) and a result video that starts on the image."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import av
import httpx
import pytest
from PIL import Image

from studio.kling import capabilities, images
from studio.kling.capabilities import IMAGE_MODELS, MODELS
from studio.kling.client import KlingClient
from studio.kling.simulator import SimConfig, Simulator
from studio.kling.types import KlingError, TaskStatus
from tests import images as pictures
from tests.conftest import SIM_API_KEY, create_body

I2V = "/kling/v1/videos/image2video"
IMAGE = pictures.b64(pictures.picture())
TAIL = pictures.b64(pictures.picture(color=pictures.BLUE))


@pytest.fixture
def kling(simulator: Simulator) -> Iterator[KlingClient]:
    with KlingClient(simulator.url, SIM_API_KEY) as client:
        yield client


def body(**fields: object) -> dict:
    """A valid image2video body (§15.1); keyword arguments replace or add fields (None
    removes one)."""
    return create_body(**{"image": IMAGE, "prompt": "The camera drifts slowly closer", **fields})


def refusal(api: httpx.Client, **fields: object) -> tuple[int, int, str]:
    answer = api.post(I2V, json=body(**fields))
    payload = answer.json()
    return answer.status_code, payload.get("code"), payload.get("message", "")


# ---------------------------------------------------------------- the strict simulator


def test_a_valid_body_makes_a_task_read_on_the_image2video_route(api: httpx.Client) -> None:
    created = api.post(I2V, json=body())
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    assert api.get(f"{I2V}/{task_id}").json()["data"]["task_id"] == task_id
    # A task lives on the route it was made on (§15.1).
    assert api.get(f"/kling/v1/videos/text2video/{task_id}").status_code == 404


def test_the_prompt_is_optional_on_image2video(api: httpx.Client) -> None:
    assert api.post(I2V, json=body(prompt=None)).status_code == 200


def test_an_image_given_as_a_url_is_taken(api: httpx.Client) -> None:
    assert api.post(I2V, json=body(image="https://example.com/still.png")).status_code == 200


@pytest.mark.parametrize(
    ("image", "words"),
    [
        ("data:image/png;base64," + IMAGE, "without a data:"),
        ("not base64 at all!", "neither a URL nor valid base64"),
        (pictures.b64(b"plain text, not a picture"), "not a JPEG or PNG"),
        (pictures.b64(pictures.picture(fmt="GIF")), "GIF; use JPEG or PNG"),
        (pictures.b64(pictures.picture((299, 400))), "at least 300"),
        (pictures.b64(pictures.picture((400, 299))), "at least 300"),
        (pictures.b64(pictures.picture((1001, 400))), "between 1:2.5 and 2.5:1"),
        (pictures.b64(pictures.picture((400, 1001))), "between 1:2.5 and 2.5:1"),
        (pictures.b64(pictures.animated_png()), "animated"),
        (pictures.b64(pictures.cmyk_jpeg()), "CMYK"),
        (pictures.b64(pictures.bomb_png()), "too many pixels"),
        (pictures.b64(pictures.bomb_png(7000)), "too many pixels (7000×7000)"),
        ("", "Choose a start image"),
    ],
    ids=[
        "data-prefix", "not-base64", "not-an-image", "gif", "narrow", "short", "too-wide",
        "too-tall", "animated", "cmyk", "bomb", "bomb-under-pillow-limit", "empty",
    ],
)  # fmt: skip
def test_each_image_rule_is_a_1201(api: httpx.Client, image: str, words: str) -> None:
    status, code, message = refusal(api, image=image)
    assert (status, code) == (400, 1201)
    assert words in message


def test_the_limits_of_the_image_rules_are_inclusive(api: httpx.Client) -> None:
    for size in ((300, 300), (750, 300), (300, 750)):
        image = pictures.b64(pictures.picture(size, fmt="JPEG"))
        assert api.post(I2V, json=body(image=image)).status_code == 200, size


def test_an_image_over_10_mb_is_a_1201(api: httpx.Client) -> None:
    status, code, message = refusal(api, image=pictures.b64(pictures.large_png()))
    assert (status, code) == (400, 1201)
    assert "larger than 10 MB" in message


def test_the_end_frame_follows_the_same_rules(api: httpx.Client) -> None:
    small = pictures.b64(pictures.picture((200, 200)))
    status, code, message = refusal(api, image_tail=small, mode="pro")
    assert (status, code) == (400, 1201)
    assert "image_tail" in message and "at least 300" in message


def test_an_end_frame_alone_is_enough(api: httpx.Client) -> None:
    assert api.post(I2V, json=body(image=None, image_tail=TAIL, mode="pro")).status_code == 200


@pytest.mark.parametrize(
    ("model", "mode", "duration", "takes"),
    [
        ("kling-v2-6", "pro", "5", True),
        ("kling-v2-6", "std", "5", False),
        ("kling-v2-5-turbo", "std", "10", False),
        ("kling-v1", "std", "5", True),
        ("kling-v1", "pro", "10", False),
        ("kling-v2-master", None, "5", False),
        ("kling-v3", "std", "10", True),
    ],
)
def test_image_tail_follows_the_table(
    api: httpx.Client, model: str, mode: str | None, duration: str, takes: bool
) -> None:
    answer = api.post(
        I2V, json=body(model_name=model, mode=mode, duration=duration, image_tail=TAIL)
    )
    if takes:
        assert answer.status_code == 200, answer.text
    else:
        assert (answer.status_code, answer.json()["code"]) == (400, 1201)
        label = f"{model}/{mode or '-'}/{duration}"
        assert f"model/mode/duration({label}) is not supported with image_tail" in answer.text


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"aspect_ratio": "16:9"}, "aspect_ratio is not an image-to-video field"),
        ({"sound": "off"}, "sound is outside"),
        ({"camera_control": {"type": "forward_up"}}, "camera_control is outside"),
        ({"static_mask": IMAGE}, "static_mask is outside"),
        ({"duration": "7", "model_name": "kling-v3"}, "5 s or 10 s through CometAPI"),
        ({"duration": 5}, "must be a string"),
        ({"cfg_scale": 0.5}, "does not take cfg_scale"),
        ({"model_name": "kling-v1-6", "cfg_scale": 1.5}, "between 0 and 1"),
        ({"model_name": "kling-v2-master"}, "has no std/pro mode"),
        ({"mode": "ultra"}, "Mode must be one of std, pro"),
        ({"prompt": "x" * 501}, "the limit is 500"),
        ({"negative_prompt": "x" * 201}, "the limit is 200"),
        ({"image": 12}, "Invalid parameter image: must be a string"),
    ],
    ids=[
        "aspect_ratio", "sound", "camera", "mask", "v3-7s", "int-duration", "cfg-v2",
        "cfg-range", "master-mode", "bad-mode", "prompt-500", "negative-200", "image-int",
    ],
)  # fmt: skip
def test_each_field_rule_is_a_1201(api: httpx.Client, fields: dict, words: str) -> None:
    status, code, message = refusal(api, **fields)
    assert (status, code) == (400, 1201)
    assert words in message


def test_an_unknown_model_is_a_1203_and_the_image_only_models_are_known(
    api: httpx.Client,
) -> None:
    assert refusal(api, model_name="kling-v9")[:2] == (400, 1203)
    for model in ("kling-v1-5", "kling-v2-1"):
        assert model not in MODELS  # §15.1: image-to-video only
        assert api.post(I2V, json=body(model_name=model)).status_code == 200
        text = api.post("/kling/v1/videos/text2video", json={"model_name": model, "prompt": "x"})
        assert text.json()["code"] == 1203


def test_a_v1_model_takes_cfg_scale(api: httpx.Client) -> None:
    assert api.post(I2V, json=body(model_name="kling-v1-6", cfg_scale=0.3)).status_code == 200


def test_the_official_shape_takes_what_strict_refuses(sim_config: SimConfig) -> None:
    sim_config.strict = False
    sim = Simulator(sim_config)
    with httpx.Client(transport=httpx.WSGITransport(app=sim), base_url="http://sim") as api:
        auth = {"Authorization": f"Bearer {SIM_API_KEY}"}
        v3 = body(model_name="kling-v3", duration="7")
        assert api.post(I2V, json=v3, headers=auth).status_code == 200
        camera = body(model_name="kling-v1", camera_control={"type": "forward_up"})
        assert api.post(I2V, json=camera, headers=auth).status_code == 200
        # Never aspect_ratio: the video follows the image, whichever shape.
        ratio = api.post(I2V, json=body(aspect_ratio="16:9"), headers=auth)
        assert ratio.json()["code"] == 1201
    sim.close()


def test_a_body_over_the_read_limit_is_refused_not_cut(api: httpx.Client) -> None:
    from studio.kling.simulator.wire import MAX_BODY

    answer = api.post(I2V, json=body(prompt="x" * (MAX_BODY + 10)))
    assert (answer.status_code, answer.json()["code"]) == (400, 1201)
    assert "too large" in answer.json()["message"]


def test_two_10_mb_images_fit_in_one_body(api: httpx.Client) -> None:
    big = pictures.b64(pictures.large_png(9.5))
    answer = api.post(I2V, json=body(image=big, image_tail=big, mode="pro"))
    assert answer.status_code == 200, answer.text[:300]


# ---------------------------------------------------------------- the result video


def frames_of(url: str) -> list[Image.Image]:
    content = httpx.get(url, timeout=30, trust_env=False).content
    with av.open(io.BytesIO(content)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def wait_for_video(kling: KlingClient, task_id: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        task = kling.get_task(task_id, "image2video")
        if task.status is TaskStatus.SUCCEED:
            return task.video.url
        time.sleep(0.1)
    raise AssertionError("the image2video task did not finish")


def near(pixel: tuple, color: tuple, margin: int = 40) -> bool:
    return all(abs(a - b) <= margin for a, b in zip(pixel[:3], color, strict=True))


def test_the_video_starts_on_the_image_and_follows_its_shape(kling: KlingClient) -> None:
    portrait = pictures.b64(pictures.picture((400, 700), color=pictures.RED))
    task = kling.create_image2video(body(image=portrait))
    frames = frames_of(wait_for_video(kling, task.task_id))
    first, last = frames[0], frames[-1]
    assert first.height > first.width  # the image's shape, no aspect_ratio asked
    assert min(first.size) >= images.MIN_SIDE  # a frame of it can start the next shot
    assert near(first.getpixel((first.width - 5, first.height - 5)), pictures.RED)
    # The white square of the picture is there, and the slow zoom moved it.
    spot = (first.width * 3 // 16, first.height * 3 // 16)
    assert near(first.getpixel(spot), (255, 255, 255))
    assert first.tobytes() != last.tobytes()


def test_the_video_ends_on_the_end_frame(kling: KlingClient) -> None:
    task = kling.create_image2video(body(image_tail=TAIL, mode="pro"))
    frames = frames_of(wait_for_video(kling, task.task_id))
    first, last = frames[0], frames[-1]
    assert near(first.getpixel((first.width - 5, first.height - 5)), pictures.RED)
    assert near(last.getpixel((last.width - 5, last.height - 5)), pictures.BLUE)


# ---------------------------------------------------------------- the client


def test_the_client_creates_reads_and_finds_image2video_tasks(kling: KlingClient) -> None:
    request = body()
    created = kling.create_image2video(request)
    assert created.status is TaskStatus.SUBMITTED
    assert kling.get_task(created.task_id, "image2video").task_id == created.task_id
    found = kling.find_by_external_id(request["external_task_id"], "image2video")
    assert found is not None and found.task_id == created.task_id
    # Looked for on the text2video routes, it is not there.
    assert kling.find_by_external_id(request["external_task_id"]) is None
    with pytest.raises(KlingError) as refused:
        kling.get_task(created.task_id)
    assert refused.value.not_found


def test_the_client_sends_the_body_as_given(simulator: Simulator, kling: KlingClient) -> None:
    request = body(image_tail=TAIL, mode="pro")
    created = kling.create_image2video(request)
    sent = simulator.tasks[created.task_id]
    assert sent.params == {k: v for k, v in request.items() if k not in ("image", "image_tail")}
    assert sent.image == images.from_wire(IMAGE) and sent.image_tail == images.from_wire(TAIL)


def test_a_refusal_is_a_kling_error_that_no_retry_helps(kling: KlingClient) -> None:
    with pytest.raises(KlingError) as refused:
        kling.create_image2video(body(aspect_ratio="16:9"))
    assert refused.value.code == "1201" and not refused.value.retryable


# ---------------------------------------------------------------- the table and the rules


def test_the_image_table_adds_v1_5_and_v2_1_to_the_text_models() -> None:
    assert set(IMAGE_MODELS) == {*MODELS, "kling-v1-5", "kling-v2-1"}
    for name, spec in IMAGE_MODELS.items():
        assert spec.cfg_scale == name.startswith("kling-v1"), name  # §15.1: v1.x only
        for mode, duration in spec.image_tail:
            assert duration in spec.durations and (mode in spec.modes or not spec.modes)


def test_the_body_has_the_fields_of_15_1_in_order_and_nothing_else() -> None:
    params = {
        "model_name": "kling-v1-6",
        "prompt": "closer",
        "negative_prompt": "blur",
        "mode": "pro",
        "duration": "10",
        "cfg_scale": 0.4,
        "aspect_ratio": "16:9",
        "sound": "on",
    }
    sent = capabilities.build_image_body(params, "AAAA", "BBBB")
    assert list(sent) == [
        "model_name", "image", "image_tail", "prompt", "negative_prompt", "mode", "duration",
        "cfg_scale",
    ]  # fmt: skip
    assert sent["duration"] == "10" and sent["cfg_scale"] == 0.4
    master = capabilities.build_image_body({"model_name": "kling-v2-master", "mode": "pro"}, "A")
    assert master == {"model_name": "kling-v2-master", "image": "A", "duration": "5"}


def test_prepare_strips_exif_and_turns_the_picture_upright() -> None:
    prepared = images.prepare(pictures.with_exif((640, 360), orientation=6))
    assert (prepared.width, prepared.height, prepared.format) == (360, 640, "JPEG")
    assert b"Secret Camera" not in prepared.data and b"Exif" not in prepared.data
    reopened = Image.open(io.BytesIO(prepared.data))
    assert (reopened.size, dict(reopened.getexif())) == ((360, 640), {})


def test_prepare_keeps_png_as_png_and_its_transparency() -> None:
    prepared = images.prepare(pictures.picture(mode="RGBA"))
    assert prepared.format == "PNG"
    assert Image.open(io.BytesIO(prepared.data)).mode == "RGBA"
    assert not images.wire_problem(prepared.base64())
    assert not prepared.base64().startswith("data:")


def test_a_bomb_is_refused_before_it_is_decoded() -> None:
    started = time.monotonic()
    with pytest.raises(images.ImageRefused, match="too many pixels"):
        images.prepare(pictures.bomb_png(30_000))  # 900 million pixels, 2 KB on disk
    assert time.monotonic() - started < 2
