"""Posters sharp on high-density screens (issue 12, 2): every poster <img> names the 1x (a
tile's size) as its src and both sizes in srcset, so a 2x screen fetches the 2x; a video
stored before there were two sizes shows its one poster alone; `manage.py posters` makes
the missing 1x, bounded and only once, and the storage rollup counts it. The sizes made on
storing: tests/test_poster.py; both files through every delivery: tests/test_delivery.py,
tests/test_nginx.py, tests/test_s3_delivery.py; the browser's pick:
tests/browser/test_poster_density_journey.py."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command
from django.test import Client
from PIL import Image

from studio.generations import posters
from studio.generations.models import Generation, StorageMonth
from studio.library.models import Batch
from studio.review.models import Review
from tests.factories import make_generation

pytestmark = pytest.mark.django_db


def both(owner, ratio: str = "16:9", **kw) -> Generation:
    """A finished video with both posters (as stored since they come in two sizes)."""
    fields = {
        "status": "succeeded",
        "aspect_ratio": ratio,
        "video": "videos/v.mp4",
        "poster": "posters/p.jpg",
        "poster_1x": "posters/p-1x.jpg",
        **kw,
    }
    return make_generation(owner, **fields)


def srcset_img(pk) -> str:
    small, big = f"/generations/{pk}/poster-1x.jpg", f"/generations/{pk}/poster.jpg"
    return f'src="{small}" srcset="{small} 1x, {big} 2x"'


def test_tiles_on_every_list_page_name_both_posters_in_srcset(
    client, owner, reviewer, reviewer_client
) -> None:
    batch = Batch.objects.create(owner=owner, template="A {x}", variables={"x": ["owl"]}, size=1)
    owl = both(owner, "9:16", prompt="An owl at dusk", batch=batch)
    batch.items = [{"label": "owl", "generation": str(owl.pk)}]
    batch.save()
    waiting = both(owner, "1:1", prompt="A buoy, waiting for review")
    pages = ["/", "/history/", f"/library/batches/{batch.pk}/", f"/shots/{owl.shot_id}/"]
    for url in pages:
        html = client.get(url).content.decode()
        assert srcset_img(owl.pk) in html, url
        assert 'loading="lazy"' in html, url
    for url in ("/review/", "/admin/generations/generation/"):
        assert srcset_img(waiting.pk) in reviewer_client.get(url).content.decode(), url
    Review.decide(owl, reviewer, "approved")
    assert srcset_img(owl.pk) in reviewer_client.get("/gallery/").content.decode()
    compare = client.get(f"/compare/?ids={owl.pk},{waiting.pk}").content.decode()
    assert 'poster="/generations/' in compare  # a <video>'s poster has no srcset: the 2x


def test_a_poster_url_is_computed_once_per_tile(client, owner, monkeypatch) -> None:
    for n in range(3):
        both(owner, prompt=f"Tile {n}")
    calls = []
    real = posters.urls
    monkeypatch.setattr(posters, "urls", lambda g: calls.append(g.pk) or real(g))
    client.get("/history/")
    assert len(calls) == 3 and len(set(calls)) == 3


def test_both_posters_cost_no_query_more_per_tile(client, owner) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rows = [make_generation(owner, status="succeeded", poster=f"posters/{n}.jpg") for n in "abcd"]

    def queries() -> int:
        with CaptureQueriesContext(connection) as done:
            assert client.get("/history/").status_code == 200
        return len(done.captured_queries)

    alone = queries()  # each a first render (a tile's cache is keyed by its row's columns)
    Generation.objects.filter(pk__in=[r.pk for r in rows]).update(poster_1x="posters/x-1x.jpg")
    assert queries() == alone
    html = client.get("/history/").content.decode()
    assert all(srcset_img(r.pk) in html for r in rows)


def test_the_generation_page_player_picks_by_width(client, owner) -> None:
    kept = both(owner, video="", video_width=1920, video_height=1080)  # video removed
    html = client.get(f"/generations/{kept.pk}/").content.decode()
    small, big = f"/generations/{kept.pk}/poster-1x.jpg", f"/generations/{kept.pk}/poster.jpg"
    assert f'srcset="{small} 640w, {big} 1280w" sizes="{posters.PLAYER_SIZES}"' in html
    playing = both(owner, video_width=720, video_height=1280)
    page = client.get(f"/generations/{playing.pk}/").content.decode()
    assert f'poster="/generations/{playing.pk}/poster.jpg"' in page  # the player's <video>


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1920, 1080), (640, 1280)), ((720, 1280), (360, 720)), ((480, 480), (480, 480))],
)
def test_the_players_widths_are_the_posters_own(size, expected) -> None:
    assert posters.widths(*size) == expected


def test_a_video_stored_before_shows_its_one_poster_alone(client, owner) -> None:
    old = make_generation(owner, status="succeeded", video="videos/o.mp4", poster="posters/o.jpg")
    for url in ("/", "/history/", f"/generations/{old.pk}/"):
        html = client.get(url).content.decode()
        assert f'src="/generations/{old.pk}/poster.jpg"' in html or url.endswith(f"{old.pk}/")
        assert "poster-1x.jpg" not in html and "srcset" not in html, url
    assert f'poster="/generations/{old.pk}/poster.jpg"' in html
    assert client.get(f"/generations/{old.pk}/poster-1x.jpg").status_code == 404


# ---------------------------------------------------------------- manage.py posters


def jpeg(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def old_rows(settings, tmp_path, owner) -> dict[str, Generation]:
    """Three videos stored before the 1x existed (their one poster at twice a tile), one
    with an unreadable poster, one whose poster file is gone."""
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "posters").mkdir()
    rows = {}
    for name, size in (("wide", (1280, 720)), ("tall", (720, 1280)), ("square", (1280, 1280))):
        data = jpeg(size)
        (tmp_path / "posters" / f"{name}.jpg").write_bytes(data)
        rows[name] = make_generation(
            owner, status="succeeded", poster=f"posters/{name}.jpg", poster_bytes=len(data)
        )
    (tmp_path / "posters" / "broken.jpg").write_bytes(b"not a jpeg at all")
    rows["broken"] = make_generation(owner, status="succeeded", poster="posters/broken.jpg")
    rows["gone"] = make_generation(owner, status="succeeded", poster="posters/gone.jpg")
    return rows


def run(limit: int) -> str:
    out = io.StringIO()
    call_command("posters", limit=limit, stdout=out)
    return out.getvalue()


def rollup_matches_the_files() -> None:
    counted = sum(StorageMonth.objects.values_list("bytes", flat=True))
    assert counted == sum(row["bytes"] for row in Generation.objects.storage_use())


def test_the_backfill_makes_each_missing_1x_once_within_its_limit(
    old_rows, tmp_path, caplog
) -> None:
    first = run(limit=2)
    assert "Made 2 1x poster(s)." in first and "3 still without a 1x poster." in first
    caplog.clear()  # the first run may have met the unreadable ones before its limit
    with caplog.at_level(logging.WARNING, "studio.generations.posters"):
        second = run(limit=2)
    assert "Made 1 1x poster(s)." in second and "2 still without" in second
    # Skipped, not counted against the limit (else the last good one would wait behind them).
    assert "2 poster(s) could not be read" in second
    assert len([r for r in caplog.records if "unreadable" in r.getMessage()]) == 2
    sizes = {"wide": (640, 360), "tall": (360, 640), "square": (640, 640)}
    for name, size in sizes.items():
        row = Generation.objects.get(pk=old_rows[name].pk)
        assert row.poster_1x.name == f"posters/{name}-1x.jpg"
        with Image.open(tmp_path / row.poster_1x.name) as made:
            assert (made.format, made.size) == ("JPEG", size)
        assert row.poster_1x_bytes == (tmp_path / row.poster_1x.name).stat().st_size
    rollup_matches_the_files()  # the 1x bytes counted, each once
    made = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "posters").glob("*-1x.jpg")}
    assert "Made 0 1x poster(s)." in run(limit=10)  # again: nothing left to do
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "posters").glob("*-1x.jpg")} == made
    rollup_matches_the_files()
    for name in ("broken", "gone"):
        assert not Generation.objects.get(pk=old_rows[name].pk).poster_1x


def test_a_backfilled_row_shows_both_and_a_row_done_meanwhile_is_left(client, old_rows) -> None:
    wide = old_rows["wide"]
    assert posters.make_one(wide.pk)
    html = client.get("/history/").content.decode()
    assert srcset_img(wide.pk) in html
    before = StorageMonth.objects.get().bytes
    assert posters.make_one(wide.pk)  # done already: nothing written, nothing counted
    assert StorageMonth.objects.get().bytes == before


def test_the_backfill_refuses_a_limit_below_one(old_rows) -> None:
    from django.core.management import CommandError

    with pytest.raises(CommandError):
        run(limit=0)


def test_who_may_not_see_a_backfilled_video_gets_no_byte_of_either_poster(
    old_rows, teammate, outsider
) -> None:
    wide = old_rows["wide"]
    posters.make_one(wide.pk)
    for person in (teammate, outsider, None):
        browser = Client()
        if person is not None:
            browser.force_login(person)
        for name in ("poster.jpg", "poster-1x.jpg"):
            answer = browser.get(f"/generations/{wide.pk}/{name}")
            assert answer.status_code in (302, 403, 404), (person, name)
            body = b"".join(answer.streaming_content) if answer.streaming else answer.content
            assert b"\xff\xd8" not in body
