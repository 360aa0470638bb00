"""History: filters, pagination, compare, constant queries, and nobody sees another's work."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from studio.generations.models import Generation
from tests.factories import HTMX, make_generation, make_user

pytestmark = pytest.mark.django_db


def listed(response) -> list[str]:
    """The generation ids shown, in order (each has a compare checkbox)."""
    return re.findall(r'name="ids" value="([0-9a-f-]+)"', response.content.decode())


def test_history_lists_the_users_generations_newest_first(client, owner) -> None:
    older = make_generation(owner, prompt="Older")
    newer = make_generation(owner, prompt="Newer")
    assert listed(client.get("/history/")) == [str(newer.pk), str(older.pk)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "failed"}, "failed-one"),
        ({"model_name": "kling-v3"}, "v3-one"),
        ({"mode": "pro"}, "pro-one"),
        ({"duration": "10"}, "long-one"),
        ({"aspect_ratio": "1:1"}, "square-one"),
        ({"q": "LIGHTHOUSE"}, "text-one"),
    ],
)
def test_each_filter_narrows_the_list(client, owner, query, expected) -> None:
    rows = {
        "failed-one": make_generation(owner, status="failed", prompt="a"),
        "v3-one": make_generation(owner, model_name="kling-v3", prompt="b"),
        "pro-one": make_generation(owner, mode="pro", prompt="c"),
        "long-one": make_generation(owner, duration="10", prompt="d"),
        "square-one": make_generation(owner, aspect_ratio="1:1", prompt="e"),
        "text-one": make_generation(owner, prompt="A lighthouse at night"),
    }
    assert listed(client.get("/history/", query)) == [str(rows[expected].pk)]


def test_the_date_range_filter_includes_both_ends(client, owner) -> None:
    now = timezone.now()
    old = make_generation(owner, created_at=now - timedelta(days=10))
    mid = make_generation(owner, created_at=now - timedelta(days=5))
    make_generation(owner, created_at=now)
    day = (now - timedelta(days=5)).date().isoformat()
    assert listed(client.get("/history/", {"date_from": day, "date_to": day})) == [str(mid.pk)]
    until = (now - timedelta(days=6)).date().isoformat()
    assert listed(client.get("/history/", {"date_to": until})) == [str(old.pk)]


def test_admins_can_filter_by_author_and_creators_cannot(client, owner, teammate, admin) -> None:
    html = client.get("/history/").content.decode()
    assert 'name="author"' not in html
    theirs = make_generation(teammate)
    make_generation(owner)
    client.force_login(admin)
    response = client.get("/history/", {"author": theirs.owner_id})
    assert listed(response) == [str(theirs.pk)]
    assert 'name="author"' in response.content.decode()


def test_pages_hold_24_and_keep_the_filters(client, owner) -> None:
    for n in range(30):
        make_generation(owner, model_name="kling-v3", prompt=f"v3 number {n}")
    make_generation(owner, model_name="kling-v1")
    first = client.get("/history/", {"model_name": "kling-v3", "view": "list"})
    assert len(listed(first)) == 24
    assert "page 1 of 2" in first.content.decode()
    assert 'href="?model_name=kling-v3&amp;view=list&amp;page=2"' in first.content.decode()
    second = client.get("/history/", {"model_name": "kling-v3", "view": "list", "page": 2})
    assert len(listed(second)) == 6
    assert '<table class="history-table">' in second.content.decode()


def test_an_htmx_filter_request_gets_only_the_results(client, owner) -> None:
    make_generation(owner)
    response = client.get(
        "/history/", {"status": "queued"}, **HTMX, HTTP_HX_TARGET="history-results"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="history-results"')
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_history_costs_the_same_queries_at_any_size(client, admin) -> None:
    client.force_login(admin)
    authors = [make_user(f"maker{n}") for n in range(3)]
    for n in range(5):
        make_generation(authors[n % 3], status="succeeded", poster=f"posters/{n}.jpg")
    small = count_queries(client, "/history/")
    small_list = count_queries(client, "/history/?view=list")
    for n in range(60):
        make_generation(authors[n % 3], status="succeeded", poster=f"posters/x{n}.jpg")
    assert count_queries(client, "/history/") == small
    assert count_queries(client, "/history/?view=list") == small_list
    assert count_queries(client, "/history/?page=3") == small


def test_compare_shows_videos_and_marks_the_parameters_that_differ(client, owner) -> None:
    a = make_generation(owner, model_name="kling-v1-6", duration="5", prompt="Same prompt")
    b = make_generation(owner, model_name="kling-v3", duration="10", prompt="Same prompt")
    response = client.get("/compare/", {"ids": [a.pk, b.pk]})
    assert response.status_code == 200
    rows = {row["label"]: row for row in response.context["rows"]}
    assert rows["Model"]["differs"] and rows["Model"]["values"] == ["Kling 1.6", "Kling 3.0"]
    assert rows["Duration"]["differs"]
    assert not rows["Prompt"]["differs"] and not rows["Aspect ratio"]["differs"]
    html = response.content.decode()
    assert html.count('<tr class="differs">') == sum(r["differs"] for r in rows.values())
    assert "data-sync-group" in html and "data-sync-play" in html


def test_compare_takes_a_comma_separated_list_too(client, owner) -> None:
    a, b, c = (make_generation(owner) for _ in range(3))
    response = client.get("/compare/", {"ids": f"{a.pk},{b.pk},{c.pk}"})
    assert [g.pk for g in response.context["generations"]] == [a.pk, b.pk, c.pk]


@pytest.mark.parametrize("count", [1, 5])
def test_compare_wants_two_to_four(client, owner, count) -> None:
    ids = [make_generation(owner).pk for _ in range(count)]
    response = client.get("/compare/", {"ids": ids})
    assert response.status_code == 302 and response["Location"] == "/history/"


def test_compare_costs_the_same_queries_for_two_or_four(client, owner) -> None:
    ids = [make_generation(owner).pk for _ in range(4)]
    two = count_queries(client, f"/compare/?ids={ids[0]},{ids[1]}")
    four = count_queries(client, "/compare/?ids=" + ",".join(map(str, ids)))
    assert two == four


def test_another_users_generation_is_neither_listed_nor_reachable(
    client, owner, teammate, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "theirs.mp4").write_bytes(b"\x00" * 64)
    (tmp_path / "posters").mkdir()
    (tmp_path / "posters" / "theirs.jpg").write_bytes(b"\xff\xd8" * 8)
    theirs = make_generation(
        teammate,
        status="succeeded",
        prompt="Private lighthouse",
        video="videos/theirs.mp4",
        poster="posters/theirs.jpg",
    )
    mine = make_generation(owner)
    assert str(theirs.pk) not in client.get("/history/").content.decode()
    assert listed(client.get("/history/", {"q": "lighthouse"})) == []
    assert client.get(f"/generations/{theirs.pk}/").status_code == 404
    assert client.get(f"/generations/{theirs.pk}/video.mp4").status_code == 404
    assert client.get(f"/generations/{theirs.pk}/poster.jpg").status_code == 404
    assert client.get("/compare/", {"ids": [mine.pk, theirs.pk]}).status_code == 404
    assert client.get("/", {"remix": theirs.pk}).status_code == 404
    assert client.post(f"/generations/{theirs.pk}/run-again/").status_code == 404
    assert Generation.objects.count() == 2


def test_admins_see_everyones_generations(client, admin, teammate) -> None:
    client.force_login(admin)
    theirs = make_generation(teammate)
    assert listed(client.get("/history/")) == [str(theirs.pk)]
    assert client.get(f"/generations/{theirs.pk}/").status_code == 200
