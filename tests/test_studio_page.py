"""The studio page: the generate form with every parameter, its validation and the htmx submit.

Sections (§n) are those of docs/upstream.md.
"""

from __future__ import annotations

import json
import re

import pytest

from studio.generations.forms import GenerateForm
from studio.generations.models import Generation
from studio.ids import parse_id, parse_ids
from studio.kling.capabilities import CAMERA_AXES, MODELS
from tests.factories import HTMX, make_generation, make_preset, studio_form

pytestmark = pytest.mark.django_db


def form_data(**overrides) -> dict:
    boat = studio_form(model_name="kling-v2-6", prompt="A paper boat drifts down a rainy street")
    return boat | overrides


def field_block(html: str, name: str) -> str:
    """The markup of one field's wrapper (label, input, reason, error), up to the next field."""
    start = html.index(f'data-field="{name}"')
    following = html.find("data-field=", start + 1)
    return html[start : following if following != -1 else len(html)]


def capability_blob(html: str) -> dict:
    match = re.search(
        r'<script id="capabilities" type="application/json">(.*?)</script>', html, re.S
    )
    assert match
    return json.loads(match.group(1))


def test_anonymous_visitors_are_sent_to_sign_in(client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_page_offers_every_contract_parameter(client, owner) -> None:
    html = client.get("/").content.decode()
    for name in (
        "model_name",
        "prompt",
        "negative_prompt",
        "mode",
        "duration",
        "aspect_ratio",
        "cfg_scale",
        "camera_type",
        "client_request_id",
        *(f"camera_{axis}" for axis in CAMERA_AXES),
    ):
        assert f'name="{name}"' in html, name
    for spec in MODELS.values():
        assert f'<option value="{spec.name}"' in html and spec.label in html
    for preset in ("down_back", "forward_up", "right_turn_forward", "left_turn_forward", "simple"):
        assert f'<option value="{preset}"' in html
    for ratio in ("16:9", "9:16", "1:1"):
        assert f'<option value="{ratio}"' in html
    assert 'hx-post="/generations/new/"' in html and 'action="/generations/new/"' in html
    assert "hx-disabled-elt=\"find button[type='submit']\"" in html
    assert 'data-count-for="id_prompt" data-limit="500"' in html


def test_the_layout_has_the_banner_csrf_header_and_a_post_logout(client, owner) -> None:
    html = client.get("/").content.decode()
    assert "Simulator mode: no COMETAPI_KEY set" in html.replace("<strong>", "").replace(
        "</strong>", ""
    )
    assert re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"[\w-]+\"\}'>", html)
    assert re.search(r'<form class="logout" method="post" action="/logout/">', html)
    assert ">Admin<" not in html  # not staff
    assert '<a href="/library/">Library</a>' in html  # creators work in the library
    assert "htmx-2" in html and "<script>" not in html and "style=" not in html


def test_each_render_carries_a_new_client_request_id(client, owner) -> None:
    pattern = r'name="client_request_id" value="([0-9a-f-]{36})"'
    first = re.search(pattern, client.get("/").content.decode()).group(1)
    second = re.search(pattern, client.get("/").content.decode()).group(1)
    assert first != second


def test_the_capability_blob_describes_each_model(client, owner) -> None:
    blob = capability_blob(client.get("/").content.decode())
    assert set(blob["models"]) == set(MODELS)
    assert blob["models"]["kling-v3"]["durations"] == ["5", "10"]  # CometAPI's (§15)
    assert all(m["durations"] == ["5", "10"] for m in blob["models"].values())
    assert blob["models"]["kling-v3"]["sound_modes"] == ["std", "pro"]
    assert blob["models"]["kling-v2-6"]["sound_modes"] == ["pro"]
    assert blob["models"]["kling-v2-master"]["modes"] == []
    assert blob["models"]["kling-v1"]["camera_control"] == [["std", "5"]]
    assert [n for n, m in blob["models"].items() if m["cfg_scale"]] == ["kling-v1", "kling-v1-6"]
    assert blob["models"]["kling-v2-5-turbo"]["note"]
    assert blob["limits"] == {"prompt": 500, "negative_prompt": 200}


def test_kling_v3s_official_durations_are_offered_only_behind_the_setting(
    client, owner, settings
) -> None:
    html = client.get("/").content.decode()
    assert 'value="12"' not in html
    settings.STUDIO_KLING_V3_ALL_DURATIONS = True
    blob = capability_blob(client.get("/").content.decode())
    assert blob["models"]["kling-v3"]["durations"] == [str(s) for s in range(3, 16)]
    assert blob["models"]["kling-v2-6"]["durations"] == ["5", "10"]


def test_kling_v3_at_12_seconds_is_refused_without_the_setting_and_sent_with_it(
    client, owner, settings, django_capture_on_commit_callbacks
) -> None:
    data = form_data(model_name="kling-v3", duration="12")
    html = client.post("/generations/new/", data, **HTMX).content.decode()
    assert (
        "Kling 3.0 makes videos of 5 s or 10 s through CometAPI "
        "(other values are outside its request shape)."
    ) in field_block(html, "duration")
    assert Generation.objects.count() == 0
    settings.STUDIO_KLING_V3_ALL_DURATIONS = True
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/generations/new/", form_data(model_name="kling-v3", duration="12"), **HTMX)
    assert Generation.objects.get().request_body["duration"] == "12"


@pytest.mark.parametrize(
    ("fields", "sound"),
    [
        ({"model_name": "kling-v3"}, "off"),  # no choice posted: off, never the model default
        ({"model_name": "kling-v3", "sound": ""}, "off"),
        ({"model_name": "kling-v3", "sound": "off"}, "off"),
        ({"model_name": "kling-v3", "mode": "pro", "sound": "on"}, "on"),
        ({"model_name": "kling-v2-6", "mode": "pro"}, "off"),
        ({"model_name": "kling-v2-6", "mode": "std"}, None),  # silent only: no field sent
        ({"model_name": "kling-v1", "sound": "off"}, None),
    ],
)
def test_the_body_says_sound_off_or_on_for_every_model_that_makes_sound(
    client, owner, django_capture_on_commit_callbacks, fields: dict, sound: str | None
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/generations/new/", form_data(**fields), **HTMX)
    assert response.status_code == 200
    body = Generation.objects.get().request_body
    assert body.get("sound") == sound
    assert ("sound" in body) is (sound is not None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model_name": "kling-v1", "sound": "on"}, "Kling 1.0 makes no sound."),
        (
            {"model_name": "kling-v2-6", "mode": "std", "sound": "on"},
            "Kling 2.6 makes sound only in pro mode.",
        ),
        ({"model_name": "kling-v3", "sound": "loud"}, "Select a valid choice."),
    ],
)
def test_sound_on_where_the_model_makes_none_is_refused_next_to_the_field(
    client, owner, fields: dict, message: str
) -> None:
    html = client.post("/generations/new/", form_data(**fields), **HTMX).content.decode()
    assert message in field_block(html, "sound")
    assert Generation.objects.count() == 0


def test_the_form_shows_the_sound_choice_off_by_default(client, owner) -> None:
    block = field_block(client.get("/").content.decode(), "sound")
    assert '<label for="id_sound">Sound</label>' in block
    assert '<option value="off" selected>Off: a silent video</option>' in block
    assert '<option value="on">On: with audio (costs more)</option>' in block
    assert "Always sent: off for a silent video; on adds audio and costs more." in block
    assert 'data-reason-for="sound"' in block  # the script says why it is off for a model


def test_the_budget_panel_shows_what_sound_costs_where_the_model_makes_it(client, owner) -> None:
    pro = make_preset(owner, "2.6 pro", {"model_name": "kling-v2-6", "mode": "pro"})
    v3 = make_preset(owner, "3.0 10 s", {"model_name": "kling-v3", "duration": "10"})
    v1 = make_preset(owner, "1.0", {"model_name": "kling-v1"})
    line = (
        '<p class="sound-price help" data-sound-price>Sound off: <strong data-sound-off>{}'
        "</strong> units; on: <strong data-sound-on>{}</strong> units (sound prices are "
        "unverified).</p>"
    )
    assert line.format("2.5", "5") in client.get("/", {"presets": pro.pk}).content.decode()
    assert line.format("3", "4.5") in client.get("/", {"presets": v3.pk}).content.decode()
    for silent in (v1, None):  # kling-v1; the default kling-v2-6 in std
        html = client.get("/", {"presets": silent.pk} if silent else {}).content.decode()
        assert '<p class="sound-price help" data-sound-price hidden>' in html


def test_the_estimate_beside_the_form_counts_the_sound_choice(client, owner) -> None:
    loud = make_preset(owner, "Loud", {"model_name": "kling-v2-6", "mode": "pro", "sound": "on"})
    quiet = make_preset(owner, "Quiet", {"model_name": "kling-v2-6", "mode": "pro"})
    estimate = "Estimated cost: <strong data-estimate>{} units</strong>"
    assert estimate.format("5") in client.get("/", {"presets": loud.pk}).content.decode()
    assert estimate.format("2.5") in client.get("/", {"presets": quiet.pk}).content.decode()


def test_a_remix_keeps_the_sound_choice(client, owner) -> None:
    loud = make_generation(owner, model_name="kling-v3", mode="pro", status="succeeded")
    loud.request_body["sound"] = "on"
    loud.save()
    form = GenerateForm.from_params(loud.params())
    assert form["sound"].value() == "on"
    assert GenerateForm.from_params(make_generation(owner).params())["sound"].value() == "off"


def test_a_too_long_prompt_comes_back_next_to_its_field_and_nothing_is_sent(client, owner) -> None:
    long_prompt = "x" * 501
    response = client.post("/generations/new/", form_data(prompt=long_prompt), **HTMX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#generate-form"
    assert response["HX-Reswap"] == "outerHTML"
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="generate-form"')
    prompt_block = field_block(html, "prompt")
    assert "The prompt is 501 characters; the limit is 500." in prompt_block
    assert long_prompt in prompt_block  # the input is kept
    assert 'aria-invalid="true"' in prompt_block
    assert Generation.objects.count() == 0


def test_model_specific_problems_are_shown_where_they_belong(client, owner) -> None:
    data = form_data(
        model_name="kling-v2-6",
        cfg_scale="0.7",
        duration="7",
        camera_type="down_back",
        negative_prompt="blur " * 50,
    )
    html = client.post("/generations/new/", data, **HTMX).content.decode()
    assert "Kling 2.6 does not take cfg_scale." in field_block(html, "cfg_scale")
    assert "Kling 2.6 makes videos of 5 s or 10 s." in field_block(html, "duration")
    assert "the limit is 200" in field_block(html, "negative_prompt")
    assert "camera_control is only supported" in field_block(html, "camera_type")
    assert 'value="0.7"' in html  # kept
    assert Generation.objects.count() == 0


def test_simple_camera_control_needs_exactly_one_axis(client, owner) -> None:
    data = form_data(
        model_name="kling-v1", mode="std", camera_type="simple", camera_pan="2", camera_zoom="3"
    )
    html = client.post("/generations/new/", data, **HTMX).content.decode()
    assert "exactly one non-zero axis" in field_block(html, "camera_type")
    assert Generation.objects.count() == 0


def test_an_empty_prompt_is_refused(client, owner) -> None:
    html = client.post("/generations/new/", form_data(prompt=""), **HTMX).content.decode()
    assert "Write a prompt." in field_block(html, "prompt")


def test_a_valid_htmx_post_creates_one_generation_and_returns_its_card(
    client, owner, django_capture_on_commit_callbacks
) -> None:
    data = form_data(prompt="A lighthouse in a storm", aspect_ratio="9:16")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/generations/new/", data, **HTMX)
    assert response.status_code == 200
    assert len(callbacks) == 1  # the submit is enqueued on commit
    generation = Generation.objects.get()
    assert generation.owner == owner
    assert str(generation.client_request_id) == data["client_request_id"]
    assert generation.request_body["aspect_ratio"] == "9:16"
    html = response.content.decode()
    assert html.lstrip().startswith(f'<article id="gen-{generation.pk}"')
    assert "HX-Reswap" not in response  # prepended into #queue-list as the form asks
    # A fresh form (new request id), the poller restarted, the card horizon moved.
    assert '<form id="generate-form"' in html and 'hx-swap-oob="true"' in html
    assert data["client_request_id"] not in html.split('<form id="generate-form"')[1]
    assert 'hx-get="/queue/updates/" hx-trigger="every 2s"' in html
    assert 'id="queue-known"' in html
    assert "Queued: A lighthouse in a storm." in html


def test_the_same_client_request_id_twice_makes_one_row(
    client, owner, django_capture_on_commit_callbacks
) -> None:
    data = form_data()
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/generations/new/", data, **HTMX)
        again = client.post("/generations/new/", data, **HTMX)
    assert Generation.objects.count() == 1
    # The card is on the page already: refresh it in place, do not add it twice.
    assert again["HX-Reswap"] == "none"
    generation = Generation.objects.get()
    assert f'<article id="gen-{generation.pk}" class="card is-queued" hx-swap-oob="true">' in (
        again.content.decode()
    )


def test_the_request_body_leaves_out_what_the_model_does_not_take(
    client, owner, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        client.post(
            "/generations/new/", form_data(model_name="kling-v2-master", mode="pro"), **HTMX
        )
        client.post(
            "/generations/new/",
            form_data(
                model_name="kling-v1",
                mode="std",
                cfg_scale="0.3",
                camera_type="simple",
                camera_zoom="4",
            ),
            **HTMX,
        )
    master, v1 = Generation.objects.order_by("created_at")
    assert "mode" not in master.request_body and "cfg_scale" not in master.request_body
    assert v1.request_body["cfg_scale"] == 0.3
    assert v1.request_body["camera_control"] == {
        "type": "simple",
        "config": {"horizontal": 0, "vertical": 0, "pan": 0, "tilt": 0, "roll": 0, "zoom": 4.0},
    }


def test_without_javascript_a_valid_post_redirects_and_an_invalid_one_renders_the_page(
    client, owner, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/generations/new/", form_data())
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.post("/generations/new/", form_data(prompt=""))
    assert page.status_code == 200
    assert "<html" in page.content.decode() and "Write a prompt." in page.content.decode()
    assert Generation.objects.count() == 1


def test_windows_line_breaks_count_as_one_character(
    client, owner, django_capture_on_commit_callbacks
) -> None:
    prompt = "a\r\n" * 166 + "ab"  # 500 characters once CRLF is one line break
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/generations/new/", form_data(prompt=prompt), **HTMX)
    assert Generation.objects.get().prompt == prompt.replace("\r\n", "\n")


def test_creating_is_post_only(client, owner) -> None:
    assert client.get("/generations/new/").status_code == 405


def test_the_queue_shows_the_users_cards_and_polls_only_while_one_is_active(
    client, owner, teammate
) -> None:
    done = make_generation(owner, status="succeeded", prompt="Finished fox")
    make_generation(teammate, prompt="Somebody else's")
    html = client.get("/").content.decode()
    assert f'id="gen-{done.pk}"' in html and "Somebody else" not in html
    assert 'hx-trigger="every 2s"' not in html
    make_generation(owner, status="processing", prompt="Running fox")
    html = client.get("/").content.decode()
    assert (
        'hx-get="/queue/updates/" hx-trigger="every 2s" hx-include="#queue-cursor, #activity-since"'
        in html
    )


# Ids past what the database holds were an OverflowError (a 500) on SQLite (issue 10 #6);
# "²" passed str.isdigit() and then int() refused it.
HUGE = "99999999999999999999999"
NOT_IDS = (HUGE, str(2**63), "0", "-1", "²", "1e3", "1" * 400)


def test_one_bounded_id_parser_reads_few_parts() -> None:
    assert parse_ids(f"{2**63 - 1},{2**63},3,3,x,4", limit=8) == [2**63 - 1, 3, 4]
    assert parse_ids(",".join(["x"] * 100_000) + ",5", limit=8) == []  # parts past 4 x limit
    assert parse_ids(",".join(str(n) for n in range(1, 100)), limit=3) == [1, 2, 3]
    assert parse_id(" 12 ") == 12 and parse_id("٣") is None and parse_id(None) is None


@pytest.mark.parametrize("raw", NOT_IDS)
def test_ids_out_of_range_name_nothing_on_the_studio_page(client, owner, raw) -> None:
    preset = make_preset(owner, name="Slow", params={"duration": "10"})
    response = client.get("/", {"presets": f"{raw},{preset.pk}"})
    assert response.status_code == 200
    assert response.context["form"].initial["presets"] == str(preset.pk)
    assert client.get("/", {"prompt_version": raw}).status_code == 404


@pytest.mark.parametrize("raw", NOT_IDS)
def test_ids_out_of_range_are_dropped_by_every_form_view(client, owner, raw) -> None:
    preset = make_preset(owner, name="Slow", params={"duration": "10"})
    stacked = {"presets": f"{raw},{preset.pk}", "prompt_version": raw}
    applied = client.post(
        "/library/presets/apply/",
        form_data(add_preset=raw, remove_preset=raw, **stacked),
        **HTMX,
    )
    assert applied.status_code == 200
    assert applied.context["form"]["presets"].value() == str(preset.pk)
    preview = client.post(
        "/library/batches/preview/",
        form_data(prompt="A {animal} runs", var_animal="fox", sweep_preset=[raw], **stacked),
        **HTMX,
    )
    assert preview.status_code == 200 and preview.context["plan"].version is None
    created = client.post("/generations/new/", form_data(**stacked), **HTMX)
    assert created.status_code == 200
    generation = Generation.objects.get()
    assert generation.prompt_version is None
    assert [p["id"] for p in generation.presets] == [preset.pk]
