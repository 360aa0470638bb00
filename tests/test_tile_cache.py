"""The list tiles' fragment cache ({% tilecache %}, studio/library/templatetags/library_tags.py):
a cached tile changes with its verdict and its star, answers with the request's own CSRF
token, and is never another person's."""

from __future__ import annotations

import re

from django.test import Client

from studio.library.models import Star
from studio.review.models import Review
from tests.factories import give_roles, make_generation, make_prompt, make_user


def tile(html: str, generation) -> str:
    found = re.search(rf'<li id="tile-{generation.pk}".*?</li>', html, re.S)
    assert found, "no tile"
    return found.group(0)


def history(client: Client, generation) -> str:
    """The generation's History tile, its CSRF tokens (new each answer) left out."""
    html = tile(client.get("/history/").content.decode(), generation)
    return re.sub(r'(csrfmiddlewaretoken" value=")[^"]+', r"\1", html)


def test_a_cached_tile_shows_a_new_verdict_and_a_new_star(client, owner, teammate, reviewer):
    prompt = make_prompt(owner, visibility="team")
    video = make_generation(owner, prompt_version=prompt.latest_version(), status="succeeded")
    first = history(client, video)
    assert first == history(client, video)  # the same answer, now from the cache
    assert "In review" in first and 'star-count">0<' in first

    Review.decide(video, reviewer, "changes", "Slower")
    assert "Changes requested" in history(client, video)
    Review.decide(video, reviewer, "rejected", "No")  # the row's own columns stay the same
    assert "Rejected" in history(client, video)
    Review.decide(video, reviewer, "approved")
    assert "Approved" in history(client, video)
    Star.toggle(teammate, prompt)
    assert 'star-count">1<' in history(client, video)
    Star.toggle(owner, prompt)
    assert "Starred" in history(client, video) and 'star-count">2<' in history(client, video)


def test_a_cached_tile_is_never_shown_to_another_person(client, owner, reviewer) -> None:
    give_roles(owner, "creator")
    other = give_roles(make_user("ora"), "creator")  # the same roles and permissions
    video = make_generation(owner, status="succeeded", prompt="A shared heron")
    Review.decide(video, reviewer, "approved")  # both see it in History
    mine = history(client, video)
    assert "Archive" in mine  # one's own finished job

    theirs = Client()
    theirs.force_login(other)
    shown = history(theirs, video)
    assert "A shared heron" in shown and "Archive" not in shown


def test_a_cached_tile_carries_the_requests_csrf_token(client, owner) -> None:
    video = make_generation(owner, status="succeeded")
    for _ in range(2):  # rendered, then from the cache
        html = client.get("/history/").content.decode()
        page_token = re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)
        tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', tile(html, video)))
        assert tokens == {page_token}
        assert "csrf-" not in html
    client.logout()
    client.force_login(owner)  # a new session: a new CSRF secret, the tile still right
    html = client.get("/history/").content.decode()
    page_token = re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)
    assert set(re.findall(r'csrfmiddlewaretoken" value="([^"]+)"', tile(html, video))) == {
        page_token
    }


def test_a_cached_list_row_and_queue_tile_show_the_row_as_it_is(client, owner, reviewer):
    video = make_generation(owner, status="succeeded", prompt="A heron at dusk")
    reviewing = Client()
    reviewing.force_login(reviewer)

    def row() -> str:
        html = client.get("/history/", {"view": "list"}).content.decode()
        return re.search(rf'<tr>\s*<td><input[^>]*value="{video.pk}".*?</tr>', html, re.S)[0]

    def queued() -> str:
        return reviewing.get("/review/").content.decode()

    assert "In review" in row() and "In review" in row()
    assert "A heron at dusk" in queued() and "by cora" in queued()
    owner.username = "cora2"
    owner.save()  # the owner's name is on the queue's tile
    assert "by cora2" in queued()
    Review.decide(video, reviewer, "changes", "Slower")
    assert "Changes requested" in row()
    Review.decide(video, reviewer, "rejected", "No")
    assert "Rejected" in row() and f'name="ids" value="{video.pk}"' not in queued()


def test_a_cached_library_item_follows_its_runs_stars_and_tags(client, owner, teammate) -> None:
    prompt = make_prompt(owner, title="Heron", visibility="team", tags=["bird"])

    def item() -> str:
        html = client.get("/library/").content.decode()
        found = re.search(r'<li class="prompt-item.*?class="tags".*?</ul>', html, re.S)[0]
        return re.sub(r'(csrfmiddlewaretoken" value=")[^"]+', r"\1", found)

    assert item() == item() and "0 runs" in item()
    make_generation(owner, prompt_version=prompt.latest_version(), status="succeeded")
    assert "1 run, 100% succeeded" in item()
    Star.toggle(teammate, prompt)
    assert 'star-count">1<' in item()
    prompt.set_tags(["bird", "dusk"])
    assert "?tag=dusk" in item()
    prompt.add_version(text="A heron at dusk", author=owner)
    assert "A heron at dusk" in item() and "v2" in item()


def test_a_tile_shows_a_prompts_star_only_to_those_who_may_see_the_prompt(owner, admin) -> None:
    """An admin sees every video, not a creator's private prompts: no star on those tiles
    until the prompt is shared with the team; the counts are the prompt's own."""
    private = make_prompt(owner, visibility="private")
    shared = make_prompt(owner, visibility="team")
    hidden = make_generation(owner, prompt_version=private.latest_version(), status="succeeded")
    shown = make_generation(owner, prompt_version=shared.latest_version(), status="succeeded")
    Star.toggle(owner, private)
    Star.toggle(owner, shared)
    Star.toggle(make_user("sam"), shared)
    viewer = Client()
    viewer.force_login(admin)
    assert "star-form" not in history(viewer, hidden)
    found = history(viewer, shown)
    assert f'id="star-{shared.pk}"' in found and 'star-count">2<' in found
    assert 'aria-pressed="false"' in found  # the admin's own star: none
    private.visibility = "team"
    private.save(update_fields=["visibility"])
    again = history(viewer, hidden)
    assert f'id="star-{private.pk}"' in again and 'star-count">1<' in again
