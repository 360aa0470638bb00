"""The generation page: recipe, timeline, failure hints, run again, remix, and the media files."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone

from studio.generations.models import Generation
from studio.kling.capabilities import ordered_body
from studio.kling.types import KlingError
from tests.factories import HTMX, make_generation, make_task

pytestmark = pytest.mark.django_db

VIDEO = bytes(range(256)) * 40  # 10,240 bytes standing in for an MP4


@pytest.fixture
def stored(owner, settings, tmp_path) -> Generation:
    """A finished generation whose video and poster are in (temporary) storage."""
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "fox.mp4").write_bytes(VIDEO)
    (tmp_path / "posters").mkdir()
    (tmp_path / "posters" / "fox.jpg").write_bytes(b"\xff\xd8\xff\xe0poster")
    return make_generation(
        owner,
        status="succeeded",
        video="videos/fox.mp4",
        poster="posters/fox.jpg",
        video_bytes=len(VIDEO),
        result_url="https://cdn.example-kling.test/out/secret-upstream-link.mp4",
        task_id="880000000000000123",
    )


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_page_shows_the_exact_recipe_and_ids(client, owner) -> None:
    generation = make_generation(owner, model_name="kling-v1", cfg_scale=0.25)
    generation.request_body["cfg_scale"] = 0.25
    generation.save()
    generation.mark_submitted(
        make_task("submitted", "880000000000000999"), note="Accepted upstream."
    )
    html = client.get(f"/generations/{generation.pk}/").content.decode()
    generation.refresh_from_db()  # as stored: PostgreSQL's jsonb does not keep key order
    pretty = json.dumps(ordered_body(generation.request_body), indent=2)
    assert pretty.startswith('{\n  "model_name": "kling-v1",\n  "prompt": ')
    assert pretty.replace('"', "&quot;") in html
    assert generation.external_task_id in html
    assert "880000000000000999" in html
    assert "Waited to be sent" in html


def test_the_timeline_lists_every_status_change(client, owner) -> None:
    generation = make_generation(owner)
    generation.mark_submitted(make_task("submitted"), note="Accepted upstream.")
    generation.mark_processing(make_task(), next_poll_at=timezone.now(), stalled=False)
    generation.mark_failed_upstream(make_task("failed", status_msg="Image pixel is invalid"))
    html = client.get(f"/generations/{generation.pk}/").content.decode()
    timeline = html.split('<ol class="timeline">')[1].split("</ol>")[0]
    assert re.findall(r'class="is-(\w+)"', timeline) == ["submitted", "processing", "failed"]
    assert "Processing upstream." in timeline


@pytest.mark.parametrize(
    ("fields", "hint"),
    [
        ({"status_msg": "content moderation did not pass"}, "Rephrase the prompt"),
        (
            {
                "status_msg": "The prompt was blocked by the content-safety policy.",
                "error_code": "1301",
            },
            "Rephrase the prompt",
        ),
        ({"status_msg": "Resource pack used up", "error_code": "1102"}, "Top up the CometAPI"),
        ({"status_msg": "Account in arrears", "error_code": "1101"}, "Top up the CometAPI"),
        (
            {"status_msg": "parallel task over resource pack limit", "error_code": "1303"},
            "retries these by itself",
        ),
        ({"status_msg": "Requests too fast", "error_code": "1302"}, "retries these by itself"),
    ],
)
def test_a_failure_shows_its_reason_and_a_hint(client, owner, fields, hint) -> None:
    generation = make_generation(owner)
    generation.mark_failed(fields["status_msg"], code=fields.get("error_code", ""))
    html = client.get(f"/generations/{generation.pk}/").content.decode()
    assert "Why it failed:" in html
    assert fields["status_msg"] in html
    assert hint in html


def test_an_unknown_failure_shows_the_reason_without_a_made_up_hint(client, owner) -> None:
    generation = make_generation(owner)
    generation.mark_failed_upstream(make_task("failed", status_msg="Image pixel is invalid"))
    html = client.get(f"/generations/{generation.pk}/").content.decode()
    assert "Image pixel is invalid" in html and 'class="hint"' not in html


@pytest.mark.parametrize(
    ("fields", "hint"),
    [
        (
            {
                "status_msg": "The video was still not ready after 120 minutes, so the studio "
                "stopped waiting for it.",
                "error_code": "timeout",
            },
            "The upstream never finished this task.",
        ),
        (
            {
                "status_msg": "The video link expired before it could be saved",
                "error_code": "expired",
            },
            "link expired before it could be copied",
        ),
        ({"status_msg": "parallel task over resource pack limit"}, "retries these by itself"),
    ],
    ids=["timeout", "expired", "busy-words-without-a-code"],
)
def test_the_studios_own_failures_and_bare_reasons_get_their_hints(client, owner, fields, hint):
    generation = make_generation(owner)
    generation.mark_failed(fields["status_msg"], code=fields.get("error_code", ""))
    html = client.get(f"/generations/{generation.pk}/").content.decode()
    assert hint in html


def test_a_known_code_without_a_hint_gets_none_from_the_words_of_its_message(client, owner):
    generation = make_generation(owner)
    refusal = KlingError("IP whitelist policy triggered", http_status=429, code="1304")
    generation.mark_failed(
        "The API refused this server's address (IP whitelist).", code="1304", error=refusal
    )
    generation.refresh_from_db()
    assert generation.last_error == "IP whitelist policy triggered (HTTP 429, code 1304)"
    html = client.get(f"/generations/{generation.pk}/").content.decode()
    assert "IP whitelist" in html and 'class="hint"' not in html


def test_the_live_part_polls_while_active_and_stops_when_done(client, owner) -> None:
    generation = make_generation(owner, status="processing")
    url = f"/generations/{generation.pk}/"
    page = client.get(url).content.decode()
    assert f'hx-get="{url}?seen=processing" hx-trigger="every 2s" hx-swap="outerHTML"' in page
    live = {**HTMX, "HTTP_HX_TARGET": "generation-live"}
    same = client.get(url, {"seen": "processing"}, **live).content.decode()
    assert same.lstrip().startswith('<section id="generation-live"')
    assert "<html" not in same and "detail-announcer" not in same
    generation.mark_failed_upstream(
        make_task("failed", status_msg="content moderation did not pass")
    )
    done = client.get(url, {"seen": "processing"}, **live).content.decode()
    assert "hx-trigger" not in done  # the finished fragment stops the polling
    assert 'id="detail-announcer" hx-swap-oob="innerHTML">Status: Failed.' in done


def test_run_again_queues_a_copy_and_opens_it(
    client, owner, django_capture_on_commit_callbacks
) -> None:
    generation = make_generation(owner, status="failed", model_name="kling-v3", duration="10")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/generations/{generation.pk}/run-again/")
    again = Generation.objects.exclude(pk=generation.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/generations/{again.pk}/"
    assert again.params() == generation.params()
    assert again.params()["sound"] == "off"
    assert again.external_task_id != generation.external_task_id
    assert len(callbacks) == 1


def test_the_page_says_which_sound_was_sent(client, owner) -> None:
    v3 = make_generation(owner, model_name="kling-v3", status="succeeded")
    v1 = make_generation(owner, model_name="kling-v1", status="succeeded")
    assert "<dt>Sound</dt><dd>off</dd>" in client.get(v3.get_absolute_url()).content.decode()
    assert "<dt>Sound</dt><dd>not sent</dd>" in client.get(v1.get_absolute_url()).content.decode()


def test_run_again_of_a_duration_cometapi_does_not_take_says_why(
    client, owner, settings, django_capture_on_commit_callbacks
) -> None:
    # Made while STUDIO_KLING_V3_ALL_DURATIONS was on; it is off now.
    generation = make_generation(owner, status="failed", model_name="kling-v3", duration="12")
    response = client.post(f"/generations/{generation.pk}/run-again/", follow=True)
    assert response.redirect_chain[-1][0] == f"/generations/{generation.pk}/"
    assert "Not queued again: Kling 3.0 makes videos of 5 s or 10 s through CometAPI" in (
        response.content.decode()
    )
    assert Generation.objects.count() == 1
    settings.STUDIO_KLING_V3_ALL_DURATIONS = True
    with django_capture_on_commit_callbacks(execute=False):
        client.post(f"/generations/{generation.pk}/run-again/")
    assert Generation.objects.exclude(pk=generation.pk).get().duration == "12"


def test_run_again_is_post_only(client, owner) -> None:
    generation = make_generation(owner)
    assert client.get(f"/generations/{generation.pk}/run-again/").status_code == 405


def test_remix_prefills_the_studio_form(client, owner) -> None:
    generation = make_generation(
        owner,
        model_name="kling-v1",
        prompt="A kite over the dunes",
        negative_prompt="people",
        duration="5",
        aspect_ratio="1:1",
        cfg_scale=0.3,
        camera_control={"type": "simple", "config": {"pan": 4}},
    )
    html = client.get("/", {"remix": generation.pk}).content.decode()
    assert ">\nA kite over the dunes</textarea>" in html
    assert ">\npeople</textarea>" in html
    assert '<option value="kling-v1" selected>' in html
    assert '<option value="1:1" selected>' in html
    assert '<option value="simple" selected>' in html
    assert 'name="camera_pan" value="4"' in html
    assert 'name="cfg_scale" value="0.3"' in html
    assert "Remixing" in html


def test_the_video_is_served_whole_with_ranges_advertised(client, stored) -> None:
    response = client.get(f"/generations/{stored.pk}/video.mp4")
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(len(VIDEO))
    assert response["Content-Disposition"].startswith("inline")
    assert body(response) == VIDEO


def test_a_range_request_gets_206_with_just_those_bytes(client, stored) -> None:
    response = client.get(f"/generations/{stored.pk}/video.mp4", HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-199/{len(VIDEO)}"
    assert response["Content-Length"] == "100"
    assert body(response) == VIDEO[100:200]

    tail = client.get(f"/generations/{stored.pk}/video.mp4", HTTP_RANGE="bytes=-50")
    assert tail.status_code == 206 and body(tail) == VIDEO[-50:]
    rest = client.get(f"/generations/{stored.pk}/video.mp4", HTTP_RANGE="bytes=10000-")
    assert rest["Content-Range"] == f"bytes 10000-{len(VIDEO) - 1}/{len(VIDEO)}"
    assert body(rest) == VIDEO[10000:]


def test_a_range_past_the_end_is_416(client, stored) -> None:
    response = client.get(f"/generations/{stored.pk}/video.mp4", HTTP_RANGE="bytes=99999-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(VIDEO)}"


def test_download_asks_the_browser_to_save(client, stored) -> None:
    response = client.get(f"/generations/{stored.pk}/video.mp4", {"download": "1"})
    assert response["Content-Disposition"] == f'attachment; filename="kling-{stored.pk}.mp4"'


def test_the_poster_is_a_jpeg(client, stored) -> None:
    response = client.get(f"/generations/{stored.pk}/poster.jpg")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"


def test_media_that_is_not_stored_yet_is_404(client, owner) -> None:
    generation = make_generation(owner, status="processing")
    assert client.get(f"/generations/{generation.pk}/video.mp4").status_code == 404
    assert client.get(f"/generations/{generation.pk}/poster.jpg").status_code == 404


def test_the_page_plays_our_copy_and_never_shows_the_upstream_link(client, stored) -> None:
    html = client.get(f"/generations/{stored.pk}/").content.decode()
    assert f'src="/generations/{stored.pk}/video.mp4"' in html
    assert f'poster="/generations/{stored.pk}/poster.jpg"' in html
    assert f'href="/generations/{stored.pk}/video.mp4?download=1"' in html
    assert "secret-upstream-link" not in html
    assert "/media/" not in html
    for page in ("/", "/history/", f"/compare/?ids={stored.pk},{stored.pk}"):
        assert "secret-upstream-link" not in client.get(page).content.decode()


def test_media_needs_a_login(client, stored) -> None:
    client.logout()
    assert client.get(f"/generations/{stored.pk}/video.mp4").status_code == 302


def test_a_stalled_generation_is_checked_less_often(client, owner) -> None:
    generation = make_generation(owner, status="processing", stalled=True)
    html = client.get(f"/generations/{generation.pk}/").content.decode()
    assert 'hx-trigger="every 10s"' in html
    assert "taking unusually long" in html


# ---------------------------------------------------------------------------- presets shown


def test_others_see_only_the_presets_they_may_see(client, owner, teammate, reviewer) -> None:
    from studio.review.models import Review
    from tests.factories import make_preset, signed_in

    private = make_preset(owner, "Private pro", {"mode": "pro"})
    shared = make_preset(owner, "Team vertical", {"aspect_ratio": "9:16"}, visibility="team")
    gone = {"id": None, "name": "From an old recipe", "params": {}}
    video = make_generation(
        owner, status="succeeded", presets=[private.record(), shared.record(), gone]
    )
    Review.decide(video, reviewer, "approved")
    mine = client.get(video.get_absolute_url()).content.decode()
    assert "Private pro, then Team vertical, then From an old recipe" in mine
    browser = signed_in(teammate)
    theirs = browser.get(video.get_absolute_url()).content.decode()
    assert "Team vertical" in theirs and "Private pro" not in theirs and "old recipe" not in theirs
    # A teammate's run again keeps the records, but the teammate sees no more of them.
    response = browser.post(f"/generations/{video.pk}/run-again/")
    copy = Generation.objects.exclude(pk=video.pk).get()
    assert response["Location"] == copy.get_absolute_url() and copy.owner == teammate
    again = browser.get(copy.get_absolute_url()).content.decode()
    assert "Team vertical" in again and "Private pro" not in again
