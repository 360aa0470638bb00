"""The list pages at any size (studio/keyset.py): cursor pages that show every row exactly
once, keep the filters and never show another's private work; capped counts; the review
facts the pages index (reviewed, team_visible); the spend rollup equal to its charges."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from studio import keyset
from studio.generations import pipeline
from studio.generations.models import Generation, StorageMonth
from studio.review import budgets
from studio.review.models import SPENT, Charge, Review, SpendMonth
from tests.factories import finish, make_generation, make_task, make_user

pytestmark = pytest.mark.django_db

IDS = re.compile(r'name="ids" value="([0-9a-f-]+)"')
LINK = re.compile(r'<a href="([^"]+)" rel="(prev|next)">')


def links(html: str) -> dict[str, str]:
    return {rel: href.replace("&amp;", "&") for href, rel in LINK.findall(html)}


def walk(client, path: str, query: str = "", pattern=IDS) -> tuple[list[str], list[str]]:
    """Follow the "next" links from the first page to the last: every id shown, in order,
    and every href followed."""
    shown, followed = [], []
    url = f"{path}{query}"
    for _ in range(200):
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        shown += pattern.findall(html)
        following = links(html).get("next")
        if not following:
            return shown, followed
        followed.append(following)
        url = f"{path}{following}"
    raise AssertionError("the pages never ended")


def many(owner, count: int, **kw) -> list[Generation]:
    """`count` generations of `owner`, in pairs made at the same instant (ties in the sort
    key, so the id decides), newest first."""
    now = timezone.now()
    rows = [
        make_generation(owner, created_at=now - timedelta(seconds=n // 2), **kw)
        for n in range(count)
    ]
    return sorted(rows, key=lambda g: (g.created_at, g.pk), reverse=True)


def test_a_cursor_walk_shows_every_generation_exactly_once_newest_first(client, owner) -> None:
    rows = many(owner, 24 * keyset.NUMBERED + 31)
    shown, followed = walk(client, "/history/")
    assert shown == [str(g.pk) for g in rows]
    # The first pages by number, then cursors.
    assert [f"?page={n}" for n in range(2, keyset.NUMBERED + 1)] == followed[: keyset.NUMBERED - 1]
    assert all("after=" in href for href in followed[keyset.NUMBERED - 1 :])


def test_newer_links_walk_back_to_the_first_page(client, owner) -> None:
    rows = many(owner, 24 * (keyset.NUMBERED + 2))
    _, followed = walk(client, "/history/")
    last = client.get(f"/history/{followed[-1]}").content.decode()
    seen = IDS.findall(last)
    url = links(last)["prev"]
    for _ in range(20):
        html = client.get(f"/history/{url}").content.decode()
        seen = IDS.findall(html) + seen
        if "prev" not in links(html):
            break
        url = links(html)["prev"]
    # Numbered and cursor pages meet: every row once, in order.
    assert seen[-24 * 3 :] == [str(g.pk) for g in rows][-24 * 3 :]
    assert len(seen) == len(set(seen))


def test_cursor_links_keep_the_filters_and_the_view(client, owner) -> None:
    kept = many(owner, 24 * keyset.NUMBERED + 5, model_name="kling-v3")
    many(owner, 30, model_name="kling-v1")
    shown, followed = walk(client, "/history/", "?model_name=kling-v3&view=list")
    assert shown == [str(g.pk) for g in kept]
    assert all(href.startswith("?model_name=kling-v3&view=list&") for href in followed)


@pytest.mark.parametrize(
    "query",
    [
        "?after=nonsense",
        "?after=2026-13-40T99:00:00+00:00~not-a-uuid",
        "?after=2026-01-01T10:00:00~00000000-0000-0000-0000-000000000000",  # naive time
        "?before=" + "9" * 300,
        "?after=~",
        "?after=-~-",
        "?page=0",
        "?page=-3",
        "?page=abc",
        "?page=%C2%B2",  # "²": a digit to str.isdigit, not to int()
        "?page=99999999999999999999",
        "?after=2026-01-01T10:00:00%2B00:00~00000000-0000-0000-0000-000000000000&before=x",
    ],
)
def test_a_bad_cursor_or_page_number_shows_the_first_page(client, owner, query) -> None:
    rows = many(owner, 30)
    response = client.get(f"/history/{query}")
    assert response.status_code == 200
    first = [str(g.pk) for g in rows[:24]]
    shown = IDS.findall(response.content.decode())
    assert shown == first or query.endswith("&before=x")  # a good `after` wins there
    assert client.get(f"/gallery/{query}").status_code == 200


def test_the_page_past_the_oldest_row_is_empty_not_an_error(client, owner) -> None:
    rows = many(owner, 3)
    oldest = rows[-1]
    cursor = keyset.encode((oldest.created_at, oldest.pk))
    response = client.get("/history/", {"after": cursor})
    assert response.status_code == 200 and IDS.findall(response.content.decode()) == []


def test_no_page_shows_another_persons_unapproved_work(
    client, owner, teammate, outsider, reviewer
) -> None:
    """The team sees the owner's approved videos only, on every page of history and the
    gallery; an account without a role sees nothing."""
    approved, private = [], []
    for n, g in enumerate(many(owner, 24 * (keyset.NUMBERED + 2), status="succeeded")):
        if n % 3 == 0:
            Review.decide(g, reviewer, "approved")
            approved.append(str(g.pk))
        elif n % 3 == 1:
            Review.decide(g, reviewer, "rejected", "No")
            private.append(str(g.pk))
        else:
            private.append(str(g.pk))
    mine = [str(g.pk) for g in many(teammate, 40)]
    client.force_login(teammate)
    shown, _ = walk(client, "/history/")
    assert sorted(shown) == sorted(mine + approved) and len(shown) == len(set(shown))
    gallery, _ = walk(client, "/gallery/", pattern=re.compile(r"/generations/([0-9a-f-]+)/\""))
    assert set(gallery) == set(approved) and not set(gallery) & set(private)
    client.force_login(outsider)
    assert client.get("/history/").status_code == 403


def test_a_reviewer_pages_through_every_finished_video(client, owner, teammate, reviewer) -> None:
    finished = many(owner, 30, status="succeeded") + many(teammate, 30, status="succeeded")
    running = many(teammate, 5, status="processing")
    client.force_login(reviewer)
    shown, _ = walk(client, "/history/")
    assert sorted(shown) == sorted(str(g.pk) for g in finished)
    assert not {str(g.pk) for g in running} & set(shown)


def test_the_review_queue_pages_oldest_first_and_drops_decided_videos(
    reviewer_client, reviewer, owner
) -> None:
    now = timezone.now()
    waiting = [
        make_generation(owner, status="succeeded", finished_at=now - timedelta(minutes=n // 2))
        for n in range(24 * keyset.NUMBERED + 10)
    ]
    undated = make_generation(owner, status="succeeded")  # finished_at NULL: still listed
    decided = waiting.pop(7)
    Review.decide(decided, reviewer, "changes", "Slower")
    pattern = re.compile(r'class="card-media" href="/review/([0-9a-f-]+)/"')
    shown, followed = walk(reviewer_client, "/review/", pattern=pattern)
    expected = sorted(waiting, key=lambda g: (g.finished_at, g.pk))
    assert [s for s in shown if s != str(undated.pk)] == [str(g.pk) for g in expected]
    assert shown.count(str(undated.pk)) == 1 and str(decided.pk) not in shown
    assert any("after=" in href for href in followed)


def test_counts_stop_at_the_cap(client, owner, monkeypatch) -> None:
    monkeypatch.setattr(keyset, "CAP", 25)
    many(owner, 30)
    html = client.get("/history/").content.decode()
    assert "25+ generations" in html and "page 1 of" not in html
    monkeypatch.setattr(keyset, "CAP", 10_000)
    assert "30 generations, page 1 of 2" in client.get("/history/").content.decode()


def test_a_capped_count_reads_at_most_the_cap_per_part(owner, teammate, monkeypatch) -> None:
    many(owner, 12)
    many(teammate, 3, status="succeeded")
    rows = Generation.objects.visible_to(owner)
    parts = Generation.objects.visible_parts(owner)
    assert keyset.capped_count(rows, parts) == (12, False)
    monkeypatch.setattr(keyset, "CAP", 10)
    assert keyset.capped_count(rows, parts) == (10, True)


# ---------------------------------------------------------------- the review facts


def test_verdicts_keep_the_review_facts_in_step(owner, reviewer, admin) -> None:
    video = make_generation(owner, status="succeeded")
    assert (video.reviewed, video.team_visible) == (False, False)
    Review.decide(video, reviewer, "approved")
    video.refresh_from_db()
    assert (video.reviewed, video.team_visible) == (True, True)
    Review.decide(video, reviewer, "changes", "Slower")
    video.refresh_from_db()
    assert (video.reviewed, video.team_visible) == (True, False)
    Review.decide(video, reviewer, "approved")
    Review.objects.filter(pk=video.pk).get().delete()  # the admin removes the verdict
    video.refresh_from_db()
    assert (video.reviewed, video.team_visible) == (False, False)


def test_the_backfill_migration_sets_the_facts_from_the_verdicts(owner, reviewer) -> None:
    import importlib

    from django.apps import apps

    backfill = importlib.import_module("studio.review.migrations.0006_review_facts_backfill")
    approved = make_generation(owner, status="succeeded")
    rejected = make_generation(owner, status="succeeded")
    waiting = make_generation(owner, status="succeeded")
    Review.decide(approved, reviewer, "approved")
    Review.decide(rejected, reviewer, "rejected", "No")
    Generation.objects.update(reviewed=False, team_visible=False)
    backfill.fill(apps, None)
    facts = dict(Generation.objects.values_list("pk", "team_visible"))
    assert facts == {approved.pk: True, rejected.pk: False, waiting.pk: False}
    assert set(Generation.objects.filter(reviewed=True).values_list("pk", flat=True)) == {
        approved.pk,
        rejected.pk,
    }


# ---------------------------------------------------------------- the spend rollup

V16 = {"model_name": "kling-v1-6", "prompt": "A kite", "mode": "std", "duration": "5"}
V3 = {"model_name": "kling-v3", "prompt": "An owl", "mode": "pro", "duration": "10"}


def aggregate() -> dict:
    """What the spend page summed from every charge before the rollup."""
    rows = Charge.objects.values("owner", "model_name").annotate(
        units=Sum(SPENT), videos=Count("pk")
    )
    return {(r["owner"], r["model_name"]): (r["units"], r["videos"]) for r in rows}


def rollup() -> dict:
    rows = SpendMonth.objects.filter(videos__gt=0)
    return {(r.owner_id, r.model_name): (r.units, r.videos) for r in rows}


def test_the_rollup_equals_the_charges_after_charges_refunds_and_deletes(
    owner, teammate, queue
) -> None:
    made = [pipeline.create_generation(owner, {**V16, "prompt": f"p{n}"}) for n in range(4)]
    made += [pipeline.create_generation(teammate, {**V3, "prompt": f"q{n}"}) for n in range(3)]
    assert rollup() == aggregate() and len(rollup()) == 2
    task = make_task("processing")
    assert made[0].mark_submitted(task, note="sent")
    finish(made[0], units=Decimal("2.5"))  # the upstream's own figure replaces the estimate
    made[1].mark_failed("Refused for good.")  # nothing charged: a refund of the estimate
    made[2].mark_failed_upstream(make_task("failed", final_unit_deduction=Decimal("0.5")))
    finish(made[4], units=Decimal(7))
    assert rollup() == aggregate()
    made[3].delete()
    assert rollup() == aggregate()
    month = SpendMonth.objects.get(owner=owner)
    assert month.charged == Decimal("3") and month.videos == 3


def test_the_spend_page_reads_the_rollup(client, owner, admin, queue) -> None:
    first = pipeline.create_generation(owner, V16)
    pipeline.create_generation(owner, {**V16, "prompt": "again"})
    first.mark_failed("Refused for good.")
    client.force_login(admin)
    html = client.get("/spend/").content.decode()
    units = aggregate()[(owner.pk, "kling-v1-6")][0]
    assert budgets.fmt(units) in html
    report = budgets.month_spend(timezone.now())
    assert report["total"] == units and report["people"][0]["videos"] == 2


def test_rebuilding_the_rollup_gives_the_same_rows(owner, teammate, queue) -> None:
    for n in range(3):
        pipeline.create_generation(owner, {**V16, "prompt": f"p{n}"})
    failed = pipeline.create_generation(teammate, V3)
    failed.mark_failed("Refused for good.")
    kept = sorted(SpendMonth.objects.values_list("month", "owner", "model_name", "units", "videos"))
    budgets.rebuild_rollup()
    rebuilt = SpendMonth.objects.values_list("month", "owner", "model_name", "units", "videos")
    assert sorted(rebuilt) == kept


def test_a_budget_counts_this_months_rollup(owner, queue) -> None:
    from studio.review.models import Budget

    Budget.objects.create(user=owner, monthly_units=Decimal(100))
    pipeline.create_generation(owner, V16)
    spent = budgets.summary(owner)["allowances"][0].spent
    assert spent == Charge.objects.units() and spent > 0


def test_an_approved_video_from_someone_new_shows_in_the_gallery(client, owner, reviewer) -> None:
    maker = make_user("mia")
    video = make_generation(maker, status="succeeded", prompt="Approved far away")
    Review.decide(video, reviewer, "approved")
    assert "Approved far away" in client.get("/gallery/").content.decode()


# ---------------------------------------------------------------- the storage rollup


def storage_rows() -> dict:
    return {
        (r.owner_id, r.month): (r.bytes, r.videos)
        for r in StorageMonth.objects.exclude(bytes=0, videos=0)
    }


def storage_aggregate() -> dict:
    return {
        (r["owner_id"], timezone.localtime(r["month"]).date()): (r["bytes"], r["videos"])
        for r in Generation.objects.storage_use()
        if r["bytes"] or r["videos"]
    }


def test_the_storage_rollup_follows_stored_videos_retention_and_deletes(
    owner, teammate, settings, tmp_path
) -> None:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.core.management import call_command

    from studio.generations.media import StoredMedia

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STUDIO_RETENTION_ARCHIVE_DIR = tmp_path / "archive"
    settings.STUDIO_RETENTION_ACTION = "archive"
    old = timezone.now() - timedelta(days=90)
    made = {"status": "succeeded", "video_bytes": 3000, "poster_bytes": 100}
    make_generation(owner, video="videos/a.mp4", poster="posters/a.jpg", **made)
    make_generation(teammate, video="videos/b.mp4", poster="", created_at=old, **made)
    video = default_storage.save("videos/c.mp4", ContentFile(b"v" * 500))
    poster = default_storage.save("posters/c.jpg", ContentFile(b"p" * 50))
    aged = make_generation(
        owner, status="succeeded", created_at=old, video=video, poster=poster, video_bytes=500
    )
    assert StorageMonth.rebuild() == 3 and storage_rows() == storage_aggregate()
    running = make_generation(owner, status="processing")
    files = StoredMedia("videos/d.mp4", "posters/d.jpg", 7000, "", 5.0, 1280, 720, 200)
    running.mark_storing(make_task("succeed", video_url="https://x.test/v.mp4"), next_poll_at=old)
    assert running.mark_succeeded(files)
    assert storage_rows() == storage_aggregate()
    call_command("retention", "--days", "30", stdout=StringIO())
    aged.refresh_from_db()
    assert aged.video == "" and aged.video_removed_at is not None  # retention took it
    assert storage_rows() == storage_aggregate()
    running.delete()
    assert storage_rows() == storage_aggregate()
    assert StorageMonth.objects.filter(owner=owner).count() == 2


def test_the_spend_page_reads_disk_use_from_the_rollup(
    client, admin, owner, django_assert_max_num_queries
) -> None:
    for n in range(5):
        make_generation(owner, status="succeeded", video=f"videos/{n}.mp4", video_bytes=1000)
    client.force_login(admin)
    client.get("/spend/")
    with django_assert_max_num_queries(20) as queries:
        html = client.get("/spend/").content.decode()
    assert "<strong>4.9\xa0KB</strong>" in html.split('id="storage-title"')[1]
    assert not [q for q in queries.captured_queries if "video_bytes" in q["sql"]]


# ---------------------------------------------------------------- the filters' selects


def test_a_quick_select_writes_the_html_of_djangos_select() -> None:
    from django import forms
    from django.test.html import parse_html

    from studio.widgets import QuickSelect

    choices = [("", "Any"), ("a<b", "A & B"), ("Group", [("1", "one"), ("2", "two")])]

    class Plain(forms.Form):
        pick = forms.ChoiceField(choices=choices, required=False)

    class Quick(forms.Form):
        pick = forms.ChoiceField(choices=choices, required=False, widget=QuickSelect)

    for data in ({}, {"pick": "a<b"}, {"pick": "2"}, {"pick": "bad"}):
        for attrs in ({}, {"data-x": True, "hidden": False, "aria-label": 'say "hi"'}):
            plain, quick = Plain(data), Quick(data)
            plain.fields["pick"].widget.attrs.update(attrs)
            quick.fields["pick"].widget.attrs.update(attrs)
            assert parse_html(str(quick["pick"])) == parse_html(str(plain["pick"]))


def test_a_quick_select_of_options_writes_the_same_html_and_each_answer_its_own() -> None:
    """Options (plain pairs, set as they are) render as Django's select does; the rendered
    select kept per process is keyed on every choice, the chosen one and the attributes,
    so a new choice or another pick shows at once."""
    from django import forms
    from django.test.html import parse_html

    from studio.widgets import Options, QuickSelect

    pairs = [("", "Any"), ("a<b", "A & B"), ("c", "C")]

    class Plain(forms.Form):
        pick = forms.ChoiceField(choices=pairs, required=False)

    class Quick(forms.Form):
        pick = forms.ChoiceField(required=False, widget=QuickSelect)

        def __init__(self, *args, pairs, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.fields["pick"].choices = Options(pairs)

    for _ in range(2):  # the second time from what was kept
        for data in ({}, {"pick": "a<b"}, {"pick": "c"}, {"pick": "bad"}):
            quick, plain = Quick(data, pairs=pairs), Plain(data)
            assert parse_html(str(quick["pick"])) == parse_html(str(plain["pick"]))
            assert quick.is_valid() == plain.is_valid()
    grown = Quick({"pick": "d"}, pairs=[*pairs, ("d", "D")])
    assert '<option value="d" selected>D</option>' in str(grown["pick"]) and grown.is_valid()
    assert '<option value="d">D</option>' in str(Quick({}, pairs=[*pairs, ("d", "D")])["pick"])
    aria = Quick({}, pairs=pairs)
    aria.fields["pick"].widget.attrs["aria-label"] = "Tag"
    assert 'aria-label="Tag"' in str(aria["pick"])
    assert "aria-label" not in str(Quick({}, pairs=pairs)["pick"])


def test_the_list_filters_use_quick_selects() -> None:
    from studio.generations.forms import HistoryFilterForm
    from studio.library.forms import LibraryFilterForm
    from studio.review.forms import GalleryFilterForm, QueueFilterForm
    from studio.widgets import QuickSelect

    for form in (HistoryFilterForm, LibraryFilterForm, GalleryFilterForm, QueueFilterForm):
        selects = [
            f.widget for f in form.base_fields.values() if "Select" in type(f.widget).__name__
        ]
        assert selects and all(type(widget) is QuickSelect for widget in selects), form


# ---------------------------------------------------------------- the filters' fields, kept


def filters(client, path: str) -> str:
    html = client.get(path).content.decode()
    return re.search(r'<div class="filter-grid">.*?</form>', html, re.S)[0]


def test_kept_filter_fields_follow_what_was_asked_the_choices_and_the_viewer(client) -> None:
    """The rendered fields (filter_tags.py) are kept per everything they show: a search
    typed, a pick, an error, a new author and another viewer's fields show at once."""
    from studio.generations.templatetags import filter_tags

    filter_tags.RENDERED.clear()
    admin, creator = make_user("ada", roles=("admin",)), make_user("cal")
    make_generation(creator, status="succeeded")
    client.force_login(admin)
    plain = filters(client, "/history/")
    assert plain == filters(client, "/history/") and len(filter_tags.RENDERED) == 1
    assert 'name="author"' in plain and ">cal</option>" in plain and ">dee</option>" not in plain
    assert 'value="fox"' in filters(client, "/history/?q=fox")
    assert '<option value="failed" selected>' in filters(client, "/history/?status=failed")
    assert '<option value="failed" selected>' not in filters(client, "/history/")
    bad = filters(client, "/history/?date_from=nonsense")
    assert 'class="error"' in bad and 'value="nonsense"' in bad
    make_generation(make_user("dee"), status="succeeded")
    assert ">dee</option>" in filters(client, "/history/")
    client.force_login(creator)
    assert 'name="author"' not in filters(client, "/history/")  # a creator has no such field
