"""Internals do not show through (issue 12, 7): models by label in preset sources and admin
filters, camera control in words in compare, units with their word, relative times, a
request body that wraps and is reachable by keyboard."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from studio.generations.templatetags.generation_tags import ago
from studio.kling.capabilities import describe_camera
from studio.library.models import Preset
from tests.factories import make_generation


def test_camera_control_is_said_in_words() -> None:
    simple = {"type": "simple", "config": {"zoom": 5, "pan": -3, "tilt": 0, "roll": 0}}
    assert describe_camera(simple) == "Pan −3, Zoom +5"
    assert describe_camera({"type": "simple", "config": {"zoom": 2.5}}) == "Zoom +2.5"
    assert describe_camera({"type": "down_back"}) == "Down and back"
    assert describe_camera(None) == "none"


def test_compare_shows_the_camera_in_words(client, owner) -> None:
    zoom = {"type": "simple", "config": {"zoom": 5}}
    one = make_generation(owner, status="succeeded", model_name="kling-v1", camera_control=zoom)
    two = make_generation(owner, status="succeeded", model_name="kling-v1")
    html = client.get(f"/compare/?ids={one.pk},{two.pk}").content.decode()
    assert "Zoom +5" in html and '"config"' not in html


def test_times_read_as_people_say_them() -> None:
    now = timezone.now()
    assert ago(now - timedelta(seconds=20)) == "just now"
    assert ago(now - timedelta(minutes=3, seconds=10)) == "3 min ago"
    assert ago(now - timedelta(hours=5)) == "5 h ago"
    assert ago(now - timedelta(hours=30)) == "yesterday"


def test_cards_say_how_long_ago_with_the_exact_time_in_the_title(client, owner) -> None:
    make_generation(owner, status="succeeded")
    html = client.get("/").content.decode()
    assert ">just now</time>" in html and "0&nbsp;minutes" not in html


def test_a_preset_source_names_the_model_by_its_label(client, owner) -> None:
    preset = Preset.objects.create(owner=owner, name="Old film", params={"model_name": "kling-v1"})
    html = client.get(f"/?presets={preset.pk}").content.decode()
    assert "Model: <strong>Kling 1.0</strong> from “Old film”" in html


def test_the_generation_page_says_units_and_the_body_wraps(client, owner) -> None:
    done = make_generation(owner, status="succeeded", units_charged="7.5")
    html = client.get(done.get_absolute_url()).content.decode()
    assert "<dd>7.5 units</dd>" in html
    assert '<pre class="json" tabindex="0" aria-label="The request body sent">' in html


def test_the_admin_filters_and_lists_models_by_label(reviewer_client, owner) -> None:
    make_generation(owner, status="succeeded", model_name="kling-v2-6", poster="p.jpg")
    html = reviewer_client.get("/admin/generations/generation/").content.decode()
    assert "?model_name=kling-v2-6" in html and ">Kling 2.6</a>" in html
    assert "Kling 2.6 · std · 5 s" in html
