"""Parameter presets: checked against the capability table when saved and when applied,
stacked on the studio form (later ones win, each value shows its preset), a user's
default, what a generation records, and who may see or change a preset.

Sections (§n) are those of docs/upstream.md.
"""

from __future__ import annotations

import pytest

from studio.generations.models import Generation
from studio.library.models import DefaultPreset, Preset
from studio.library.presets import preset_problems
from tests.factories import HTMX, make_preset, make_prompt, studio_form

pytestmark = pytest.mark.django_db

PRESET_PARAMETERS = (
    "model_name",
    "mode",
    "duration",
    "aspect_ratio",
    "cfg_scale",
    "camera_type",
    "negative_prompt",
    "sound",
)


def studio_data(**overrides) -> dict:
    heron = studio_form(prompt="A heron stands in a misty river", cfg_scale="0.5")
    return heron | {"presets": "", "prompt_version": ""} | overrides


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"model_name": "kling-v2-6", "cfg_scale": 0.5}, "cfg_scale"),
        ({"model_name": "kling-v1", "duration": "15"}, "duration"),
        ({"mode": "pro", "camera_control": {"type": "down_back"}}, "camera_control"),
        ({"cfg_scale": 3}, "cfg_scale"),
        ({"aspect_ratio": "4:3"}, "aspect_ratio"),
        ({"model_name": "kling-v9"}, "model_name"),
        ({}, ""),
        ({"prompt": "sneaky"}, ""),
        ({"negative_prompt": "x" * 201}, "negative_prompt"),
        ({"duration": "15"}, "duration"),  # only kling-v3, behind the setting (§15)
        ({"model_name": "kling-v2-6", "sound": "on"}, "sound"),  # std: no sound
        ({"model_name": "kling-v1", "sound": "on"}, "sound"),
        ({"sound": "loud"}, "sound"),
    ],
)
def test_a_preset_no_model_can_take_is_refused(params: dict, field: str) -> None:
    assert field in preset_problems(params)


@pytest.mark.parametrize(
    "params",
    [
        {"cfg_scale": 0.7},  # works with the Kling 1.x models
        {"sound": "on"},  # works with Kling 3.0
        {"model_name": "kling-v2-6", "mode": "pro", "sound": "on"},
        {"model_name": "kling-v1", "sound": "off"},
        {"aspect_ratio": "9:16", "mode": "pro", "duration": "10"},
        {"camera_control": {"type": "simple", "config": {"zoom": 5}}},
        {"camera_control": None},
        {"model_name": "kling-v2-master", "duration": "10"},
    ],
)
def test_a_preset_that_fits_some_model_is_accepted(params: dict) -> None:
    assert preset_problems(params) == {}


def preset_form(**fields) -> dict:
    """What the preset form posts: a private preset, every parameter blank but `fields`."""
    blank = dict.fromkeys(PRESET_PARAMETERS, "")
    return {"visibility": "private", **blank, **fields}


def test_kling_v3s_official_durations_fit_a_preset_only_behind_the_setting(settings) -> None:
    assert "duration" in preset_problems({"model_name": "kling-v3", "duration": "12"})
    settings.STUDIO_KLING_V3_ALL_DURATIONS = True
    assert preset_problems({"model_name": "kling-v3", "duration": "12"}) == {}
    assert preset_problems({"duration": "15"}) == {}
    assert "duration" in preset_problems({"model_name": "kling-v2-6", "duration": "12"})


def test_the_preset_form_offers_the_durations_a_submit_takes(client, owner, settings) -> None:
    html = client.get("/library/presets/").content.decode()
    assert '<option value="10">10 s</option>' in html and 'value="12"' not in html
    settings.STUDIO_KLING_V3_ALL_DURATIONS = True
    html = client.get("/library/presets/").content.decode()
    assert '<option value="12">12 s</option>' in html


def test_a_preset_carries_sound_like_the_other_parameters(client, owner) -> None:
    response = client.post(
        "/library/presets/",
        {"name": "Loud 3.0", "visibility": "private", "model_name": "kling-v3", "sound": "on"},
    )
    assert response.status_code == 302
    preset = Preset.objects.get()
    assert preset.params == {"model_name": "kling-v3", "sound": "on"}
    page = client.get("/library/presets/").content.decode()
    assert "Sound on" in page
    studio = client.get("/", {"presets": preset.pk})
    form = studio.context["form"]
    assert (form["model_name"].value(), form["sound"].value()) == ("kling-v3", "on")
    assert "Sound: <strong>on</strong> from “Loud 3.0”" in studio.content.decode()


def test_a_sound_preset_that_does_not_fit_the_model_says_why(client, owner) -> None:
    response = client.post(
        "/library/presets/",
        {"name": "Loud 2.6", "visibility": "private", "model_name": "kling-v2-6", "sound": "on"},
    )
    assert response.status_code == 200
    assert "Kling 2.6 makes sound only in pro mode." in response.content.decode()
    assert not Preset.objects.exists()


def test_a_generation_made_with_a_sound_preset_sends_sound_on(client, owner, queue) -> None:
    loud = make_preset(owner, "Loud", {"model_name": "kling-v3", "mode": "pro", "sound": "on"})
    form = client.get("/", {"presets": loud.pk}).context["form"]
    data = studio_data(**{name: form[name].value() or "" for name in ("model_name", "mode")})
    data.update(sound=form["sound"].value(), cfg_scale="", presets=str(loud.pk))
    client.post("/generations/new/", data, **HTMX)
    generation = Generation.objects.get()
    assert generation.request_body["sound"] == "on"
    assert generation.presets[0]["params"]["sound"] == "on"


def test_saving_a_preset_keeps_only_the_values_set(client, owner) -> None:
    data = preset_form(
        name="9:16 pro 10 s", visibility="team", mode="pro", duration="10", aspect_ratio="9:16"
    )
    response = client.post("/library/presets/", data)
    assert response.status_code == 302
    preset = Preset.objects.get()
    assert preset.params == {"mode": "pro", "duration": "10", "aspect_ratio": "9:16"}
    assert (preset.owner, preset.visibility) == (owner, "team")


def test_saving_a_preset_no_model_can_take_shows_why(client, owner) -> None:
    data = preset_form(name="Broken", model_name="kling-v2-6", cfg_scale="0.5")
    response = client.post("/library/presets/", data)
    assert response.status_code == 200
    assert "does not take cfg_scale" in response.content.decode()
    assert not Preset.objects.exists()


def test_editing_a_preset_is_checked_too(client, owner) -> None:
    preset = make_preset(owner, params={"duration": "10"})
    data = preset_form(name="Camera", model_name="kling-v1", mode="pro", camera_type="down_back")
    response = client.post(f"/library/presets/{preset.pk}/", data)
    assert response.status_code == 200 and "camera_control is only supported" in (
        response.content.decode()
    )
    preset.refresh_from_db()
    assert preset.params == {"duration": "10"}


# ---------------------------------------------------------------------------- stacking


def test_presets_stack_later_ones_win_and_each_value_names_its_preset(client, owner) -> None:
    vertical = make_preset(owner, "Vertical pro", {"aspect_ratio": "9:16", "mode": "pro"})
    long = make_preset(owner, "Long square", {"duration": "10", "aspect_ratio": "1:1"})
    data = studio_data(add_preset=vertical.pk)
    response = client.post("/library/presets/apply/", data, **HTMX)
    form = response.context["form"]
    assert form["aspect_ratio"].value() == "9:16" and form["presets"].value() == str(vertical.pk)
    data = {**form.data.dict(), "add_preset": long.pk}
    response = client.post("/library/presets/apply/", data, **HTMX)
    form = response.context["form"]
    assert (form["aspect_ratio"].value(), form["mode"].value(), form["duration"].value()) == (
        "1:1",
        "pro",
        "10",
    )
    assert form["presets"].value() == f"{vertical.pk},{long.pk}"
    assert form["prompt"].value() == "A heron stands in a misty river"  # kept
    html = response.content.decode()
    assert "Aspect ratio: <strong>1:1</strong> from “Long square”" in html
    assert "Mode: <strong>pro</strong> from “Vertical pro”" in html
    assert response["HX-Retarget"] == "#generate-form"


def test_removing_a_preset_keeps_the_values_but_not_the_claim(client, owner) -> None:
    vertical = make_preset(owner, "Vertical", {"aspect_ratio": "9:16"})
    data = studio_data(aspect_ratio="9:16", presets=str(vertical.pk), remove_preset=vertical.pk)
    form = client.post("/library/presets/apply/", data, **HTMX).context["form"]
    assert form["presets"].value() == "" and form["aspect_ratio"].value() == "9:16"


def test_applying_a_preset_that_does_not_fit_the_form_shows_why(client, owner) -> None:
    cfg = make_preset(owner, "Strict", {"cfg_scale": 0.9})
    data = studio_data(model_name="kling-v2-6", cfg_scale="", add_preset=cfg.pk)
    response = client.post("/library/presets/apply/", data, **HTMX)
    assert "Kling 2.6 does not take cfg_scale" in response.content.decode()


def test_applying_with_an_empty_prompt_is_no_error_yet(client, owner) -> None:
    preset = make_preset(owner)
    data = studio_data(prompt="", add_preset=preset.pk)
    response = client.post("/library/presets/apply/", data, **HTMX)
    assert "Write a prompt" not in response.content.decode()


def test_the_default_preset_opens_the_studio_form(client, owner) -> None:
    preset = make_preset(owner, "Vertical", {"aspect_ratio": "9:16", "duration": "10"})
    client.post(f"/library/presets/{preset.pk}/default/")
    assert DefaultPreset.objects.get(user=owner).preset == preset
    form = client.get("/").context["form"]
    assert (form["aspect_ratio"].value(), form["duration"].value()) == ("9:16", "10")
    assert form["presets"].value() == str(preset.pk)
    form = client.get("/?presets=").context["form"]  # named presets (none) replace it
    assert form["aspect_ratio"].value() == "16:9"
    client.post(f"/library/presets/{preset.pk}/default/")
    assert not DefaultPreset.objects.exists()


def test_a_team_preset_can_be_someone_elses_default(client, owner, teammate) -> None:
    shared = make_preset(teammate, "Shared", {"mode": "pro"}, visibility="team")
    client.post(f"/library/presets/{shared.pk}/default/")
    assert client.get("/").context["form"]["mode"].value() == "pro"


# ---------------------------------------------------------------------------- records


def test_a_generation_records_its_presets_and_prompt_version(client, owner, queue) -> None:
    prompt = make_prompt(owner, text="A heron stands in a misty river")
    version = prompt.latest_version()
    first = make_preset(owner, "First", {"mode": "pro"})
    second = make_preset(owner, "Second", {"duration": "10"})
    data = studio_data(
        presets=f"{first.pk},{second.pk}", prompt_version=version.pk, mode="pro", duration="10"
    )
    assert client.post("/generations/new/", data).status_code == 302
    generation = Generation.objects.get()
    assert generation.prompt_version == version
    assert generation.presets == [
        {"id": first.pk, "name": "First", "params": {"mode": "pro"}},
        {"id": second.pk, "name": "Second", "params": {"duration": "10"}},
    ]
    assert generation in version.generations.all()


def test_an_edited_text_is_not_filed_under_the_version(client, owner, queue) -> None:
    version = make_prompt(owner, text="A heron stands in a misty river").latest_version()
    data = studio_data(prompt="A heron flies away", prompt_version=version.pk)
    client.post("/generations/new/", data)
    assert Generation.objects.get().prompt_version is None


def test_others_private_presets_and_versions_are_not_recorded(
    client, owner, teammate, queue
) -> None:
    secret = make_preset(teammate, "Secret", {"mode": "pro"})
    version = make_prompt(teammate, text="A heron stands in a misty river").latest_version()
    data = studio_data(presets=str(secret.pk), prompt_version=version.pk)
    client.post("/generations/new/", data)
    generation = Generation.objects.get()
    assert generation.presets == [] and generation.prompt_version is None


def test_run_again_keeps_the_version_and_presets(client, owner, queue) -> None:
    version = make_prompt(owner, text="A heron stands in a misty river").latest_version()
    preset = make_preset(owner, "First", {"mode": "pro"})
    data = studio_data(presets=str(preset.pk), prompt_version=version.pk, mode="pro")
    client.post("/generations/new/", data)
    first = Generation.objects.get()
    client.post(f"/generations/{first.pk}/run-again/")
    again = Generation.objects.exclude(pk=first.pk).get()
    assert again.prompt_version == version and again.presets == first.presets


# ---------------------------------------------------------------------------- access


def test_others_private_presets_404_and_are_never_listed_or_applied(
    client, owner, teammate
) -> None:
    secret = make_preset(teammate, "Secret", {"aspect_ratio": "1:1"})
    assert client.get(f"/library/presets/{secret.pk}/").status_code == 404
    for action in ("delete", "default"):
        assert client.post(f"/library/presets/{secret.pk}/{action}/").status_code == 404
    assert "Secret" not in client.get("/library/presets/").content.decode()
    assert "Secret" not in client.get("/").content.decode()
    form = client.post(
        "/library/presets/apply/", studio_data(add_preset=secret.pk), **HTMX
    ).context["form"]
    assert form["aspect_ratio"].value() == "16:9" and form["presets"].value() == ""
    assert Preset.objects.get(pk=secret.pk).params == {"aspect_ratio": "1:1"}
    assert client.get(f"/?presets={secret.pk}").context["form"]["presets"].value() == ""


def test_team_presets_are_usable_but_only_their_owner_changes_them(client, owner, teammate) -> None:
    shared = make_preset(teammate, "Shared", {"aspect_ratio": "1:1"}, visibility="team")
    assert "Shared" in client.get("/library/presets/").content.decode()
    assert client.get(f"/library/presets/{shared.pk}/").status_code == 404
    assert client.post(f"/library/presets/{shared.pk}/delete/").status_code == 404
    form = client.post(
        "/library/presets/apply/", studio_data(add_preset=shared.pk), **HTMX
    ).context["form"]
    assert form["aspect_ratio"].value() == "1:1"


def test_applying_a_preset_to_a_template_keeps_its_batch_preview(client, owner) -> None:
    preset = make_preset(owner, "Pro", {"mode": "pro"})
    data = studio_data(prompt="A {bird} over water", var_bird="heron\ngull", add_preset=preset.pk)
    html = client.post("/library/presets/apply/", data, **HTMX).content.decode()
    assert "2 jobs" in html and "to fill in" not in html
    assert ">heron\ngull</textarea>" in html


def test_a_remix_keeps_the_version_and_presets(client, owner) -> None:
    from tests.factories import make_generation

    version = make_prompt(owner, text="A heron stands in a misty river").latest_version()
    preset = make_preset(owner, "First", {"mode": "pro"})
    generation = make_generation(
        owner,
        prompt=version.text,
        prompt_version=version,
        presets=[preset.record(), {"id": None, "name": "From a recipe", "params": {}}],
    )
    form = client.get(f"/?remix={generation.pk}").context["form"]
    assert form["prompt_version"].value() == version.pk
    assert form["presets"].value() == str(preset.pk)
