"""Storing the finished video: the whole journey, and the download's SSRF and content rules."""

from __future__ import annotations

import hashlib
import tempfile
import threading
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import FileSystemStorage, default_storage
from PIL import Image

from studio.generations import media, pipeline
from studio.generations.models import Generation, Status
from tests.drive import drive, params, stored_files, submitted
from tests.factories import make_generation, make_user
from tests.sites import redirect, serve

pytestmark = pytest.mark.django_db


def storing(owner, url: str) -> Generation:
    return make_generation(
        owner, status=Status.STORING, task_id="880000000000000123", result_url=url
    )


def sim_video_url(upstream) -> str:
    """A real video URL on the simulator (a finished task)."""
    row = pipeline.create_generation(make_user("maker"), params())
    pipeline.submit(row.pk)
    drive(row, until=(Status.STORING,))
    return row.result_url


# ------------------------------------------------------------------ the journey


def test_happy_path_ends_succeeded_with_a_stored_mp4_and_poster(upstream, queue):
    upstream.config.finish_after = 2.0  # a loaded machine's first poll may come after 0.5 s
    owner = make_user()
    row = pipeline.create_generation(owner, params())
    pipeline.submit(row.pk)

    drive(row)

    assert row.status == Status.SUCCEEDED
    assert row.finished_at is not None
    assert list(row.events.values_list("status", flat=True)) == [
        "queued",
        "submitted",
        "processing",
        "storing",
        "succeeded",
    ]
    with default_storage.open(row.video.name) as handle:
        data = handle.read()
    assert data[4:8] == b"ftyp"
    assert row.video_bytes == len(data)
    assert row.video_sha256 == hashlib.sha256(data).hexdigest()
    assert row.video_seconds == pytest.approx(5.0, abs=0.5)
    assert (row.video_width, row.video_height) != (None, None)
    assert row.video_width > row.video_height  # 16:9
    with default_storage.open(row.poster.name) as handle:
        poster = Image.open(handle)
        poster.load()
    assert poster.format == "JPEG"
    assert max(poster.size) <= 1280  # twice a tile (media.POSTER_SIZE)
    assert row.poster_bytes == default_storage.size(row.poster.name)  # the spend page sums it
    with default_storage.open(row.poster_1x.name) as handle:
        small = Image.open(handle)
        small.load()
    assert small.format == "JPEG"
    # A tile's size (media.POSTER_1X_SIZE); the simulator's 320x180 is not scaled up.
    assert small.size == (min(poster.width, 640), min(poster.height, 360)) == (320, 180)
    assert row.poster_1x_bytes == default_storage.size(row.poster_1x.name)
    assert row.units_charged == 1
    names = sorted(p.name for p in stored_files())
    assert names == sorted([f"{row.pk}.mp4", f"{row.pk}.jpg", f"{row.pk}-1x.jpg"])


def test_storing_twice_keeps_one_copy(upstream, queue):
    row = drive(submitted())
    assert not pipeline.store(row.pk)  # a redelivered store task finds nothing to do
    assert len(stored_files()) == 3  # the video and its two posters


def test_an_expired_link_fails_the_row_with_the_reason(upstream, queue):
    row = drive(submitted("A fox #expire"))

    assert row.status == Status.FAILED
    assert row.status_msg == "The video link expired before it could be saved"
    assert row.download_attempts == 1
    assert stored_files() == []


# ------------------------------------------------------------------ SSRF


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/v.mp4",
        "https://10.0.0.5/v.mp4",
        "https://169.254.169.254/latest/meta-data/",
        "https://localhost/v.mp4",  # a name that resolves to loopback
        "https://[::1]/v.mp4",
        "https://[::ffff:10.0.0.1]/v.mp4",
        "https://0.0.0.0/v.mp4",
        "https://224.0.0.1/v.mp4",
        "file:///etc/passwd",
        "ftp://example.com/v.mp4",
        "http://example.com/v.mp4",
        "https://user:secret@example.com/v.mp4",
    ],
)
def test_links_to_private_addresses_or_other_schemes_are_refused(upstream, url):
    with pytest.raises(media.Refused):
        media.check_url(url, django_settings.DOWNLOAD_ALLOWED_HOSTS)


def test_loopback_is_refused_unless_its_host_and_port_are_allowed(upstream, victim):
    allowed = django_settings.DOWNLOAD_ALLOWED_HOSTS
    assert media.check_url(f"{upstream.url}/_sim/x.mp4", allowed).address == "127.0.0.1"
    with pytest.raises(media.Refused):
        media.check_url(f"{victim.url}/secret", allowed)
    assert victim.hits == []


def test_a_loopback_link_fails_the_row_and_reaches_nothing(upstream, victim):
    row = storing(make_user(), f"{victim.url}/secret")
    pipeline.store(row.pk)
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.status_msg == "The video could not be saved: The video link is not https."
    assert victim.hits == []


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_redirect_to_loopback_is_refused(upstream, site, victim, scheme):
    site.routes["/hop"] = redirect(f"{scheme}://{victim.host}/secret")
    row = storing(make_user(), f"{site.url}/hop")

    pipeline.store(row.pk)

    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert site.hits == ["/hop"]
    assert victim.hits == []
    assert stored_files() == []


def test_allowed_redirects_are_followed(upstream, site, queue):
    video = sim_video_url(upstream)
    site.routes["/hop"] = redirect(video)
    row = storing(make_user(), f"{site.url}/hop")

    pipeline.store(row.pk)

    row.refresh_from_db()
    assert row.status == Status.SUCCEEDED


def test_more_than_three_redirects_are_refused(upstream, site):
    for n in range(4):
        site.routes[f"/hop{n}"] = redirect(f"/hop{n + 1}")
    site.routes["/hop4"] = serve(b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    row = storing(make_user(), f"{site.url}/hop0")
    pipeline.store(row.pk)
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "redirected more than 3 times" in row.status_msg
    assert "/hop4" not in site.hits


# ------------------------------------------------------------------ content rules


def test_a_video_over_the_size_cap_is_refused(upstream, queue, settings):
    video = sim_video_url(upstream)
    settings.DOWNLOAD_MAX_BYTES = 10_000  # the simulator's video is larger
    row = storing(make_user(), video)
    pipeline.store(row.pk)
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "larger than" in row.status_msg
    assert stored_files() == []


def test_a_body_without_length_is_cut_at_the_cap_while_streaming(upstream, site, settings):
    settings.DOWNLOAD_MAX_BYTES = 256 * 1024
    sent = []

    def endless(start_response):
        start_response("200 OK", [("Content-Type", "video/mp4")])
        yield b"\x00\x00\x00\x18ftypmp42"
        for _ in range(10_000):  # 640 MB if nobody stopped reading
            sent.append(1)
            yield b"\x00" * 65536

    site.routes["/endless.mp4"] = endless
    row = storing(make_user(), f"{site.url}/endless.mp4")
    pipeline.store(row.pk)
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "larger than" in row.status_msg
    assert len(sent) < 100


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"<html><body>Not a video</body></html>", "video/mp4", "did not serve an MP4"),
        (b"\x00\x00\x00\x18ftypmp42", "text/html", "not an MP4 video"),
    ],
)
def test_content_that_is_not_an_mp4_is_refused(upstream, site, body, content_type, reason):
    site.routes["/v.mp4"] = serve(body, content_type)
    row = storing(make_user(), f"{site.url}/v.mp4")
    pipeline.store(row.pk)
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert reason in row.status_msg
    assert stored_files() == []


def test_a_failed_download_is_retried_then_fails(upstream, site, settings):
    settings.DOWNLOAD_MAX_ATTEMPTS = 2
    site.routes["/v.mp4"] = serve(b"busy", "text/plain", status="503 Service Unavailable")
    row = storing(make_user(), f"{site.url}/v.mp4")

    pipeline.store(row.pk)

    row.refresh_from_db()
    assert row.status == Status.STORING
    assert row.download_attempts == 1
    assert "HTTP 503" in row.last_error
    assert row.lease_until is None
    assert row.next_poll_at > row.updated_at
    pipeline.store(row.pk)
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.status_msg.startswith("The video could not be saved after 2 attempts")


def test_a_retried_download_can_succeed(upstream, site, queue):
    video = sim_video_url(upstream)
    answers = [serve(b"busy", "text/plain", status="500 Internal Server Error"), redirect(video)]
    site.routes["/v.mp4"] = lambda start_response: answers.pop(0)(start_response)
    row = storing(make_user(), f"{site.url}/v.mp4")
    pipeline.store(row.pk)
    row.refresh_from_db()
    assert row.status == Status.STORING
    pipeline.store(row.pk)  # the CDN has recovered
    row.refresh_from_db()
    assert row.status == Status.SUCCEEDED
    assert row.download_attempts == 2


_WATCH: list[tuple[str, bool]] = []  # (event, inside a transaction) while a test watches
_HOOKED = False


def _audit(event: str, args) -> None:
    if _WATCH and event == "socket.connect":
        from django.db import connections

        _WATCH.append((event, connections["default"].in_atomic_block))


@pytest.mark.django_db(transaction=True)  # no test-wide transaction around the journey
def test_no_network_io_happens_inside_a_transaction(upstream, queue):
    """docs/reliability.md R15: every connection the pipeline opens (API calls, the download) is
    opened with no transaction in progress on that thread."""
    global _HOOKED
    if not _HOOKED:
        import sys

        sys.addaudithook(_audit)  # process-wide and permanent; idle unless _WATCH is set
        _HOOKED = True
    row = pipeline.create_generation(make_user(), params())
    _WATCH.append(("start", False))
    try:
        pipeline.submit(row.pk)
        drive(row)
    finally:
        seen = _WATCH[1:]
        _WATCH.clear()
    assert row.status == Status.SUCCEEDED
    assert len(seen) >= 3  # the create, the polls' client, the download
    assert not any(inside for _, inside in seen)


# ---------------------------------------------------------- placing files (docs/reliability.md R33)


def test_a_file_is_placed_by_rename_never_by_copy(tmp_path) -> None:
    """On one file system the finished file is renamed into place: the target is the very
    file written (same inode), so it never shows a half-copied state."""
    storage = FileSystemStorage(location=tmp_path / "media")
    source = tmp_path / "download.mp4"
    source.write_bytes(b"x" * 4096)
    inode = source.stat().st_ino
    assert media.put(storage, "videos/a.mp4", str(source)) == "videos/a.mp4"
    target = tmp_path / "media" / "videos" / "a.mp4"
    assert target.stat().st_ino == inode and not source.exists()


def test_across_file_systems_the_target_never_exists_partially(tmp_path) -> None:
    """A download in /dev/shm stored under tmp_path crosses file systems (EXDEV): the copy
    goes to a hidden name and is renamed over the target. A thread watches the target
    the whole time: it is the old file or the whole new one, never part of it."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's tmp dir")
    size = 48 * 1024 * 1024
    storage = FileSystemStorage(location=tmp_path / "media")
    target = tmp_path / "media" / "videos" / "a.mp4"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"old")
    seen: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                seen.add(target.stat().st_size)
            except FileNotFoundError:
                seen.add(-1)

    with tempfile.NamedTemporaryFile(dir=shm, suffix=".mp4", delete=False) as handle:
        handle.write(b"v" * size)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        media.put(storage, "videos/a.mp4", handle.name)
    finally:
        done.set()
        watcher.join()
        Path(handle.name).unlink(missing_ok=True)
    assert seen <= {3, size} and size in {target.stat().st_size}
    assert target.read_bytes()[:1] == b"v"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.mp4"]  # no partial left
