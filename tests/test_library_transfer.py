"""Library files: export and re-import (an exact round trip), clear errors for bad files
with nothing half-imported, and recipe cards that can be run again."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from studio.generations.models import Generation, Status
from studio.library.importexport import LIBRARY_FORMAT, RECIPE_FORMAT
from studio.library.models import Preset, Prompt, PromptVersion
from tests.factories import make_generation, make_preset, make_prompt

pytestmark = pytest.mark.django_db


def upload(data: object, name: str = "library.json") -> SimpleUploadedFile:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return SimpleUploadedFile(name, raw, content_type="application/json")


def refused(client, content: object) -> str:
    """The import page's answer to `content`, once sure it imported nothing."""
    response = client.post("/library/import/", {"file": upload(content)})
    assert response.status_code == 200
    assert not Prompt.objects.exists() and not Preset.objects.exists()
    return response.content.decode().replace("&#x27;", "'")


def exported(client) -> dict:
    response = client.get("/library/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="library-')
    return json.loads(response.content)


def build_library(owner) -> None:
    fox = make_prompt(
        owner, title="Fox", text="A fox in {place}", negative_prompt="text", tags=["b", "a"]
    )
    fox.add_version(text="A red fox in {place}", notes="warmer", author=owner)
    make_prompt(owner, title="Lantern ✨", text="Paper lantern, 夜", visibility="team")
    archived = make_prompt(owner, title="Old")
    archived.archived_at = archived.created_at
    archived.save()
    make_preset(owner, "Vertical", {"aspect_ratio": "9:16", "mode": "pro"}, visibility="team")
    make_preset(owner, "Zoom", {"camera_control": {"type": "simple", "config": {"zoom": 5}}})


def comparable(data: dict) -> dict:
    return {key: value for key, value in data.items() if key != "exported_at"}


def test_export_then_import_is_an_exact_round_trip(client, owner, teammate) -> None:
    build_library(owner)
    first = exported(client)
    assert first["format"] == LIBRARY_FORMAT and len(first["prompts"]) == 3
    fox = first["prompts"][0]
    assert fox["tags"] == ["a", "b"] and [v["number"] for v in fox["versions"]] == [1, 2]

    client.force_login(teammate)
    response = client.post("/library/import/", {"file": upload(first)})
    assert response.status_code == 302
    assert comparable(exported(client)) == comparable(first)
    assert Prompt.objects.filter(owner=teammate).count() == 3
    assert Preset.objects.filter(owner=teammate).count() == 2


def test_a_single_prompt_exports_with_all_its_versions(client, owner) -> None:
    prompt = make_prompt(owner, title="One")
    prompt.add_version(text="two", author=owner)
    data = json.loads(client.get(f"/library/prompts/{prompt.pk}/export/").content)
    assert [p["title"] for p in data["prompts"]] == ["One"] and data["presets"] == []
    assert [v["text"] for v in data["prompts"][0]["versions"]] == ["A red fox in snow", "two"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'{"format": "kling-prompt-studio.library", "version": 1, "prompts": [', "not valid JSON"),
        ([1, 2, 3], "one JSON object"),
        ({"format": "something-else", "version": 1}, "not a library export"),
        ({"format": LIBRARY_FORMAT, "version": 7}, "version 7 is not known"),
        ({"format": LIBRARY_FORMAT, "version": 1, "prompts": {}}, "prompts: must be a list"),
        (
            {"format": LIBRARY_FORMAT, "version": 1, "prompts": [{"title": "", "versions": []}]},
            "prompts[0].title: must not be empty",
        ),
        (
            {"format": LIBRARY_FORMAT, "version": 1, "prompts": [{"title": "T", "versions": []}]},
            "prompts[0].versions: must hold at least one version",
        ),
        (
            {
                "format": LIBRARY_FORMAT,
                "version": 1,
                "prompts": [{"title": "T", "versions": [{"number": 1, "text": 5}]}],
            },
            "prompts[0].versions[0].text: must be text",
        ),
        (
            {
                "format": LIBRARY_FORMAT,
                "version": 1,
                "prompts": [
                    {
                        "title": "T",
                        "versions": [{"number": 1, "text": "a"}, {"number": 1, "text": "b"}],
                    }
                ],
            },
            "1 appears twice",
        ),
        (
            {
                "format": LIBRARY_FORMAT,
                "version": 1,
                "prompts": [{"title": "T", "visibility": "public", "versions": [{"text": "a"}]}],
            },
            "visibility: must be one of private, team",
        ),
        (
            {
                "format": LIBRARY_FORMAT,
                "version": 1,
                "presets": [
                    {"name": "Bad", "params": {"model_name": "kling-v2-6", "cfg_scale": 1}}
                ],
            },
            "presets[0].params.cfg_scale: Kling 2.6 does not take cfg_scale",
        ),
        (
            {
                "format": LIBRARY_FORMAT,
                "version": 1,
                "prompts": [{"title": "T", "versions": [{"text": "a", "created_at": "yesterday"}]}],
            },
            "created_at: must be an ISO 8601 date and time",
        ),
    ],
)
def test_a_bad_file_says_why_and_imports_nothing(client, owner, content, message) -> None:
    assert message in refused(client, content)


def test_one_bad_entry_at_the_end_keeps_out_the_good_ones_before_it(client, owner) -> None:
    good = {"title": "Good", "versions": [{"number": 1, "text": "fine"}]}
    data = {
        "format": LIBRARY_FORMAT,
        "version": 1,
        "prompts": [good, good],
        "presets": [{"name": "Ok", "params": {"mode": "pro"}}, {"name": "Bad", "params": {}}],
    }
    response = client.post("/library/import/", {"file": upload(data)})
    assert response.status_code == 200 and "presets[1].params" in response.content.decode()
    assert not Prompt.objects.exists() and not PromptVersion.objects.exists()
    assert not Preset.objects.exists()


def test_an_oversized_file_is_refused(client, owner, monkeypatch) -> None:
    from studio.library.forms import ImportForm

    monkeypatch.setattr(ImportForm, "MAX_BYTES", 10)
    response = client.post("/library/import/", {"file": upload({"format": LIBRARY_FORMAT})})
    assert response.status_code == 200 and "over 5 MB" in response.content.decode()


def library(prompts: list | None = None, presets: list | None = None) -> dict:
    return {
        "format": LIBRARY_FORMAT,
        "version": 1,
        "prompts": prompts or [],
        "presets": presets or [],
    }


def one_version(**fields) -> list[dict]:
    return [{"title": "T", "versions": [{"number": 1, "text": "a", **fields}]}]


def preset_with(**params) -> list[dict]:
    return [{"name": "P", "params": params}]


HEADER = b'{"format": "kling-prompt-studio.library", "version": 1, '
AT = "prompts[0].versions[0]"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # Each of these answered 500 (or, the NUL, was stored on SQLite).
        (HEADER + b'"prompts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested more than 10"),
        (library([{"title": "T", "tags": [[[[[[[[[["x"]]]]]]]]]]}]), "prompts[0].tags[0][0][0]"),
        (library(one_version(created_at="2024-02-30T10:00:00")), f"{AT}.created_at: must be an"),
        (library(one_version(created_at="0001-01-01T00:00:00+05:00")), f"{AT}.created_at"),
        (library(one_version(created_at="9999-12-31T23:00:00-05:00")), f"{AT}.created_at"),
        (library(one_version(number=2**63)), f"{AT}.number: is too large a number for any field"),
        (library(one_version(number=2**40)), f"{AT}.number: must be at most 2147483647"),
        (
            HEADER
            + b'"prompts": [{"title": "T", "versions": [{"number": 1'
            + b"0" * 5000
            + b"}]}]}",
            "a number far too long",
        ),
        (json.dumps(library(one_version(text="a\ud800b"))).encode(), f"{AT}.text: holds a lone"),
        (json.dumps(library([{"\udfff": 1}])).encode(), "prompts[0]: a key holds a lone"),
        (library(one_version(text="a\u0000b")), f"{AT}.text: holds a NUL character"),
        (library(one_version(notes=["list"])), f"{AT}.notes: must be text"),
        (library([{"title": 7, "versions": [{"text": "a"}]}]), "prompts[0].title: must be text"),
        (
            library([{"title": "T", "visibility": ["team"], "versions": [{"text": "a"}]}]),
            "prompts[0].visibility: must be one of private, team",
        ),
        (
            library(presets=preset_with(model_name=["kling-v1"])),
            "presets[0].params.model_name: must be text",
        ),
        (library(presets=preset_with(duration=5)), "presets[0].params.duration: must be text"),
        (library(presets=preset_with(sound=True)), "presets[0].params.sound: must be text"),
        (library(presets=preset_with(camera_control=[1])), "params.camera_control: must be an"),
        (
            HEADER + b'"presets": [{"name": "P", "params": {"cfg_scale": NaN}}]}',
            "presets[0].params.cfg_scale: must be a finite number",
        ),
        (HEADER + b'"presets": [{"name": "P", "params": {"cfg_scale": 1e400}}]}', "finite number"),
        (
            library(one_version(text=" ".join(f"{{v{i}}}" for i in range(11)))),
            f"{AT}.text: The text has 11 variables; the limit is 10.",
        ),
    ],
)
def test_a_malformed_file_says_where_and_imports_nothing(client, owner, content, message) -> None:
    assert message in refused(client, content)


def test_each_problem_gets_one_message_with_its_place(client, owner) -> None:
    data = library(
        [
            {"title": "A", "versions": [{"number": 1, "text": "x\u0000"}]},
            {
                "title": "B",
                "versions": [{"number": 2**63, "text": "y", "created_at": "2023-02-29"}],
            },
        ],
        preset_with(mode=["pro"]),
    )
    errors = client.post("/library/import/", {"file": upload(data)}).context["errors"]
    assert errors == [
        "prompts[0].versions[0].text: holds a NUL character",
        "prompts[1].versions[0].number: is too large a number for any field",
    ]  # the file is refused before the fields are read: what no database can hold comes first
    data["prompts"][0]["versions"][0]["text"] = "x"
    data["prompts"][1]["versions"][0]["number"] = 1
    errors = client.post("/library/import/", {"file": upload(data)}).context["errors"]
    assert errors == [
        "prompts[1].versions[0].created_at: must be an ISO 8601 date and time",
        "presets[0].params.mode: must be text",
    ]
    assert not Prompt.objects.exists() and not Preset.objects.exists()


def test_a_request_body_over_the_limit_is_refused_before_it_is_read(client, owner) -> None:
    from django.conf import settings

    too_big = settings.MAX_REQUEST_BYTES + 1
    response = client.post(
        "/library/import/", {"file": upload(library())}, CONTENT_LENGTH=str(too_big)
    )
    assert response.status_code == 413 and b"over 6 MB" in response.content
    assert client.post("/library/import/", {"file": upload(library())}).status_code == 302


# ---------------------------------------------------------------------------- recipe cards


def finished(owner, **kw) -> Generation:
    return make_generation(
        owner,
        status=Status.SUCCEEDED,
        task_id="task-1",
        upstream_status="succeed",
        video_sha256="ab" * 32,
        **kw,
    )


def test_a_recipe_card_holds_version_presets_request_ids_and_results(client, owner) -> None:
    version = make_prompt(owner, title="Fox", text="A red fox runs through fresh snow at dawn")
    version = version.latest_version()
    presets = [{"id": 1, "name": "Vertical", "params": {"aspect_ratio": "9:16"}}]
    generation = finished(owner, prompt_version=version, presets=presets)
    response = client.get(f"/library/recipes/{generation.pk}/")
    assert response["Content-Disposition"] == f'attachment; filename="recipe-{generation.pk}.json"'
    card = json.loads(response.content)
    assert card["format"] == RECIPE_FORMAT and card["generation"] == str(generation.pk)
    assert card["prompt_version"]["number"] == 1 and card["prompt_version"]["title"] == "Fox"
    assert card["presets"] == presets
    assert card["request"] == generation.request_body
    assert card["upstream"]["external_task_id"] == generation.external_task_id
    assert card["upstream"]["task_id"] == "task-1"
    assert card["result"]["status"] == "succeeded" and card["result"]["video_sha256"] == "ab" * 32
    assert "Download the recipe card" in client.get(generation.get_absolute_url()).content.decode()


class FormFields(HTMLParser):
    """The values a browser would post from the form whose action is `action`."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.inside, self.values = action, False, {}
        self.select = self.textarea = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("action") == self.action
        elif not self.inside:
            return
        elif tag == "input" and a.get("name"):
            if a.get("type") not in ("radio", "checkbox") or "checked" in a:
                self.values[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self.select = a["name"]
        elif tag == "option" and self.select and "selected" in a:
            self.values[self.select] = a.get("value", "")
        elif tag == "textarea":
            self.textarea = a["name"]
            self.values[a["name"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        self.select = None if tag == "select" else self.select
        self.textarea = None if tag == "textarea" else self.textarea

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.values[self.textarea] += data


def posted_by(html: str, action: str) -> dict:
    fields = FormFields(action)
    fields.feed(html)
    fields.values.pop("csrfmiddlewaretoken", None)
    return {k: v.removeprefix("\n") for k, v in fields.values.items()}  # textarea's first LF


def test_a_recipe_card_opens_the_studio_form_prefilled_and_priced(client, owner, queue) -> None:
    version = make_prompt(owner, text="A red fox runs through fresh snow at dawn").latest_version()
    first = finished(owner, prompt_version=version, duration="10", aspect_ratio="9:16")
    card = client.get(f"/library/recipes/{first.pk}/").content
    response = client.post("/library/recipes/run/", {"file": upload(card, "recipe.json")})
    html = response.content.decode()
    assert response.status_code == 200 and not queue  # nothing is queued, nothing is paid
    assert Generation.objects.get() == first
    assert "press Generate to queue it. Nothing is queued yet." in html
    assert "Estimated cost: <strong data-estimate>4 units</strong>" in html  # 10 s std
    sent = posted_by(html, "/generations/new/")
    assert sent["prompt"] == "A red fox runs through fresh snow at dawn"
    assert (sent["duration"], sent["aspect_ratio"]) == ("10", "9:16")
    assert sent["prompt_version"] == str(version.pk)
    # Pressing Generate sends the recipe's exact request, filed under its version.
    assert client.post("/generations/new/", sent).status_code == 302
    again = Generation.objects.exclude(pk=first.pk).get()
    strip = lambda body: {k: v for k, v in body.items() if k != "external_task_id"}  # noqa: E731
    assert strip(again.request_body) == strip(first.request_body)
    assert again.external_task_id != first.external_task_id
    assert again.prompt_version == version


def test_a_recipe_that_cannot_run_says_why(client, owner, queue) -> None:
    card = {
        "format": RECIPE_FORMAT,
        "version": 1,
        "request": {"model_name": "kling-v2-6", "prompt": "x", "duration": "10", "mode": "max"},
    }
    response = client.post("/library/recipes/run/", {"file": upload(card)})
    assert response.status_code == 200
    form = response.context["form"]  # the studio form's own message, next to its field
    assert form.errors["mode"] == [
        "Select a valid choice. max is not one of the available choices."
    ]
    response = client.post("/library/recipes/run/", {"file": upload({"format": "x"})})
    assert "not a recipe card" in response.content.decode()
    assert not Generation.objects.exists() and not queue


# A list, a number or an object where text goes passed as its Python spelling ("['a']")
# and was sent upstream; a list model_name answered 500 (issue 10 #5).
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("negative_prompt", ["blur", "text"], "request.negative_prompt: must be text"),
        ("prompt", ["A red fox"], "request.prompt: must be text"),
        ("prompt", 12, "request.prompt: must be text"),
        ("model_name", ["kling-v1-6"], "request.model_name: must be text"),
        ("model_name", {"name": "kling-v1-6"}, "request.model_name: must be text"),
        ("duration", 5, "request.duration: must be text"),
        ("cfg_scale", "0.5", "request.cfg_scale: must be a number"),
        ("cfg_scale", True, "request.cfg_scale: must be a number"),
        ("camera_control", ["zoom"], "request.camera_control: must be an object"),
        ("camera_control", {"type": ["simple"]}, "request.camera_control.type: must be text"),
        (
            "camera_control",
            {"type": "simple", "config": {"zoom": "5"}},
            "request.camera_control.config.zoom: must be a number",
        ),
        (
            "camera_control",
            {"type": "simple", "config": {"spin": 5}},
            "request.camera_control.config.spin: is not a camera axis",
        ),
    ],
)
def test_a_recipe_of_the_wrong_types_is_refused_and_never_sent(
    client, owner, upstream, field: str, value: object, message: str
) -> None:
    response = client.post("/library/recipes/run/", {"file": upload(recipe({field: value}))})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert "This recipe cannot run:" in response.content.decode()
    assert not Generation.objects.exists() and upstream.create_count() == 0


def test_a_recipe_is_checked_by_the_studio_form_as_typed_values_are(client, owner, queue) -> None:
    too_long = recipe({"prompt": "x" * 501, "negative_prompt": "y" * 201, "cfg_scale": 1.5})
    response = client.post("/library/recipes/run/", {"file": upload(too_long)})
    errors = response.context["form"].errors
    assert errors["prompt"] == ["The prompt is 501 characters; the limit is 500."]
    assert errors["negative_prompt"] == ["The negative prompt is 201 characters; the limit is 200."]
    assert "cfg_scale" in errors and not queue
    template = client.post("/library/recipes/run/", {"file": upload(recipe({"prompt": "A {pet}"}))})
    assert "The prompt has {pet} to fill in" in template.content.decode()
    assert not Generation.objects.exists()


@pytest.mark.parametrize(("sound", "sent"), [("on", "on"), ("off", "off"), (None, "off")])
def test_a_recipe_carries_sound_and_an_old_one_without_it_is_sent_off(
    client, owner, queue, sound: str | None, sent: str
) -> None:
    request = {"model_name": "kling-v3", "prompt": "x", "mode": "pro", "duration": "5"}
    if sound is not None:
        request["sound"] = sound
    card = {"format": RECIPE_FORMAT, "version": 1, "request": request}
    html = client.post("/library/recipes/run/", {"file": upload(card)}).content.decode()
    assert client.post("/generations/new/", posted_by(html, "/generations/new/")).status_code == 302
    assert Generation.objects.get().request_body["sound"] == sent


def test_a_kling_v3_recipe_beyond_10_seconds_runs_only_behind_the_setting(
    client, owner, queue, settings
) -> None:
    request = {"model_name": "kling-v3", "prompt": "x", "duration": "12"}
    card = {"format": RECIPE_FORMAT, "version": 1, "request": request}
    response = client.post("/library/recipes/run/", {"file": upload(card)})
    assert response.context["form"].errors["duration"] == [
        "Kling 3.0 makes videos of 5 s or 10 s through CometAPI "
        "(other values are outside its request shape)."
    ]
    sent = posted_by(response.content.decode(), "/generations/new/")
    assert client.post("/generations/new/", sent).status_code == 200  # refused again
    assert not Generation.objects.exists()
    settings.STUDIO_KLING_V3_ALL_DURATIONS = True
    html = client.post("/library/recipes/run/", {"file": upload(card)}).content.decode()
    assert client.post("/generations/new/", posted_by(html, "/generations/new/")).status_code == 302
    assert Generation.objects.get().request_body["duration"] == "12"


def test_others_recipes_404_and_hide_their_private_prompt(
    client, owner, teammate, reviewer
) -> None:
    theirs = finished(teammate)
    assert client.get(f"/library/recipes/{theirs.pk}/").status_code == 404
    # A reviewer sees every finished video, but not the owner's private prompt.
    mine = finished(owner, prompt_version=make_prompt(owner).latest_version())
    client.force_login(reviewer)
    card = json.loads(client.get(f"/library/recipes/{mine.pk}/").content)
    assert card["generation"] == str(mine.pk) and card["prompt_version"] is None


def test_a_recipe_card_shows_others_only_the_presets_they_may_see(client, owner, teammate) -> None:
    from studio.review.models import Review
    from tests.factories import make_user

    private = make_preset(owner, "Private pro", {"mode": "pro"})
    shared = make_preset(owner, "Team vertical", {"aspect_ratio": "9:16"}, visibility="team")
    video = finished(owner, presets=[private.record(), shared.record()])
    Review.decide(video, make_user("rex", roles=("reviewer",)), "approved")
    assert len(json.loads(client.get(f"/library/recipes/{video.pk}/").content)["presets"]) == 2
    client.force_login(teammate)
    card = json.loads(client.get(f"/library/recipes/{video.pk}/").content)
    assert card["presets"] == [shared.record()]


def recipe(body: dict | None = None, **extra) -> dict:
    """A recipe card whose request is a valid kling-v1-6 one, changed by `body`."""
    request = {"model_name": "kling-v1-6", "prompt": "A red fox", "duration": "5", **(body or {})}
    return {"format": RECIPE_FORMAT, "version": 1, "request": request, **extra}


def test_a_recipe_card_may_carry_only_a_few_small_presets(client, owner, queue, settings) -> None:
    run = "/library/recipes/run/"
    huge = {"name": "x" * 80, "params": {"negative_prompt": "y" * 100_000}}
    response = client.post(run, {"file": upload(recipe(presets=[huge] * 20))})
    assert response.status_code == 200
    assert "presets: 20 presets; a recipe may have at most 10." in response.content.decode()
    response = client.post(run, {"file": upload(recipe(presets=[huge]))})
    assert "presets[0].params.negative_prompt:" in response.content.decode()
    odd = [{"name": "n" * 81, "params": {"mode": "pro"}}, {"name": "ok", "params": {"ab": 1}}]
    html = client.post(run, {"file": upload(recipe(presets=odd))}).content.decode()
    assert "presets[0].name: must be text of at most 80 characters." in html
    assert "presets[1].params: A preset cannot hold ab." in html
    typed = [{"name": "Typed", "params": {"negative_prompt": ["x"], "cfg_scale": "0.5"}}]
    html = client.post(run, {"file": upload(recipe(presets=typed))}).content.decode()
    assert "presets[0].params.negative_prompt: must be text" in html
    assert "presets[0].params.cfg_scale: must be a number" in html
    assert not Generation.objects.exists()
    settings.STUDIO_RECIPE_MAX_PRESETS = 2
    mine = make_preset(owner, "Pro", {"mode": "pro"})
    two = [
        {"id": 987654, "name": "Gone", "params": {"mode": "pro"}},
        {"id": mine.pk, "name": "Pro"},
    ]
    response = client.post(run, {"file": upload(recipe(presets=two))})
    assert response.context["form"]["presets"].value() == str(mine.pk)  # the one still there
    html = client.post(run, {"file": upload(recipe(presets=two * 2))}).content.decode()
    assert "a recipe may have at most 2." in html
    assert not Generation.objects.exists()


def test_a_recipe_opens_with_only_the_version_and_presets_the_user_may_see(
    client, owner, teammate, queue
) -> None:
    theirs = make_prompt(teammate, text="A red fox").latest_version()
    private = make_preset(teammate, "Their pro", {"mode": "pro"})
    shared = make_preset(teammate, "Team tall", {"aspect_ratio": "9:16"}, visibility="team")
    card = recipe(
        prompt_version={"id": theirs.pk},
        presets=[private.record(), shared.record()],
    )
    response = client.post("/library/recipes/run/", {"file": upload(card)})
    html = response.content.decode()
    assert response.context["form"]["prompt_version"].value() == ""
    assert response.context["form"]["presets"].value() == str(shared.pk)
    assert "Their pro" not in html and "Team tall" in html
    assert client.post("/generations/new/", posted_by(html, "/generations/new/")).status_code == 302
    made = Generation.objects.get()
    assert made.prompt_version is None and made.presets == [shared.record()]


@pytest.mark.parametrize("version_id", [True, -1, "1", 1.0])
def test_a_recipe_whose_version_id_is_no_id_opens_without_a_version(
    client, owner, queue, version_id
) -> None:
    make_prompt(owner, text="A red fox")  # version 1, which True would have named
    card = recipe(prompt_version={"id": version_id})
    response = client.post("/library/recipes/run/", {"file": upload(card)})
    assert response.status_code == 200
    assert response.context["form"]["prompt_version"].value() in ("", None)


# ---------------------------------------------------------------- the import page's one field

ONE_FIELD = "/library/import/file/"


def field_error(response) -> str:
    """The message next to the import page's file field."""
    html = response.content.decode()
    start = html.index('id="id_import_file_error"')
    return html[html.index(">", start) + 1 : html.index("</p>", start)]


def test_the_import_page_has_one_file_field_for_both_kinds(client, owner) -> None:
    html = client.get("/library/import/").content.decode()
    assert html.count('type="file"') == 1 and f'action="{ONE_FIELD}"' in html
    assert "data-drop-zone" in html and "recipe card" in html and "library export" in html


def test_a_library_export_through_the_one_field_goes_into_the_library(client, owner) -> None:
    build_library(owner)
    data = exported(client)
    Prompt.objects.all().delete()
    Preset.objects.all().delete()
    response = client.post(ONE_FIELD, {"file": upload(data)}, follow=True)
    assert response.redirect_chain == [("/library/", 302)]
    assert "Imported 3 prompts and 2 presets." in response.content.decode()
    assert Prompt.objects.filter(owner=owner).count() == 3 and not Generation.objects.exists()


def test_a_recipe_card_through_the_one_field_opens_the_studio_form(client, owner, queue) -> None:
    response = client.post(ONE_FIELD, {"file": upload(recipe({"prompt": "A kite"}), "r.json")})
    assert response.status_code == 200 and response.templates[0].name == "composer/studio.html"
    assert response.context["form"]["prompt"].value() == "A kite"
    assert "Nothing is queued yet" in response.content.decode()
    assert not Generation.objects.exists() and not queue and not Prompt.objects.exists()


def test_a_known_kind_with_problems_lists_them_under_its_kind(client, owner) -> None:
    bad_library = client.post(ONE_FIELD, {"file": upload(library(presets=[{"name": ""}]))})
    assert "Nothing was imported:" in bad_library.content.decode()
    assert "presets[0]" in bad_library.content.decode() and not Preset.objects.exists()
    bad_card = client.post(ONE_FIELD, {"file": upload(recipe({"duration": 5}))})
    assert "This recipe cannot run:" in bad_card.content.decode()
    # Format edited away: the shape still says which kind it meant to be.
    shaped = client.post(ONE_FIELD, {"file": upload({"request": {"prompt": "x"}})})
    assert "not a recipe card" in shaped.content.decode()


@pytest.mark.parametrize(
    "content",
    [{"hello": "world"}, [1, 2], {"format": "kling-prompt-studio.other", "version": 1}, b"{nope"],
)
def test_a_file_of_neither_kind_is_named_next_to_the_field(client, owner, content) -> None:
    response = client.post(ONE_FIELD, {"file": upload(content, "mystery.json")})
    assert response.status_code == 200
    message = field_error(response)
    assert "library export" in message and "recipe card" in message
    assert 'class="field drop-zone has-error"' in response.content.decode()
    if content == b"{nope":
        assert "not valid JSON" in message
    assert not Prompt.objects.exists() and not Preset.objects.exists()


def test_a_file_over_5_mb_is_refused_next_to_the_field(client, owner) -> None:
    padding = b"x" * (5 * 1024 * 1024 + 1)
    raw = b'{"format": "kling-prompt-studio.library", "version": 1, "pad": "' + padding + b'"}'
    response = client.post(ONE_FIELD, {"file": upload(raw)})
    assert response.status_code == 200
    assert "over 5 MB" in field_error(response) and not Prompt.objects.exists()
