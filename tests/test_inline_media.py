"""Results play where they appear (issue 12, 2): the queue card, history tile, gallery tile
and batch page render a media box in the video's own shape that plays in place (studio.js),
posters lazily, nothing preloaded. The browser side: tests/browser/test_inline_play_journey.py."""

from __future__ import annotations

import re

from studio.review.models import Review
from tests.factories import make_generation


def played(owner, ratio: str = "16:9", **kw):
    return make_generation(
        owner,
        status="succeeded",
        aspect_ratio=ratio,
        video="videos/v.mp4",
        poster="posters/p.jpg",
        **kw,
    )


def box(html: str, generation) -> str:
    found = re.search(rf'<div id="media-{generation.pk}"[^>]*>.*?</div>', html, re.S)
    assert found, f"no playable media box for {generation.pk}"
    return found[0]


def test_a_stored_video_plays_in_place_on_the_queue_and_in_history(client, owner) -> None:
    wide = played(owner, prompt="A wide shot of a harbour")
    tall = played(owner, "9:16", prompt="A tall shot of a lighthouse")
    square = played(owner, "1:1", prompt="A square shot of a buoy")
    for url in ("/", "/history/"):
        html = client.get(url).content.decode()
        for generation, shape in ((wide, "ratio-169"), (tall, "ratio-916"), (square, "ratio-11")):
            media = box(html, generation)
            assert f'class="card-media {shape}"' in media
            assert f'data-inline-video="/generations/{generation.pk}/video.mp4"' in media
            assert 'hx-preserve="true"' in media  # the poll's swap keeps it playing
            assert 'loading="lazy"' in media and "<video" not in media  # nothing loads first
        assert 'aria-label="Play: A tall shot of a lighthouse"' in html


def test_the_measured_shape_wins_over_the_requested_one(client, owner) -> None:
    odd = played(owner, "16:9", video_width=720, video_height=1280)
    assert 'class="card-media ratio-916"' in box(client.get("/").content.decode(), odd)


def test_a_running_or_failed_job_has_no_player(client, owner) -> None:
    running = make_generation(owner, status="processing", aspect_ratio="9:16")
    failed = make_generation(owner, status="failed", aspect_ratio="1:1")
    html = client.get("/history/").content.decode()
    assert "data-inline-video" not in html
    assert 'class="card-media ratio-916"' in html and 'class="card-media ratio-11"' in html
    assert (
        f'href="/generations/{running.pk}/"' in html and f'href="/generations/{failed.pk}/"' in html
    )


def test_gallery_tiles_play_in_place(reviewer_client, reviewer, owner) -> None:
    tall = played(owner, "9:16", prompt="Approved lighthouse")
    Review.decide(tall, reviewer, "approved")
    html = reviewer_client.get("/gallery/").content.decode()
    assert 'class="card-media ratio-916"' in box(html, tall)


def test_the_batch_page_tiles_play_in_place(client, owner) -> None:
    from studio.library.models import Batch

    batch = Batch.objects.create(
        owner=owner, template="A {thing}", variables={"thing": ["owl"]}, size=1
    )
    owl = played(owner, "1:1", prompt="A owl", batch=batch)
    batch.items = [{"label": "owl", "generation": str(owl.pk)}]
    batch.save()
    html = client.get(f"/library/batches/{batch.pk}/").content.decode()
    assert 'class="card-media ratio-11"' in box(html, owl)
