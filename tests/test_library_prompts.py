"""The prompt library: immutable versions, diffs, the library page (search, filters, sorts,
constant queries), stars, forks, archiving, and who may see or change what."""

from __future__ import annotations

import itertools
import re
import signal
from itertools import pairwise

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from studio.generations.models import Status
from studio.library.models import ImmutableVersionError, Prompt, PromptVersion, Star
from studio.library.text import VARIABLE, Piece, fill, matches, variables, word_diff
from tests.factories import make_generation, make_preset, make_prompt

pytestmark = pytest.mark.django_db


def as_user(client, user):
    client.force_login(user)
    return client


def edit(client, prompt: Prompt, **changes):
    version = prompt.latest_version()
    data = {
        "title": prompt.title,
        "text": version.text,
        "negative_prompt": version.negative_prompt,
        "notes": version.notes,
        "tags": ", ".join(t.name for t in prompt.tags.all()),
        "visibility": prompt.visibility,
        **changes,
    }
    return client.post(f"/library/prompts/{prompt.pk}/edit/", data)


# ---------------------------------------------------------------------------- versions


def test_creating_a_prompt_saves_version_one_with_its_tags(client, owner) -> None:
    response = client.post(
        "/library/prompts/new/",
        {
            "title": "Harbour lantern",
            "text": "A paper lantern drifts over a harbour\r\nat night",
            "negative_prompt": "text",
            "notes": "first try",
            "tags": "Night, harbour, night",
            "visibility": "team",
        },
    )
    prompt = Prompt.objects.get()
    assert response.status_code == 302 and response["Location"] == prompt.get_absolute_url()
    version = prompt.latest_version()
    assert (version.number, version.text) == (1, "A paper lantern drifts over a harbour\nat night")
    assert sorted(prompt.tags.values_list("name", flat=True)) == ["harbour", "night"]
    assert prompt.owner == owner and prompt.visibility == "team"


def test_editing_the_text_adds_a_version_and_keeps_the_old_one(client, owner) -> None:
    prompt = make_prompt(owner, text="A fox in snow")
    edit(client, prompt, text="A red fox in deep snow")
    edit(client, prompt, notes="warmer light")
    versions = list(prompt.versions.order_by("number").values_list("number", "text", "notes"))
    assert versions == [
        (1, "A fox in snow", ""),
        (2, "A red fox in deep snow", ""),
        (3, "A red fox in deep snow", "warmer light"),
    ]
    page = client.get(prompt.get_absolute_url()).content.decode()
    assert "Version 1" in page and "Version 3" in page and "A fox in snow" in page


def test_editing_only_the_title_or_tags_adds_no_version(client, owner) -> None:
    prompt = make_prompt(owner)
    edit(client, prompt, title="Renamed", tags="one, two")
    prompt.refresh_from_db()
    assert prompt.title == "Renamed" and prompt.versions.count() == 1
    assert sorted(prompt.tags.values_list("name", flat=True)) == ["one", "two"]


def test_a_version_cannot_be_changed_in_any_way(owner) -> None:
    version = make_prompt(owner, text="Original").latest_version()
    version.text = "Changed"
    with pytest.raises(ImmutableVersionError):
        version.save()
    with pytest.raises(ImmutableVersionError):
        PromptVersion.objects.filter(pk=version.pk).update(text="Changed")
    assert PromptVersion.objects.get(pk=version.pk).text == "Original"


def test_the_diff_marks_added_and_removed_words(client, owner) -> None:
    prompt = make_prompt(owner, text="A red fox runs through snow")
    prompt.add_version(text="A grey fox runs slowly through snow", author=owner)
    prompt.add_version(text="A grey wolf runs", author=owner)
    html = client.get(f"/library/prompts/{prompt.pk}/diff/?a=1&b=2").content.decode()
    assert "<del>red</del>" in html and "<ins>grey</ins>" in html
    assert "<ins>slowly </ins>" in html
    html = client.get(f"/library/prompts/{prompt.pk}/diff/?a=1&b=3").content.decode()
    expected = "A <del>red fox</del><ins>grey wolf</ins> runs<del> through snow</del>"
    assert expected in html
    assert client.get(f"/library/prompts/{prompt.pk}/diff/?a=1&b=9").status_code == 404


def test_word_diff_keeps_spacing_and_line_breaks() -> None:
    for old, new in [
        ("one two\nthree", "one 2\nthree four"),
        ("in thick fog", "at dusk"),
        ("a b c d", "a x c y"),
        ("", "all new"),
        ("all gone", ""),
    ]:
        pieces = word_diff(old, new)
        assert "".join(p.text for p in pieces if p.op != "removed") == new
        assert "".join(p.text for p in pieces if p.op != "added") == old
    assert word_diff("in thick fog", "at dusk") == [
        Piece("removed", "in thick fog"),
        Piece("added", "at dusk"),
    ]


def test_templates_find_fill_and_recognise_their_variables() -> None:
    template = "A {animal} at {time}, {animal} again {not a var}"
    assert variables(template) == ["animal", "time"]
    filled = fill(template, {"animal": "fox", "time": "dusk"})
    assert filled == "A fox at dusk, fox again {not a var}"
    assert matches(template, filled) and matches(template, template)
    assert not matches(template, "A fox at dusk")
    assert matches("plain", "plain") and not matches("plain", "plain!")


class Slow(Exception):
    pass


def test_matching_a_prompt_to_its_version_does_not_try_every_split() -> None:
    # The case: eight variables, 60 characters that nearly fit. The old pattern, one
    # (.+?) per variable, tried every way to split the text (over a minute here); the
    # timer is thousands of times what one pass over 60 characters takes.
    def too_slow(*_) -> None:
        raise Slow

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.setitimer(signal.ITIMER_REAL, 2)
    try:
        assert not matches("{a}{b}{c}{d}{e}{f}{g}{h}!", "x" * 60)
        assert not matches("{a} {b} {c} {d} {e} {f} {g} {h}.", " " * 60)
        assert matches("{a} {b} {c} {d} {e} {f} {g} {h}.", " " * 60 + ".")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_matching_reads_the_text_once_from_left_to_right() -> None:
    # Linear by construction: one search per literal piece, each starting where the last
    # one ended, so no character is looked at from two different starting points.
    searches: list[tuple[str, int, int]] = []

    class Watched(str):
        def find(self, piece: str, start: int = 0, *args) -> int:
            found = super().find(piece, start, *args)
            searches.append((piece, start, found))
            return found

    template = "{a} at {b}, {c} and {d}{e} end"
    text = Watched("fox at dusk, at dawn, snow and rain and wind!! end")
    assert matches(template, text)
    assert [piece for piece, _, _ in searches] == [" at ", ", ", " and ", ""]
    for (before, _, found), (_, start, _) in pairwise(searches):
        assert start == found + len(before) + 1


def old_matches(template: str, text: str) -> bool:
    """The backtracking regex matches() replaced: the meaning to keep."""
    if text == template:
        return True
    parts = VARIABLE.split(template)
    if len(parts) == 1:
        return False
    pattern = "".join(re.escape(p) if i % 2 == 0 else "(.+?)" for i, p in enumerate(parts))
    return re.fullmatch(pattern, text, re.S) is not None


def test_matching_accepts_exactly_what_the_old_pattern_accepted() -> None:
    # Every template of up to three pieces over a tiny alphabet against every short text:
    # adjacent variables, values that contain the template's own words, a prefix that
    # overlaps the suffix, variables at either end.
    words = ["", "a", "b", "ab", "ba", "aa", " a"]
    templates = [
        "{x}".join(pieces) for n in (2, 3) for pieces in itertools.product(words, repeat=n)
    ] + ["a{x}{y}", "{x}{y}{z}", "{x}a{x}"]
    texts = ["".join(chars) for n in range(7) for chars in itertools.product("ab ", repeat=n)]
    for template in templates:
        for text in texts:
            assert matches(template, text) == old_matches(template, text), (template, text)


def test_a_template_with_too_many_variables_is_refused_with_a_field_error(
    client, owner, settings
) -> None:
    settings.STUDIO_TEMPLATE_MAX_VARIABLES = 3
    data = {"title": "t", "visibility": "private", "text": "{a} {b} {c} {a}"}
    assert client.post("/library/prompts/new/", data).status_code == 302
    data["text"] = "{a} {b} {c} {d}"
    response = client.post("/library/prompts/new/", data)
    assert response.status_code == 200 and Prompt.objects.count() == 1
    assert response.context["form"].errors["text"] == ["The text has 4 variables; the limit is 3."]
    prompt = Prompt.objects.get()
    edit(client, prompt, text="{a} {b} {c} {d} {e}")
    assert prompt.latest_version().text == "{a} {b} {c} {a}"


def test_user_text_is_escaped(client, owner) -> None:
    make_prompt(owner, title="<script>alert(1)</script>", text="<b>bold</b>")
    html = client.get("/library/").content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<b>bold</b>" not in html


# ---------------------------------------------------------------------------- videos per version


def test_the_prompt_page_shows_each_versions_videos_and_numbers(client, owner) -> None:
    prompt = make_prompt(owner, text="v1 text")
    first = prompt.latest_version()
    second = prompt.add_version(text="v2 text", author=owner)
    make_generation(owner, prompt="v1 text", prompt_version=first, status=Status.SUCCEEDED)
    make_generation(owner, prompt="v1 text", prompt_version=first, status=Status.FAILED)
    make_generation(owner, prompt="v2 text", prompt_version=second, status=Status.SUCCEEDED)
    response = client.get(prompt.get_absolute_url())
    rows = {row["version"].number: row for row in response.context["rows"]}
    assert (rows[1]["runs"], rows[1]["success_rate"]) == (2, 50)
    assert (rows[2]["runs"], rows[2]["success_rate"]) == (1, 100)
    assert len(rows[1]["videos"]) == 2 and len(rows[2]["videos"]) == 1
    assert rows[1]["approved"] == 0  # the review app is installed: approvals are counted
    assert "2 runs · 50% succeeded" in response.content.decode()


def test_each_version_shows_its_own_latest_videos_however_busy_the_others(
    client, owner, monkeypatch
) -> None:
    from studio.library import views

    monkeypatch.setattr(views, "VIDEOS_PER_VERSION", 2)
    prompt = make_prompt(owner, text="old")
    old = prompt.latest_version()
    new = prompt.add_version(text="new", author=owner)
    for _ in range(3):
        make_generation(owner, prompt="old", prompt_version=old)
    for _ in range(5):
        make_generation(owner, prompt="new", prompt_version=new)
    rows = {r["version"].number: r for r in client.get(prompt.get_absolute_url()).context["rows"]}
    assert (len(rows[1]["videos"]), rows[1]["runs"]) == (2, 3)
    assert (len(rows[2]["videos"]), rows[2]["runs"]) == (2, 5)


def test_approved_videos_are_counted_per_version(client, owner, reviewer) -> None:
    from studio.review.models import Review

    version = make_prompt(owner, text="v1").latest_version()
    for verdict in ("approved", "approved", "rejected"):
        made = make_generation(owner, prompt="v1", prompt_version=version, status=Status.SUCCEEDED)
        Review.decide(made, reviewer, verdict)
    (row,) = client.get(version.prompt.get_absolute_url()).context["rows"]
    assert (row["runs"], row["approved"]) == (3, 2)


def test_teammates_see_the_numbers_but_only_videos_they_may_see(client, owner, teammate) -> None:
    prompt = make_prompt(owner, visibility="team")
    version = prompt.latest_version()
    make_generation(owner, prompt=version.text, prompt_version=version, status=Status.FAILED)
    response = as_user(client, teammate).get(prompt.get_absolute_url())
    (row,) = response.context["rows"]
    assert row["runs"] == 1 and row["videos"] == []


# ---------------------------------------------------------------------------- library page


def test_search_finds_title_any_versions_text_and_tags(client, owner, teammate) -> None:
    make_prompt(owner, title="Lantern", text="paper light")
    old = make_prompt(owner, title="Fox", text="a fox in the meadow")
    old.add_version(text="a fox in snow", author=owner)
    make_prompt(owner, title="Tagged", text="x", tags=["meadow-walk"])
    make_prompt(teammate, title="Someone's meadow", text="private meadow")

    def titles(query: str) -> list[str]:
        page = client.get("/library/", {"q": query}).context["page"]
        return sorted(p.title for p in page.object_list)

    assert titles("lantern") == ["Lantern"]
    assert titles("meadow") == ["Fox", "Tagged"]  # old version text and tag; not others' private
    assert titles("SNOW") == ["Fox"]


def test_filters_by_tag_owner_visibility_and_stars(client, owner, teammate) -> None:
    mine = make_prompt(owner, title="Mine", tags=["a"])
    make_prompt(owner, title="Mine team", visibility="team", tags=["b"])
    theirs = make_prompt(teammate, title="Theirs team", visibility="team", tags=["a"])
    Star.toggle(owner, theirs)

    def titles(**query) -> list[str]:
        page = client.get("/library/", query).context["page"]
        return sorted(p.title for p in page.object_list)

    assert titles() == ["Mine", "Mine team", "Theirs team"]
    assert titles(tag="a") == ["Mine", "Theirs team"]
    assert titles(owner=teammate.pk) == ["Theirs team"]
    assert titles(visibility="private") == ["Mine"]
    assert titles(starred="on") == ["Theirs team"]
    mine.remove()
    assert titles() == ["Mine team", "Theirs team"]
    assert titles(archived="on") == []  # never used: deleted, not archived
    tags = re.compile(r'<select name="tag".*?</select>', re.S)
    before = tags.search(client.get("/library/").content.decode())[0]
    make_prompt(teammate, title="New tag", visibility="team", tags=["c"])
    after = tags.search(client.get("/library/", {"tag": "c"}).content.decode())[0]
    assert '<option value="c"' not in before and '<option value="c" selected>' in after


def test_sorting_by_recent_use_and_by_success(client, owner) -> None:
    never = make_prompt(owner, title="Never used")
    good = make_prompt(owner, title="Always works")
    poor = make_prompt(owner, title="Often fails")
    for status in (Status.SUCCEEDED, Status.SUCCEEDED):
        make_generation(owner, prompt_version=good.latest_version(), status=status)
    for status in (Status.SUCCEEDED, Status.FAILED, Status.FAILED):
        make_generation(owner, prompt_version=poor.latest_version(), status=status)

    def order(sort: str) -> list[str]:
        return [p.title for p in client.get("/library/", {"sort": sort}).context["page"]]

    assert order("recent") == ["Often fails", "Always works", "Never used"]
    assert order("success") == ["Always works", "Often fails", "Never used"]
    assert order("title") == sorted([never.title, good.title, poor.title])


def library_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/library/").status_code == 200
    return len(queries)


def test_the_library_page_costs_the_same_queries_at_any_size(client, owner, teammate) -> None:
    def add(count: int) -> None:
        for n in range(count):
            prompt = make_prompt(owner if n % 2 else teammate, title=f"P{n}", tags=[f"t{n}", "all"])
            prompt.visibility = "team"
            prompt.save()
            prompt.add_version(text=f"second {n}", author=owner)
            make_generation(owner, prompt_version=prompt.latest_version(), status=Status.SUCCEEDED)
            Star.toggle(owner, prompt)

    add(3)
    small = library_queries(client)
    add(30)
    assert library_queries(client) == small


def test_the_prompt_page_costs_the_same_queries_at_any_size(client, owner) -> None:
    prompt = make_prompt(owner, tags=["x"])

    def grow(count: int) -> int:
        for n in range(count):
            version = prompt.add_version(text=f"text {prompt.versions.count()} {n}", author=owner)
            make_generation(owner, prompt_version=version, status=Status.SUCCEEDED)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(prompt.get_absolute_url()).status_code == 200
        return len(queries)

    assert grow(2) == grow(20)


# ---------------------------------------------------------------------------- stars, forks, archive


def test_starring_toggles_and_counts(client, owner, teammate) -> None:
    prompt = make_prompt(teammate, visibility="team")
    response = client.post(f"/library/prompts/{prompt.pk}/star/", HTTP_HX_REQUEST="true")
    assert 'aria-pressed="true"' in response.content.decode()
    assert Star.objects.filter(user=owner, prompt=prompt).exists()
    client.post(f"/library/prompts/{prompt.pk}/star/")
    assert not Star.objects.filter(user=owner, prompt=prompt).exists()


def test_starring_without_javascript_returns_only_to_our_own_pages(client, owner) -> None:
    prompt = make_prompt(owner)
    url = f"/library/prompts/{prompt.pk}/star/"
    assert client.post(url, {"next": "/library/?q=x"})["Location"] == "/library/?q=x"
    for evil in ("//evil.example/", "/\\evil.example/", "https://evil.example/"):
        assert client.post(url, {"next": evil})["Location"] == prompt.get_absolute_url()


def test_forking_makes_a_private_copy_linked_to_its_source(client, owner, teammate) -> None:
    source = make_prompt(
        teammate, title="Shared", text="shared text", visibility="team", tags=["t"]
    )
    source.add_version(text="shared text v2", author=teammate)
    response = client.post(f"/library/prompts/{source.pk}/fork/")
    fork = Prompt.objects.get(owner=owner)
    assert response["Location"] == fork.get_absolute_url()
    assert fork.forked_from == source and fork.forked_from_version.number == 2
    assert fork.visibility == "private" and fork.latest_version().text == "shared text v2"
    assert list(fork.tags.values_list("name", flat=True)) == ["t"]
    assert source.versions.count() == 2  # the source is untouched


def test_a_prompt_with_videos_is_archived_not_deleted(client, owner) -> None:
    used = make_prompt(owner, title="Used")
    make_generation(owner, prompt_version=used.latest_version())
    unused = make_prompt(owner, title="Unused")
    client.post(f"/library/prompts/{used.pk}/remove/")
    client.post(f"/library/prompts/{unused.pk}/remove/")
    used.refresh_from_db()
    assert used.is_archived and not Prompt.objects.filter(pk=unused.pk).exists()
    client.post(f"/library/prompts/{used.pk}/restore/")
    used.refresh_from_db()
    assert not used.is_archived


# ---------------------------------------------------------------------------- access


def test_anonymous_visitors_are_sent_to_sign_in(client) -> None:
    response = client.get("/library/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_others_private_prompts_404_by_every_url(client, owner, teammate) -> None:
    secret = make_prompt(teammate, title="Secret", text="secret text")
    base = f"/library/prompts/{secret.pk}"
    for url in (f"{base}/", f"{base}/diff/", f"{base}/export/"):
        assert client.get(url).status_code == 404, url
    for url in (f"{base}/edit/", f"{base}/star/", f"{base}/fork/", f"{base}/remove/"):
        assert client.post(url, {"title": "x", "text": "x"}).status_code == 404, url
    version = secret.latest_version()
    assert client.get(f"/?prompt_version={version.pk}").status_code == 404
    assert "Secret" not in client.get("/library/", {"q": "secret"}).content.decode()
    assert secret.versions.count() == 1 and not Star.objects.exists()
    assert Prompt.objects.filter(owner=owner).count() == 0


def test_teammates_may_read_star_and_fork_a_team_prompt_but_not_change_it(
    client, owner, teammate
) -> None:
    shared = make_prompt(teammate, title="Shared", visibility="team")
    assert client.get(shared.get_absolute_url()).status_code == 200
    assert edit(client, shared, text="mine now").status_code == 404
    assert client.post(f"/library/prompts/{shared.pk}/remove/").status_code == 404
    assert client.post(f"/library/prompts/{shared.pk}/star/").status_code == 302
    assert client.post(f"/library/prompts/{shared.pk}/fork/").status_code == 302
    assert shared.versions.count() == 1


def test_changes_need_post(client, owner) -> None:
    prompt = make_prompt(owner)
    for action in ("edit", "star", "fork", "remove", "restore"):
        assert client.get(f"/library/prompts/{prompt.pk}/{action}/").status_code == 405


def test_an_account_without_a_role_gets_403(client, outsider) -> None:
    client.force_login(outsider)
    assert client.get("/library/").status_code == 403


def test_use_in_studio_prefills_the_form_from_a_version(client, owner) -> None:
    prompt = make_prompt(owner, text="A lighthouse in fog", negative_prompt="people")
    version = prompt.latest_version()
    form = client.get(f"/?prompt_version={version.pk}").context["form"]
    assert form["prompt"].value() == "A lighthouse in fog"
    assert form["negative_prompt"].value() == "people"
    assert form["prompt_version"].value() == version.pk


def test_presets_belong_to_the_library_page_queries(client, owner) -> None:
    make_preset(owner)
    assert client.get("/library/presets/").status_code == 200


def library_bar(html: str) -> str:
    return re.search(r'<p class="results-bar">(.*?)</p>', html, re.S).group(1).strip()


def test_the_library_count_stops_at_the_cap_and_every_page_is_still_reached(
    client, owner, teammate, monkeypatch
) -> None:
    """Past the cap the library says "N+" and no last page number; Next still walks every
    prompt the viewer may see exactly once, and none they may not."""
    mine = {make_prompt(owner, title=f"Mine {n}").title for n in range(5)}
    shared = {make_prompt(teammate, title=f"Shared {n}", visibility="team").title for n in (0,)}
    make_prompt(teammate, title="Private of a teammate")
    monkeypatch.setattr("studio.library.views.PAGE_SIZE", 2)
    first = client.get("/library/").content.decode()
    assert library_bar(first) == "6 prompts, page 1 of 3"
    monkeypatch.setattr("studio.keyset.CAP", 3)
    seen, number = [], 1
    while True:
        html = client.get("/library/", {"page": number}).content.decode()
        assert library_bar(html) == f"3+ prompts, page {number}"
        assert f"<span>Page {number}</span>" in html and " of " not in library_bar(html)
        seen += re.findall(r'<h2><a href="[^"]+">([^<]+)</a></h2>', html)
        if 'rel="next"' not in html:
            break
        assert f"page={number + 1}" in html
        number += 1
    assert number == 3 and sorted(seen) == sorted(mine | shared)
    assert "Private of a teammate" not in seen
    for bad in ("nonsense", "0", "99", "-5", "1e3", "9" * 40):  # 9...9: past SQLite's integers
        assert client.get("/library/", {"page": bad}).status_code == 200
