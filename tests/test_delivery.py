"""Media delivery (studio/generations/delivery.py): every path after the same access check
keeps byte ranges, Cache-Control, ETag/Last-Modified with 304s and ?download=1, and a person
who may not see a video gets no byte of it. Here: the studio's own threads (`app`) and the
studio's media process (`server`, started for real on loopback). nginx: tests/test_nginx.py;
S3: tests/test_s3_delivery.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from django.core import signing
from django.test import Client

from studio.generations import delivery
from studio.generations.delivery import LINK_SALT
from studio.generations.models import Generation
from tests.factories import make_generation
from tests.system import (
    ROOT,
    Proc,
    System,
    assert_download_and_poster,
    assert_sends_video,
    free_port,
    media_link,
    sign_in,
    via_link,
    wait_http,
)

pytestmark = pytest.mark.django_db

VIDEO = bytes(range(256)) * 400  # 102,400 bytes standing in for an MP4
POSTERS = {
    "poster.jpg": b"\xff\xd8\xff\xe0poster-2x",
    "poster-1x.jpg": b"\xff\xd8\xff\xe0poster-1x",
}


@pytest.fixture
def media(settings, tmp_path) -> Path:
    root = tmp_path / "media"
    (root / "videos").mkdir(parents=True)
    (root / "videos" / "fox.mp4").write_bytes(VIDEO)
    (root / "posters").mkdir()
    (root / "posters" / "fox.jpg").write_bytes(POSTERS["poster.jpg"])
    (root / "posters" / "fox-1x.jpg").write_bytes(POSTERS["poster-1x.jpg"])
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture
def stored(owner, media) -> Generation:
    return make_generation(
        owner,
        status="succeeded",
        video="videos/fox.mp4",
        poster="posters/fox.jpg",
        poster_1x="posters/fox-1x.jpg",
    )


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# ---------------------------------------------------------------- app: the studio's threads


def test_the_app_path_sends_validators_and_answers_304_to_a_current_copy(client, stored) -> None:
    url = f"/generations/{stored.pk}/video.mp4"
    first = client.get(url)
    assert first.status_code == 200 and content(first) == VIDEO
    assert first["Cache-Control"] == "private, max-age=3600"
    etag, modified = first["ETag"], first["Last-Modified"]
    assert etag.startswith('"') and modified.endswith("GMT")

    again = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and content(again) == b""
    assert again["ETag"] == etag and again["Cache-Control"] == "private, max-age=3600"
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
    changed = client.get(url, HTTP_IF_NONE_MATCH='"something-else"')
    assert changed.status_code == 200 and content(changed) == VIDEO


@pytest.mark.parametrize("name", list(POSTERS))
def test_both_posters_are_sent_as_the_video_is_with_validators_and_304s(
    client, stored, name
) -> None:
    url = f"/generations/{stored.pk}/{name}"
    first = client.get(url)
    assert first.status_code == 200 and content(first) == POSTERS[name]
    assert first["Content-Type"] == "image/jpeg"
    assert first["Cache-Control"] == "private, max-age=3600"
    again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and content(again) == b""
    assert again["Cache-Control"] == "private, max-age=3600"
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304


def test_a_range_for_a_changed_file_gets_the_whole_new_file(client, stored) -> None:
    url = f"/generations/{stored.pk}/video.mp4"
    etag = client.get(url)["ETag"]
    same = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=etag)
    assert same.status_code == 206 and content(same) == VIDEO[:10]
    stale = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"an-older-copy"')
    assert stale.status_code == 200 and content(stale) == VIDEO


def test_a_range_download_is_still_an_attachment(client, stored) -> None:
    response = client.get(
        f"/generations/{stored.pk}/video.mp4", {"download": "1"}, HTTP_RANGE="bytes=5-"
    )
    assert response.status_code == 206 and content(response) == VIDEO[5:]
    assert response["Content-Disposition"] == f'attachment; filename="kling-{stored.pk}.mp4"'


def test_a_missing_file_is_404(client, stored, media) -> None:
    (media / "videos" / "fox.mp4").unlink()
    assert client.get(f"/generations/{stored.pk}/video.mp4").status_code == 404


# ---------------------------------------------------------------- server: the media process


@pytest.fixture
def media_server(settings, media, tmp_path) -> Iterator[str]:
    """`python -m studio.generations.mediaserver` on a free loopback port, with the test's
    SECRET_KEY and media folder, cutting any download at SEND_SECONDS; the studio's
    settings point at it."""
    port = free_port()
    env = {
        "DJANGO_SETTINGS_MODULE": "studio.settings",
        "STUDIO_DATA_DIR": str(tmp_path / "data"),
        "MEDIA_ROOT": str(media),
        "SECRET_KEY": settings.SECRET_KEY,
        "STUDIO_MEDIA_LINK_SECONDS": "60",
        "PATH": "/usr/bin:/bin",
    }
    command = [sys.executable, "-m", "studio.generations.mediaserver", "--port", str(port)]
    command += ["--send-seconds", str(SEND_SECONDS)]
    process = Proc("media", command, env, tmp_path / "media.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", process)
        settings.MEDIA_DELIVERY = "server"
        settings.MEDIA_SERVER_URL = url
        settings.MEDIA_LINK_SECONDS = 60
        yield url
    finally:
        process.stop()
    log = (tmp_path / "media.log").read_text()
    assert "Traceback" not in log and " 500 " not in log, log  # no request failed in there


SEND_SECONDS = 4


def test_the_media_server_sends_the_file_with_ranges_validators_and_304s(
    client, stored, media_server
) -> None:
    url = media_link(client, f"/generations/{stored.pk}/video.mp4")
    assert url.startswith(f"{media_server}/media/")
    assert_sends_video(httpx.get, url, VIDEO, stored.pk)
    assert_download_and_poster(via_link(client), stored.pk, VIDEO)
    for name, data in POSTERS.items():
        poster = httpx.get(media_link(client, f"/generations/{stored.pk}/{name}"))
        assert poster.headers["Content-Type"] == "image/jpeg" and poster.content == data
        assert poster.headers["Cache-Control"] == "private, max-age=3600"
        again = media_link(client, f"/generations/{stored.pk}/{name}")
        current = {"If-None-Match": poster.headers["ETag"]}
        assert httpx.get(again, headers=current).status_code == 304


def test_a_link_that_ran_out_or_was_not_signed_by_the_studio_gets_no_byte(
    client, stored, media_server, monkeypatch
) -> None:
    good = media_link(client, f"/generations/{stored.pk}/video.mp4")
    token = good.split("/media/", 1)[1].split("/", 1)[0]
    forged = good.replace(token, token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb"))
    other = signing.dumps(["videos/fox.mp4", "video/mp4", "x.mp4", False], salt="another")
    with monkeypatch.context() as past:  # a link made 61 s ago, beyond its 60 s
        then = time.time() - 61
        past.setattr(delivery.time, "time", lambda: then)
        expired = media_link(client, f"/generations/{stored.pk}/video.mp4")
    for url in (forged, expired, f"{media_server}/media/{other}/x.mp4"):
        refused = httpx.get(url, headers={"Range": "bytes=0-"})
        assert refused.status_code == 403, url
        assert VIDEO[:16] not in refused.content
    escape = signing.dumps(["../../etc/passwd", "text/plain", "x", False], salt=LINK_SALT)
    assert httpx.get(f"{media_server}/media/{escape}/x").status_code == 404
    for path in ("/media/videos/fox.mp4", "/videos/fox.mp4", "/fox.mp4"):  # storage paths
        answer = httpx.get(f"{media_server}{path}")
        assert answer.status_code in (403, 404) and VIDEO[:16] not in answer.content
    assert httpx.get(good).content == VIDEO  # the good link still works


def test_a_viewer_that_stops_reading_is_cut_off_and_the_server_goes_on(
    client, owner, media, media_server, tmp_path
) -> None:
    (media / "videos" / "big.mp4").write_bytes(bytes(range(256)) * (24 * 4096))  # 24 MB
    row = make_generation(owner, status="succeeded", video="videos/big.mp4")
    url = urlsplit(media_link(client, f"/generations/{row.pk}/video.mp4"))
    stalled = socket.create_connection((url.hostname, url.port), timeout=30)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    stalled.sendall(f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
    time.sleep(SEND_SECONDS + 2)  # reads nothing meanwhile
    received = b""
    while chunk := stalled.recv(1 << 20):  # what was in flight, then the end
        received += chunk
    stalled.close()
    assert received.startswith(b"HTTP/1.1 200") and len(received) < 24 * 1024 * 1024
    again = media_link(client, f"/generations/{row.pk}/video.mp4")  # the server goes on
    assert httpx.get(again, headers={"Range": "bytes=0-99"}).content == bytes(range(100))
    assert "took over" in (tmp_path / "media.log").read_text()


def test_the_same_file_asked_again_soon_gets_the_same_link_for_the_browsers_cache(
    client, stored, media_server, settings
) -> None:
    first = media_link(client, f"/generations/{stored.pk}/video.mp4")
    assert media_link(client, f"/generations/{stored.pk}/video.mp4") == first
    assert media_link(client, f"/generations/{stored.pk}/video.mp4", download="1") != first
    assert media_link(client, f"/generations/{stored.pk}/poster.jpg") != first
    settings.MEDIA_LINK_SECONDS = 1_000_000  # another window
    assert media_link(client, f"/generations/{stored.pk}/video.mp4") != first


@pytest.mark.parametrize("delivery", ["app", "server"])
def test_who_may_not_see_a_video_gets_no_link_and_no_byte(
    client, stored, teammate, outsider, media_server, settings, delivery
) -> None:
    settings.MEDIA_DELIVERY = delivery
    for person in (teammate, outsider, None):
        other = Client()
        if person is not None:
            other.force_login(person)
        for path in ("video.mp4", "video.mp4?download=1", *POSTERS):
            response = other.get(f"/generations/{stored.pk}/{path}", HTTP_RANGE="bytes=0-")
            assert response.status_code in (302, 403, 404), (person, path)
            if response.status_code == 302:
                assert person is None and response["Location"].startswith("/login/")
            body = content(response)
            assert VIDEO[:16] not in body and not any(p[4:] in body for p in POSTERS.values())


# ---------------------------------------------------------------- make run


def test_make_run_sends_videos_from_its_media_process_and_restarts_it(tmp_path) -> None:
    """`python -m studio.run` as `make run` starts it: a stored video's URL on the studio
    answers with a link to the media process, which sends the file; a killed media
    process comes back (studio/run.py supervises it)."""
    system = System(tmp_path / "data")
    (tmp_path / "data").mkdir()
    try:
        system.start_simulator("--processing-after", "0.2", "--finish-after", "0.5")
        run, url, media_url, log = start_make_run(system)
        system.manage("shell", "-c", MAKE_VIEWER)
        [pk] = system.create(["a lantern drifting over a lake"], username="viewer")
        system.wait(system.all_final, 90, "the video to be stored")
        [row] = system.generations()
        stored = (system.data / "media" / row["video"]).read_bytes()
        viewer = sign_in(url, "viewer", "a-long-test-password")
        answer = viewer.get(f"/generations/{pk}/video.mp4")
        assert answer.status_code == 302
        assert answer.headers["Location"].startswith(f"{media_url}/media/")
        assert httpx.get(answer.headers["Location"]).content == stored

        [media] = [pid for pid in child_pids(run.pid) if "mediaserver" in cmdline(pid)]
        os.killpg(media, signal.SIGKILL)
        wait_until(lambda: "media restarted" in log.read_text(), 20, "the restart", log)
        link = viewer.get(f"/generations/{pk}/video.mp4", params={"download": "1"})
        saved = wait_for_answer(link.headers["Location"])
        assert saved.content == stored and saved.headers["Content-Disposition"].startswith(
            "attachment"
        )
    finally:
        stop_make_run(system)


def test_slow_viewers_of_the_media_process_leave_the_web_threads_free(tmp_path) -> None:
    """Twelve viewers that read nothing of a 24 MB video (their socket buffers full, the
    sender waiting) against `make run` with one gunicorn worker of 4 threads: the studio
    still answers at once, and every viewer gets its bytes when it reads."""
    system = System(tmp_path / "data")
    (tmp_path / "data").mkdir()
    try:
        _run, url, _media_url, _log = start_make_run(system)
        system.manage("shell", "-c", MAKE_VIEWER + BIG_VIDEO)
        pk = system.rows("SELECT id FROM generations_generation")[0][0]
        pk = str(uuid.UUID(str(pk)))
        viewer = sign_in(url, "viewer", "a-long-test-password")
        viewers = []
        for _ in range(12):
            link = urlsplit(viewer.get(f"/generations/{pk}/video.mp4").headers["Location"])
            sock = socket.create_connection((link.hostname, link.port), timeout=30)
            sock.sendall(f"GET {link.path} HTTP/1.1\r\nHost: {link.netloc}\r\n\r\n".encode())
            viewers.append(sock)
        time.sleep(1)  # the sends fill the sockets' buffers and wait
        for _ in range(10):
            started = time.monotonic()
            assert viewer.get("/healthz").text.strip() == "ok"
            assert viewer.get("/queue/updates/", headers={"HX-Request": "true"}).status_code in (
                200,
                286,
            )
            assert time.monotonic() - started < 3, "the studio waited for the viewers"
        for sock in viewers:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            sock.close()
    finally:
        stop_make_run(system)


def start_make_run(system: System) -> tuple[subprocess.Popen, str, str, Path]:
    """`python -m studio.run` with one web worker on free ports: (process, studio URL,
    media URL, its log)."""
    port, media_port = free_port(), free_port()
    command = [sys.executable, "-m", "studio.run", "--port", str(port), "--web-workers", "1"]
    command += ["--media-port", str(media_port)]
    log = system.data / "run.log"
    run = subprocess.Popen(
        command, cwd=ROOT, env=system.env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    system.make_run = run
    wait_until(lambda: "is running at" in log.read_text(), 60, "the banner", log)
    return run, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{media_port}", log


def stop_make_run(system: System) -> None:
    run = getattr(system, "make_run", None)
    if run is not None:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=30)
    system.stop()


BIG_VIDEO = (
    "from pathlib import Path\n"
    "from django.conf import settings\n"
    "from tests.factories import make_generation\n"
    "root = Path(settings.MEDIA_ROOT) / 'videos'\n"
    "root.mkdir(parents=True, exist_ok=True)\n"
    "(root / 'big.mp4').write_bytes(bytes(range(256)) * (24 * 4096))\n"
    "owner = get_user_model().objects.get(username='viewer')\n"
    "make_generation(owner, status='succeeded', video='videos/big.mp4')\n"
)


MAKE_VIEWER = (
    "from django.contrib.auth import get_user_model\n"
    "get_user_model().objects.create_user('viewer', password='a-long-test-password')\n"
)


def wait_until(check, seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"no {what}:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


def wait_for_answer(url: str, seconds: float = 20) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(url)
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"nothing answers at {url}"
            time.sleep(0.1)


def child_pids(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# ---------------------------------------------------------------- the setting

SETTINGS_PROBE = (
    "import django, json; django.setup()\n"
    "from django.conf import settings as s\n"
    "csp = s.CONTENT_SECURITY_POLICY['DIRECTIVES']\n"
    "print(json.dumps([s.MEDIA_DELIVERY, csp['media-src'], csp['img-src'], s.SENDFILE_BACKEND]))"
)


def probe(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_MEDIA")}
    clean.update(STUDIO_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="studio.settings", **env)
    return subprocess.run(
        [sys.executable, "-c", SETTINGS_PROBE], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_the_delivery_follows_the_storage_and_the_csp_allows_where_media_comes_from(
    tmp_path,
) -> None:
    import json

    def found(**env: str) -> list:
        done = probe(tmp_path, **env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert found() == ["app", ["'self'"], ["'self'", "data:"], "django_sendfile.backends.simple"]
    server = found(STUDIO_MEDIA_SERVER_URL="http://127.0.0.1:8002")
    assert server[:2] == ["server", ["'self'", "http://127.0.0.1:8002"]]
    assert found(STUDIO_MEDIA_SERVER_URL="http://0.0.0.0:8002")[1][1] == "http://*:8002"
    nginx = found(STUDIO_MEDIA_DELIVERY="nginx", STUDIO_MEDIA_SERVER_URL="http://x:1")
    assert nginx == ["nginx", ["'self'"], ["'self'", "data:"], "django_sendfile.backends.nginx"]
    on_s3 = found(
        STUDIO_MEDIA_STORAGE="storages.backends.s3.S3Storage",
        STUDIO_MEDIA_STORAGE_OPTIONS='{"bucket_name": "b", "endpoint_url": "https://s3.example"}',
    )
    assert on_s3[:2] == ["s3", ["'self'", "https://s3.example"]]


@pytest.mark.parametrize(
    "env",
    [
        {"STUDIO_MEDIA_DELIVERY": "carrier-pigeon"},
        {"STUDIO_MEDIA_DELIVERY": "server"},  # without STUDIO_MEDIA_SERVER_URL
        {"STUDIO_MEDIA_DELIVERY": "s3"},  # on local files
        {"STUDIO_MEDIA_LINK_SECONDS": "2"},
        {
            "STUDIO_MEDIA_STORAGE": "storages.backends.s3.S3Storage",
            "STUDIO_MEDIA_STORAGE_OPTIONS": '{"bucket_name": "b", "querystring_auth": false}',
        },
    ],
)
def test_a_delivery_that_cannot_work_refuses_to_start(tmp_path, env) -> None:
    done = probe(tmp_path, **env)
    assert done.returncode != 0 and "ImproperlyConfigured" in done.stderr
    assert "STUDIO_MEDIA" in done.stderr


def test_a_media_server_on_every_address_is_linked_under_the_name_the_browser_used(
    client, stored, settings
) -> None:
    settings.MEDIA_DELIVERY = "server"
    settings.MEDIA_SERVER_URL = "http://0.0.0.0:8002"
    settings.ALLOWED_HOSTS = ["studio.lan"]
    answer = client.get(f"/generations/{stored.pk}/video.mp4", HTTP_HOST="studio.lan:8000")
    assert answer.status_code == 302
    assert answer["Location"].startswith("http://studio.lan:8002/media/")
    assert answer["Location"].endswith(f"/kling-{stored.pk}.mp4")
