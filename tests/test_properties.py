"""Property tests (Hypothesis) over every entry point that takes what a person sends: the
studio form, presets (apply, create, edit), batch preview and create, library import,
recipe run, review decisions and comments, and every search and filter parameter. For any
input: no 500 (tests/conftest.py fails the test on one too), an answer within SECONDS, and
nothing sent upstream unless the studio form accepts it (the queued submits are run
against the simulator and its creates counted). docs/reliability.md R49.

STUDIO_PROPERTY_EXAMPLES sets the examples per property (25 in `make test`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from studio.composer.compose import recipe_fields
from studio.generations import pipeline
from studio.generations.forms import ALL_DURATIONS
from studio.generations.models import Generation, Status
from studio.kling.capabilities import ASPECT_RATIOS, CAMERA_AXES, CAMERA_PRESETS, MODELS, MODES
from studio.library.forms import FilledGenerateForm, PresetForm
from studio.library.importexport import LIBRARY_FORMAT, RECIPE_FORMAT
from studio.library.models import Preset
from tests.factories import make_generation, make_preset, make_prompt, signed_in, studio_form

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("STUDIO_PROPERTY_EXAMPLES", 25))
SECONDS = 10.0  # per request; generous for a loaded machine, far below a stuck thread
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,  # time is bounded per request below, with room for a loaded machine
    derandomize=bool(os.environ.get("CI")),  # the same examples on every CI run
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the world and the client live per test
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# ---------------------------------------------------------------------------- values

TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=60)  # NUL too
ODD = st.sampled_from(
    ["", " ", "\x00", "a\x00b", "nan", "inf", "-inf", "-1", "0", "1e309", "²", "٣", "0x10"]
    + ["9" * 20, "9" * 5000, "18446744073709551616", "{", "}", "{x}", "{a}{b}{c}", "%", "\r\n"]
    + ["' OR 1=1 --", "<script>alert(1)</script>", "2024-02-30", "9999-12-31", "0001-01-01"]
)
JUNK = st.one_of(
    TEXT, ODD, st.integers(-(2**80), 2**80).map(str), st.floats().map(repr), st.uuids().map(str)
)


def field(*valid: object) -> st.SearchStrategy:
    """A form value: mostly one of `valid`, else anything; sometimes the key sent twice."""
    one = st.one_of(st.sampled_from([str(v) for v in valid]), JUNK) if valid else JUNK
    return st.one_of(one, one, one, st.lists(one, min_size=2, max_size=3))


def ids(world: dict) -> st.SearchStrategy:
    """An id of a row in the world (one the user may see or not), or none at all."""
    known = [str(pk) for pk in world["ids"]]
    joined = st.lists(st.sampled_from(known), max_size=4).map(",".join)
    return st.one_of(field(*known), joined)


def form_data(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional=fields)


def draw_form(data, fields: dict[str, st.SearchStrategy], valid: dict) -> dict:
    """Either any of `fields` with any values, or a form `valid` as sent with one or two
    of its fields changed (so both the accepted and the refused side are walked)."""
    if data.draw(st.booleans(), label="from a valid form"):
        keys = data.draw(st.lists(st.sampled_from(sorted(fields)), max_size=2, unique=True))
        return {**valid, **{key: data.draw(fields[key], label=key) for key in keys}}
    return data.draw(form_data(fields))


def studio_fields(world: dict) -> dict[str, st.SearchStrategy]:
    axes = {f"camera_{axis}": field(-10, -1.5, 0, 3, 10, 11) for axis in CAMERA_AXES}
    return {
        "model_name": field(*MODELS),
        "prompt": st.one_of(TEXT, field("A red fox runs through fresh snow", "x" * 501)),
        "negative_prompt": st.one_of(TEXT, field("blur", "y" * 201)),
        "mode": field(*MODES),
        "duration": field(*ALL_DURATIONS),
        "aspect_ratio": field(*ASPECT_RATIOS),
        "cfg_scale": field(0, 0.5, 1, 1.5, -0.1),
        "sound": field("on", "off"),
        "camera_type": field("", "simple", *CAMERA_PRESETS),
        **axes,
        "client_request_id": st.one_of(st.uuids().map(str), JUNK),
        "prompt_version": ids(world),
        "presets": ids(world),
    }


def query(data: dict) -> QueryDict:
    """`data` as the view receives it (a list is the key sent more than once)."""
    found = QueryDict(mutable=True)
    for key, value in data.items():
        found.setlist(key, value if isinstance(value, list) else [value])
    return found


def answer(send: Callable, url: str, data: object = None, **extra):
    """The studio's answer, which must be no 500 and come within SECONDS."""
    started = time.monotonic()
    response = send(url, data if data is not None else {}, **extra)
    took = time.monotonic() - started
    assert response.status_code < 500, (url, data)
    assert took < SECONDS, f"{url} took {took:.1f} s"
    return response


def sent_upstream(queue: list, upstream) -> int:
    """Run every submit the studio queued, as the worker would: the simulator's creates."""
    for name, args in queue:
        if name.endswith("submit"):
            pipeline.submit(*args)
    queue.clear()
    return upstream.create_count()


# ---------------------------------------------------------------------------- the world


@pytest.fixture
def world(owner, teammate, reviewer) -> dict:
    """The owner's and a teammate's prompts and presets (private and team), a finished
    video to review, and every id among them."""
    mine = make_prompt(owner, text="A {animal} in {place}", tags=["fox"]).latest_version()
    theirs = make_prompt(teammate, title="Theirs", text="A private idea").latest_version()
    shared = make_preset(teammate, "Team tall", {"aspect_ratio": "9:16"}, visibility="team")
    private = make_preset(teammate, "Their pro", {"mode": "pro"})
    own = make_preset(owner, "Mine", {"cfg_scale": 0.7, "negative_prompt": "blur"})
    video = make_generation(owner, status=Status.SUCCEEDED, task_id="t-1")
    return {
        "ids": [mine.pk, theirs.pk, shared.pk, private.pk, own.pk, 2**63, 0],
        "preset": own,
        "video": video,
        "reviewer": signed_in(reviewer),
    }


# ---------------------------------------------------------------------------- the studio form


@PROPERTY
@given(data=st.data())
def test_the_studio_form_sends_upstream_exactly_what_it_accepts(
    client, world, upstream, queue, django_capture_on_commit_callbacks, data
) -> None:
    sent = draw_form(data, studio_fields(world), studio_form())
    accepted = FilledGenerateForm(query(sent)).is_valid()
    event(f"accepted: {accepted}")
    before = Generation.objects.count()
    with django_capture_on_commit_callbacks(execute=True):  # the submit is queued on commit
        answer(client.post, "/generations/new/", sent)
    assert Generation.objects.count() - before == int(accepted)
    assert sent_upstream(queue, upstream) == Generation.objects.count() - 1  # the world's video


@PROPERTY
@given(data=st.data())
def test_applying_presets_never_fails_and_sends_nothing(
    client, world, queue, django_capture_on_commit_callbacks, data
) -> None:
    fields = {**studio_fields(world), "add_preset": ids(world), "remove_preset": ids(world)}
    with django_capture_on_commit_callbacks(execute=True):
        answer(client.post, "/library/presets/apply/", draw_form(data, fields, studio_form()))
    answer(
        client.get, "/", data.draw(form_data({"presets": ids(world), "prompt_version": ids(world)}))
    )
    assert not queue and Generation.objects.count() == 1


PRESET = {"name": "Pro", "visibility": "private", "mode": "pro", "cfg_scale": "0.5"}
PRESET_FIELDS = {
    "name": st.one_of(TEXT, field("Vertical", "n" * 81)),
    "visibility": field("private", "team"),
    "model_name": field("", *MODELS),
    "mode": field("", *MODES),
    "duration": field("", *ALL_DURATIONS),
    "aspect_ratio": field("", *ASPECT_RATIOS),
    "cfg_scale": field("", 0, 0.5, 2),
    "sound": field("", "on", "off"),
    "camera_type": field("", "none", "simple", *CAMERA_PRESETS),
    "camera_zoom": field("", 5, 11),
    "negative_prompt": st.one_of(TEXT, field("", "y" * 201)),
}


@PROPERTY
@given(data=st.data())
def test_presets_are_saved_exactly_when_the_preset_form_accepts_them(
    client, world, queue, data
) -> None:
    sent = draw_form(data, PRESET_FIELDS, PRESET)
    accepted = PresetForm(query(sent)).is_valid()
    event(f"accepted: {accepted}")
    before = Preset.objects.count()
    answer(client.post, "/library/presets/", sent)
    assert Preset.objects.count() - before == int(accepted)
    edited = draw_form(data, PRESET_FIELDS, PRESET)
    preset = world["preset"]
    state = lambda: (preset.name, preset.visibility, preset.params)  # noqa: E731
    before = state()
    answer(client.post, f"/library/presets/{preset.pk}/", edited)
    preset.refresh_from_db()
    form = PresetForm(query(edited))
    if form.is_valid():
        assert state() == (
            form.cleaned_data["name"],
            form.cleaned_data["visibility"],
            form.params(),
        )
    else:
        assert state() == before
    assert not queue


# ---------------------------------------------------------------------------- batches


def batch_fields(world: dict) -> dict[str, st.SearchStrategy]:
    values = st.lists(st.one_of(TEXT, ODD), max_size=4).map("\n".join)
    return {
        **studio_fields(world),
        "prompt": st.one_of(field("A {animal} in {place}", "{a}{b}{c}{d}{e}"), TEXT),
        "var_animal": st.one_of(values, field("fox\ncat")),
        "var_place": st.one_of(values, field("snow")),
        "var_a": values,
        "sweep_preset": ids(world),
        "sweep_cfg": field("0.2, 0.8", "0.1,0.2,0.3", "2", "-1"),
        "confirm": field(1, 2, 4, 100),
        "batch_id": st.one_of(st.uuids().map(str), JUNK),
    }


@PROPERTY
@given(data=st.data())
def test_batches_preview_and_send_only_what_each_jobs_form_accepts(
    client, world, upstream, queue, django_capture_on_commit_callbacks, data
) -> None:
    valid = studio_form(prompt="A {animal} in {place}", var_animal="fox\ncat", var_place="snow")
    sent = draw_form(data, batch_fields(world), valid)
    answer(client.post, "/library/batches/preview/", sent)
    answer(client.post, "/library/batches/preview/", sent, headers={"HX-Request": "true"})
    assert not queue
    before = set(Generation.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        answer(client.post, "/library/batches/new/", sent)
    made = Generation.objects.exclude(pk__in=before)
    event(f"jobs made: {min(made.count(), 3)}{'+' if made.count() > 3 else ''}")
    for job in made:  # each job of the batch is one the studio form accepts as it is
        assert FilledGenerateForm(query(recipe_fields(job.params()))).is_valid(), job.params()
    assert sent_upstream(queue, upstream) == Generation.objects.count() - 1


# ---------------------------------------------------------------------------- files

JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.text(max_size=20),  # lone surrogates too: the file escapes them
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def upload(data: object) -> SimpleUploadedFile:
    return SimpleUploadedFile("x.json", json.dumps(data).encode(), "application/json")


@st.composite
def library_files(draw) -> dict:
    """A library file: its shape kept, any value anything."""
    version = {"number": draw(st.one_of(st.just(1), JSON)), "text": draw(st.one_of(TEXT, JSON))}
    version |= draw(
        st.dictionaries(st.sampled_from(["created_at", "notes", "negative_prompt"]), JSON)
    )
    prompt = {"title": draw(st.one_of(TEXT, JSON)), "versions": [version]}
    prompt |= draw(st.dictionaries(st.sampled_from(["tags", "visibility", "archived_at"]), JSON))
    preset = {"name": draw(st.one_of(TEXT, JSON)), "params": draw(st.one_of(JSON, st.just({})))}
    return draw(
        st.one_of(
            st.just(
                {"format": LIBRARY_FORMAT, "version": 1, "prompts": [prompt], "presets": [preset]}
            ),
            JSON,
        )
    )


@PROPERTY
@given(file=library_files())
def test_a_library_import_never_fails(client, world, file) -> None:
    response = answer(client.post, "/library/import/", {"file": upload(file)})
    assert response.status_code in (200, 302)


REQUEST = {
    "model_name": st.one_of(st.sampled_from(list(MODELS)), JSON),
    "prompt": st.one_of(TEXT, JSON),
    "negative_prompt": st.one_of(TEXT, JSON),
    "mode": st.one_of(st.sampled_from(MODES), JSON),
    "duration": st.one_of(st.sampled_from(ALL_DURATIONS), JSON),
    "aspect_ratio": st.one_of(st.sampled_from(ASPECT_RATIOS), JSON),
    "cfg_scale": st.one_of(st.floats(0, 1), JSON),
    "sound": st.one_of(st.sampled_from(["on", "off"]), JSON),
    "camera_control": st.one_of(
        st.fixed_dictionaries(
            {"type": st.one_of(st.sampled_from(["simple", *CAMERA_PRESETS]), JSON)},
            optional={"config": st.dictionaries(st.sampled_from(CAMERA_AXES), JSON)},
        ),
        JSON,
    ),
}


@PROPERTY
@given(
    request=st.fixed_dictionaries({}, optional=REQUEST),
    extra=st.fixed_dictionaries(
        {}, optional={"prompt_version": JSON, "presets": JSON, "version": st.just(2)}
    ),
)
def test_a_recipe_run_never_fails_and_never_queues(
    client, world, queue, django_capture_on_commit_callbacks, request, extra
) -> None:
    card = {"format": RECIPE_FORMAT, "version": 1, "request": request, **extra}
    with django_capture_on_commit_callbacks(execute=True):
        response = answer(client.post, "/library/recipes/run/", {"file": upload(card)})
    assert response.status_code == 200  # the studio form or the card's errors
    assert not queue and Generation.objects.count() == 1


# ---------------------------------------------------------------------------- review


@PROPERTY
@given(data=st.data())
def test_review_decisions_and_comments_never_fail(world, data) -> None:
    fields = {
        "verdict": field("approved", "changes", "rejected"),
        "comment": st.one_of(TEXT, field("Looks good", "c" * 2001)),
        "at_seconds": field(0, 1.5, 3600, 3601, -1),
        "end_seconds": field(0, 2.5, 3601, -1),
    }
    sent = draw_form(data, fields, {"verdict": "changes", "comment": "Warmer", "at_seconds": "1"})
    answer(world["reviewer"].post, f"/review/{world['video'].pk}/", sent)


DRAWING = st.one_of(
    JSON.map(json.dumps),
    st.lists(
        st.fixed_dictionaries(
            {
                "tool": st.one_of(st.sampled_from(["pen", "arrow", "box"]), JSON),
                "color": st.one_of(st.sampled_from(["red", "yellow"]), JSON),
                "points": st.lists(st.lists(st.one_of(st.floats(), JSON), max_size=3), max_size=4),
            }
        ),
        max_size=3,
    ).map(json.dumps),
)


@PROPERTY
@given(data=st.data())
def test_comments_and_replies_never_fail(client, world, data) -> None:
    video = world["video"]
    fields = {
        "body": st.one_of(TEXT, field("Warmer light here", "b" * 2001)),
        "start_seconds": field(0, 1.5, 4.99, 5, 3601, -1),
        "end_seconds": field(0, 2.5, 6, -1),
        "drawing": DRAWING,
        "parent": ids(world),
        "name": TEXT,
        "next": field("/history/", "//evil.example/", "https://evil.example/", "/\\evil"),
    }
    sent = draw_form(data, fields, {"body": "Warmer", "start_seconds": "1"})
    response = answer(world["reviewer"].post, f"/review/{video.pk}/comments/", sent)
    assert "evil" not in response.get("Location", "")
    answer(client.post, f"/review/{video.pk}/comments/", sent)  # the video's owner


# ---------------------------------------------------------------------------- searches


SEARCHES = {
    "/history/": {
        "q": TEXT,
        "status": field(*Status.values),
        "model_name": field(*MODELS),
        "mode": field(*MODES),
        "duration": field(*ALL_DURATIONS),
        "aspect_ratio": field(*ASPECT_RATIOS),
        "author": field(1, 2, 3),
        "date_from": field("2026-01-01"),
        "date_to": field("2026-12-31"),
        "view": field("list", "grid"),
        "page": field(1, 2, -1),
    },
    "/gallery/": {"q": TEXT, "tag": field("fox"), "model_name": field(*MODELS), "page": field(1)},
    "/review/": {"page": field(1, 2)},
    "/spend/": {"month": field("2026-01", "9999-12", "0001-01", "2026-13")},
    "/library/": {
        "q": TEXT,
        "tag": field("fox"),
        "owner": field(1, 2),
        "visibility": field("private", "team"),
        "starred": field("on", "true"),
        "archived": field("on"),
        "sort": field("recent", "success", "updated", "title"),
        "page": field(1),
    },
    "/compare/": {"ids": JUNK},
    "/queue/updates/": {"since": field(0, 1), "known": field(0)},
}


@PROPERTY
@given(data=st.data())
def test_every_search_and_filter_parameter_is_safe(client, world, data) -> None:
    for url, fields in SEARCHES.items():
        params = data.draw(form_data(fields), label=url)
        answer(client.get, url, params)
        answer(world["reviewer"].get, url, params)
