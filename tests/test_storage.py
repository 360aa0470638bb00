"""Storage that does not fill up unseen (README: Operating): disk use per person and month on
the spend page from the stored byte counts; retention previews exactly what it then archives
or deletes, keeps approved and starred work, and audits each removal; deleting a generation
takes its files; `manage.py orphans` finds files no row points at."""

from __future__ import annotations

import hashlib
import os
import re
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from studio.generations.models import Generation
from studio.library.models import Star
from studio.ops import retention, tasks
from studio.review.models import AuditEntry, Review
from tests.factories import make_generation, make_prompt, signed_in

pytestmark = pytest.mark.django_db

MB = 1024 * 1024
DAY = timedelta(days=1)


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STUDIO_RETENTION_ARCHIVE_DIR = tmp_path / "archive"
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "tmp"
    settings.STUDIO_RETENTION_ACTION = "archive"
    (tmp_path / "tmp").mkdir()
    return tmp_path


def stored(owner, name: str, age: timedelta = timedelta(0), **kw) -> Generation:
    """A succeeded generation with a real video and poster in storage, made `age` ago."""
    body = f"video of {name}".encode() * 50
    video = default_storage.save(f"videos/{name}.mp4", ContentFile(body))
    poster = default_storage.save(f"posters/{name}.jpg", ContentFile(b"jpeg " + name.encode()))
    return make_generation(
        owner,
        prompt=f"{name}: a heron over the marsh",
        status="succeeded",
        video=video,
        poster=poster,
        video_bytes=len(body),
        poster_bytes=default_storage.size(poster),
        video_sha256=hashlib.sha256(body).hexdigest(),
        created_at=timezone.now() - age,
        **kw,
    )


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# ---------------------------------------------------------------- disk use


def test_the_spend_page_shows_disk_used_per_person_and_month(
    client, owner, teammate, admin, django_assert_num_queries
) -> None:
    now = timezone.now()
    last_month = timezone.localtime(now).replace(day=1) - DAY
    # Rows only: the figures come from the byte counts, there are no files to walk.
    files = {"video": "videos/x.mp4", "poster": "posters/x.jpg", "status": "succeeded"}
    make_generation(owner, video_bytes=3 * MB, poster_bytes=MB, **files)
    make_generation(owner, video_bytes=2 * MB, poster_bytes=0, created_at=last_month, **files)
    make_generation(teammate, video_bytes=MB, **files)
    # Retention took this video; only its poster still takes room.
    removed = {**files, "video": "", "video_removed_at": now}
    make_generation(owner, video_bytes=10 * MB, poster_bytes=MB, **removed)
    make_generation(owner, status="failed")

    with django_assert_num_queries(1):
        Generation.objects.storage_use()
    client.force_login(admin)
    html = client.get("/spend/").content.decode()
    storage = html.split('id="storage-title"')[1]
    people, months = storage.split("Per month made")
    size = filesizeformat
    assert f"<strong>{size(8 * MB)}</strong> of videos and posters" in storage
    assert re.search(rf"cora</th><td>{size(5 * MB)}</td><td>{size(7 * MB)}</td><td>2</td>", people)
    assert re.search(rf"tess</th><td>{size(MB)}</td><td>{size(MB)}</td><td>1</td>", people)
    this_month = f"{timezone.localdate():%B %Y}"
    assert f"{this_month}</th><td>{size(6 * MB)}</td><td>2</td>" in months
    assert f"{last_month:%B %Y}</th><td>{size(2 * MB)}</td><td>1</td>" in months
    assert months.index(this_month) < months.index(f"{last_month:%B %Y}")
    assert 'href="/ops/retention/"' in storage  # admins get the retention page


def test_reviewers_see_disk_use_without_the_retention_link(reviewer_client) -> None:
    html = reviewer_client.get("/spend/").content.decode()
    assert 'id="storage-title"' in html and "/ops/retention/" not in html


# ---------------------------------------------------------------- retention


@pytest.fixture
def old_and_new(media, owner, teammate, reviewer) -> dict[str, Generation]:
    """Videos 40 days old in every state, and a young one; retention at 30 days."""
    old = 40 * DAY
    starred_prompt = make_prompt(owner, title="Herons")
    Star.toggle(teammate, starred_prompt)  # a teammate's star keeps the owner's videos too
    rows = {
        "unreviewed": stored(owner, "unreviewed", old),
        "rejected": stored(owner, "rejected", old),
        "changes": stored(teammate, "changes", old),
        "approved": stored(owner, "approved", old),
        "starred": stored(owner, "starred", old, prompt_version=starred_prompt.versions.first()),
        "young": stored(owner, "young", 10 * DAY),
        "failed": make_generation(owner, status="failed", created_at=timezone.now() - old),
    }
    Review.decide(rows["rejected"], reviewer, "rejected", "No")
    Review.decide(rows["changes"], reviewer, "changes", "Slower")
    Review.decide(rows["approved"], reviewer, "approved", "Yes")
    return rows


DOOMED = {"unreviewed", "rejected", "changes"}


def names(rows: dict[str, Generation], keys) -> set[str]:
    return {str(rows[key].pk) for key in keys}


def test_the_preview_lists_exactly_what_the_run_then_archives(old_and_new, media) -> None:
    rows = old_and_new
    preview = run("retention", "--preview", "--days", "30")
    listed = set(re.findall(r"^  ([0-9a-f-]{36})", preview, re.M))
    assert listed == names(rows, DOOMED)
    assert all(rows[k].video.name in preview for k in DOOMED)
    assert default_storage.exists(rows["unreviewed"].video.name), "a preview changes nothing"

    out = run("retention", "--days", "30")
    removed = Generation.objects.filter(video_removed_at__isnull=False)
    assert {str(pk) for pk in removed.values_list("pk", flat=True)} == listed
    assert "Removed 3 of 3 (archive)" in out
    for key, row in rows.items():
        if not row.video:
            continue
        kept = key not in DOOMED
        assert default_storage.exists(row.video.name) == kept, key
        assert default_storage.exists(row.poster.name), "posters stay"
        archived = media / "archive" / row.video.name
        assert archived.is_file() != kept, key
        if not kept:
            assert hashlib.sha256(archived.read_bytes()).hexdigest() == row.video_sha256
    entries = AuditEntry.objects.filter(action="retention.archive")
    assert {e.target_id for e in entries} == listed
    entry = entries.get(target_id=rows["rejected"].pk)
    assert entry.actor_name == "" and entry.before["video"] == rows["rejected"].video.name
    assert entry.after["archived_to"] == str(media / "archive" / rows["rejected"].video.name)
    again = Generation.objects.get(pk=rows["rejected"].pk)
    assert (
        again.video.name == ""
        and again.poster
        and again.video_bytes == rows["rejected"].video_bytes
    )
    assert run("retention", "--preview", "--days", "30").startswith("Would archive 0 videos")


def test_retention_can_delete_instead(old_and_new, media, client) -> None:
    run("retention", "--days", "30", "--action", "delete")
    assert not (media / "archive").exists()
    for key in DOOMED:
        assert not default_storage.exists(old_and_new[key].video.name)
    assert AuditEntry.objects.filter(action="retention.delete").count() == 3
    page = client.get(f"/generations/{old_and_new['unreviewed'].pk}/").content.decode()
    assert "The video was removed by retention on" in page and "<video" not in page
    assert "/poster.jpg" in page  # the poster stays


def test_a_video_approved_after_the_preview_is_kept(old_and_new, reviewer, media) -> None:
    plan = retention.plan(30)
    assert {str(row.pk) for row in plan.rows} == names(old_and_new, DOOMED)
    Review.decide(old_and_new["rejected"], reviewer, "approved", "On second thought")
    removed = retention.apply(plan)
    assert {str(row.pk) for row in removed} == names(old_and_new, DOOMED - {"rejected"})
    assert default_storage.exists(old_and_new["rejected"].video.name)
    assert not (media / "archive" / old_and_new["rejected"].video.name).exists()


def hidden(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


def test_the_retention_page_shows_the_list_and_removes_that_list(old_and_new, admin) -> None:
    browser = signed_in(admin)
    page = browser.get("/ops/retention/", {"days": 30}).content.decode()
    for key, row in old_and_new.items():
        assert (row.prompt in page) == (key in DOOMED), key
    assert "Archive these 3 videos" in page
    form = hidden(page)
    assert form["days"] == "30" and form["digest"]

    response = browser.post("/ops/retention/", form, follow=True)
    assert "Archived 3 of 3 videos." in response.content.decode()
    removed = Generation.objects.filter(video_removed_at__isnull=False)
    assert {str(pk) for pk in removed.values_list("pk", flat=True)} == names(old_and_new, DOOMED)
    entry = AuditEntry.objects.filter(action="retention.archive").first()
    assert entry.actor_name == "ada"


def test_a_run_whose_list_changed_since_the_preview_removes_nothing(
    old_and_new, admin, owner
) -> None:
    browser = signed_in(admin)
    form = hidden(browser.get("/ops/retention/", {"days": 30}).content.decode())
    Star.toggle(owner, make_prompt(owner, title="Late star"))  # not the list's prompts
    old_and_new["unreviewed"].delete()  # but the list lost a row
    page = browser.post("/ops/retention/", form).content.decode()
    assert "The list changed since it was shown" in page
    assert "Archive these 2 videos" in page
    assert not Generation.objects.filter(video_removed_at__isnull=False).exists()


def test_the_page_without_a_setting_asks_for_the_days(admin, settings) -> None:
    settings.STUDIO_RETENTION_DAYS = 0
    page = signed_in(admin).get("/ops/retention/").content.decode()
    assert "No scheduled retention" in page and "Archive these" not in page


def test_the_schedule_runs_retention_only_when_it_is_set(old_and_new, settings) -> None:
    settings.STUDIO_RETENTION_DAYS = 0
    assert tasks.run_retention() == 0
    with pytest.raises(CommandError, match="Retention is off"):
        run("retention")
    settings.STUDIO_RETENTION_DAYS = 30
    assert tasks.run_retention() == 3
    assert tasks.run_retention() == 0


# ---------------------------------------------------------------- deleting a generation


def test_deleting_a_generation_in_the_admin_removes_its_files(
    media, owner, admin, django_capture_on_commit_callbacks
) -> None:
    row = stored(owner, "doomed")
    browser = signed_in(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/admin/generations/generation/{row.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Generation.objects.filter(pk=row.pk).exists()
    assert not default_storage.exists(row.video.name)
    assert not default_storage.exists(row.poster.name)


def test_the_admins_bulk_delete_removes_every_file(
    media, owner, admin, django_capture_on_commit_callbacks
) -> None:
    rows = [stored(owner, f"bulk-{n}") for n in range(3)]
    keep = stored(owner, "kept")
    form = {"action": "delete_selected", "post": "yes", "_selected_action": [r.pk for r in rows]}
    with django_capture_on_commit_callbacks(execute=True):
        signed_in(admin).post("/admin/generations/generation/", form)
    assert not Generation.objects.filter(pk__in=[r.pk for r in rows]).exists()
    assert [p.name for p in (media / "media" / "videos").iterdir()] == ["kept.mp4"]
    assert default_storage.exists(keep.poster.name)


def test_a_delete_that_rolls_back_keeps_the_files(media, owner) -> None:
    row = stored(owner, "survivor")
    with pytest.raises(RuntimeError), transaction.atomic():
        row.delete()
        raise RuntimeError("rolled back")
    assert default_storage.exists(row.video.name) and default_storage.exists(row.poster.name)


# ---------------------------------------------------------------- orphans


def age(path: Path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def test_orphans_are_reported_then_deleted_and_nothing_else(media, owner) -> None:
    row = stored(owner, "pointed-at")
    root = media / "media"
    (root / "videos" / "lost.mp4").write_bytes(b"lost" * 100)
    (root / "videos" / ".half.mp4.partial").write_bytes(b"half")
    (root / "videos" / "just-saved.mp4").write_bytes(b"a worker is about to point at it")
    temp = media / "tmp" / "download-abc.mp4"
    temp.write_bytes(b"killed mid-download")
    for path in (root / "videos" / "lost.mp4", root / "videos" / ".half.mp4.partial", temp):
        age(path, 2)
    for path in (root / row.video.name, root / row.poster.name):
        age(path, 2)
    make_generation(owner, status="succeeded", video="videos/gone.mp4")

    report = run("orphans")
    assert "Files no row points at: 1\n  videos/lost.mp4" in report
    assert "Half-done copies in storage: 1\n  videos/.half.mp4.partial" in report
    assert f"Download temp files left behind: 1\n  {temp}" in report
    assert "Too recent to judge (a worker may be saving them): 1" in report
    assert "Rows pointing at a missing file: 1\n  videos/gone.mp4" in report
    assert (root / "videos" / "lost.mp4").exists(), "a report deletes nothing"

    assert "Removed 3 files" in run("orphans", "--delete")
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert left == sorted([row.video.name, row.poster.name, "videos/just-saved.mp4"])
    assert not temp.exists()
