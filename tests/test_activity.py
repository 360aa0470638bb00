"""The studio tells you when work is done (issue 12, 4): the nav's activity on every page,
carried by one poll per page that stops when nothing runs; History's running tiles update
live; running cards show elapsed time against what this studio's jobs usually take. The
browser side: tests/browser/test_activity_journey.py."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from studio.generations import activity, timing
from studio.generations.models import Generation
from tests.factories import HTMX, make_generation


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def finished(owner, seconds: float, **kw) -> Generation:
    row = make_generation(owner, status="succeeded", **kw)
    now = timezone.now()
    Generation.objects.filter(pk=row.pk).update(
        created_at=now - timedelta(seconds=seconds + 60), finished_at=now - timedelta(seconds=60)
    )
    return row


def test_the_nav_polls_while_one_of_your_jobs_runs(client, owner) -> None:
    make_generation(owner, status="processing", prompt="A running fox")
    html = client.get("/library/").content.decode()
    nav = re.search(r'<div id="activity".*?</div>', html, re.S)[0]
    assert 'data-running="1"' in nav and "1 running" in nav
    assert 'hx-get="/activity/?since=' in nav and 'hx-trigger="every 3s"' in nav


def test_nothing_running_means_no_poll(client, owner) -> None:
    make_generation(owner, status="succeeded")
    html = client.get("/library/").content.decode()
    assert 'id="activity"' in html and "/activity/?since" not in html


def test_the_studio_queue_poll_carries_it_and_no_second_poll_starts(client, owner) -> None:
    make_generation(owner, status="processing")
    html = client.get("/").content.decode()
    assert "/activity/?since" not in html  # the queue's poll brings it
    assert 'hx-include="#queue-cursor, #activity-since"' in html
    since = re.search(r'id="activity-since" name="activity_since" value="(\d+)"', html)[1]
    poll = client.get("/queue/updates/", {"activity_since": since}, **HTMX).content.decode()
    assert '<div id="activity"' in poll and 'hx-swap-oob="true"' in poll


def test_a_job_finished_since_the_page_opened_is_listed_with_its_link(client, owner) -> None:
    opened = timezone.now() - timedelta(minutes=5)
    job = finished(owner, 90, prompt="A finished heron")
    response = client.get("/activity/", {"since": activity.to_cursor(opened)}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 286  # nothing runs: the poll stops
    assert 'data-finished="1"' in html and "1 finished" in html
    assert f'data-done="{job.pk}"' in html and 'data-done-title="Video ready"' in html
    assert f'href="/generations/{job.pk}/"' in html


def test_a_finished_batch_is_listed_once_all_its_jobs_are_done(client, owner) -> None:
    from studio.library.models import Batch

    batch = Batch.objects.create(owner=owner, template="A {x}", variables={"x": ["a", "b"]}, size=2)
    opened = activity.to_cursor(timezone.now() - timedelta(minutes=5))
    finished(owner, 60, batch=batch)
    running = make_generation(owner, status="processing", batch=batch)
    html = client.get("/activity/", {"since": opened}, **HTMX).content.decode()
    assert f"batch-{batch.pk}" not in html  # one job still runs
    Generation.objects.filter(pk=running.pk).update(status="failed", finished_at=timezone.now())
    html = client.get("/activity/", {"since": opened}, **HTMX).content.decode()
    assert f'data-done="batch-{batch.pk}"' in html and "1 of 2 succeeded" in html


def test_history_tiles_of_running_jobs_update_through_the_nav_poll(client, owner) -> None:
    job = make_generation(owner, status="processing", prompt="A live tile")
    html = client.get("/history/").content.decode()
    assert f"watch={job.pk}" in html and f'id="tile-{job.pk}"' in html
    Generation.objects.filter(pk=job.pk).update(status="succeeded", video="v.mp4")
    from_history = {**HTMX, "HTTP_HX_CURRENT_URL": "http://testserver/history/"}  # as htmx says
    poll = client.get("/activity/", {"watch": f"{job.pk},not-an-id"}, **from_history)
    poll = poll.content.decode()
    tile = re.search(rf'<li id="tile-{job.pk}"[^>]*>', poll)[0]
    assert 'hx-swap-oob="true"' in tile and "is-succeeded" in tile
    assert "watch=" not in poll  # finished: nothing left to watch


def test_the_nav_poll_shows_only_your_own_jobs(client, owner, teammate) -> None:
    theirs = make_generation(teammate, status="processing")
    poll = client.get("/activity/", {"watch": str(theirs.pk)}, **HTMX)
    assert poll.status_code == 286 and f"tile-{theirs.pk}" not in poll.content.decode()


def test_the_nav_counts_only_your_own_running_and_finished_jobs(client, owner, teammate) -> None:
    opened = activity.to_cursor(timezone.now() - timedelta(minutes=5))
    finished(teammate, 60)
    make_generation(teammate, status="processing")
    html = client.get("/activity/", {"since": opened}, **HTMX).content.decode()
    assert 'data-running="0"' in html and 'data-finished="0"' in html
    finished(owner, 60)
    make_generation(owner, status="storing")
    html = client.get("/activity/", {"since": opened}, **HTMX).content.decode()
    assert 'data-running="1"' in html and 'data-finished="1"' in html


def test_the_usual_time_is_the_median_of_the_same_kind_once_there_are_enough(owner) -> None:
    kind = {"model_name": "kling-v1", "mode": "std", "duration": "5"}
    for seconds in (100, 200, 300, 400):
        finished(owner, seconds, **kind)
    finished(owner, 1000, model_name="kling-v1", mode="pro", duration="5")
    rough = timing.expected("kling-v1", "std", "5")
    assert rough == timing.Expected(300, exact=False)  # 4 alike: the median of all 5
    cache.clear()
    finished(owner, 500, **kind)
    assert timing.expected("kling-v1", "std", "5") == timing.Expected(300, exact=True)


def test_a_running_card_shows_its_clock_and_the_usual_time(client, owner) -> None:
    for seconds in (120, 180, 240, 300, 360):
        finished(owner, seconds, model_name="kling-v1", mode="std", duration="5")
    make_generation(owner, status="processing", model_name="kling-v1", mode="std", duration="5")
    make_generation(owner, status="queued", model_name="kling-v2-6", mode="pro", duration="10")
    html = client.get("/").content.decode()
    assert 'data-expected="240"' in html and '<progress max="240"' in html
    assert "usually 4 min for this model, mode and length" in html
    assert "usually about 4 min" in html  # too few of that kind: a rough figure, no bar
    assert html.count("<progress") == 1


def test_a_running_videos_page_carries_the_nav_in_its_own_poll(client, owner) -> None:
    job = make_generation(owner, status="processing")
    html = client.get(job.get_absolute_url()).content.decode()
    assert "/activity/?since" not in html and 'hx-include="#activity-since"' in html
    live = client.get(job.get_absolute_url(), HTTP_HX_TARGET="generation-live", **HTMX)
    assert '<div id="activity"' in live.content.decode()
    other = make_generation(owner, status="processing")
    Generation.objects.filter(pk=job.pk).update(status="succeeded", finished_at=timezone.now())
    done = client.get(job.get_absolute_url(), HTTP_HX_TARGET="generation-live", **HTMX)
    # Its poll ends; another job still runs, so the nav now polls by itself.
    assert 'hx-get="/activity/?since=' in done.content.decode() and other.is_active


def test_a_tile_the_nav_poll_brings_comes_back_to_history_after_a_plain_post(client, owner) -> None:
    job = make_generation(owner, status="processing", prompt="Back to the page")
    Generation.objects.filter(pk=job.pk).update(status="succeeded", video="v.mp4")
    page = "/history/?archived=too"
    headers = {**HTMX, "HTTP_HX_CURRENT_URL": f"http://testserver{page}"}
    poll = client.get("/activity/", {"watch": str(job.pk)}, **headers).content.decode()
    assert f'name="next" value="{page}"'.replace("&", "&amp;") in poll
    foreign = {**HTMX, "HTTP_HX_CURRENT_URL": "https://elsewhere.example/history/"}
    poll = client.get("/activity/", {"watch": str(job.pk)}, **foreign).content.decode()
    assert "elsewhere" not in poll and 'name="next" value="/activity/?watch=' in poll
