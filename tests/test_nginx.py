"""Media behind a proxy (STUDIO_MEDIA_DELIVERY=nginx or sendfile): the studio checks access
and names the file in X-Accel-Redirect / X-Sendfile; the proxy sends it. Through Debian's
nginx (`make nginx` installs it) started here on loopback with docs/nginx.conf, the very
file the README shows, in front of gunicorn as `make run` starts it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.test import Client

from tests.factories import make_generation
from tests.system import (
    NGINX,
    Proc,
    System,
    assert_download_and_poster,
    assert_sends_video,
    free_port,
    nginx_command,
    running,
    sign_in,
    wait_http,
)

VIDEO = bytes(range(256)) * 4000  # 1,024,000 bytes standing in for an MP4
POSTERS = {"poster.jpg": b"\xff\xd8\xff\xe0poster", "poster-1x.jpg": b"\xff\xd8\xff\xe0poster-1x"}
MAKE_WORLD = """
from pathlib import Path
from django.conf import settings
from tests.factories import make_generation, make_user
root = Path(settings.MEDIA_ROOT)
(root / "videos").mkdir(parents=True)
(root / "videos" / "fox.mp4").write_bytes(bytes(range(256)) * 4000)
(root / "posters").mkdir()
(root / "posters" / "fox.jpg").write_bytes(b"\\xff\\xd8\\xff\\xe0poster")
(root / "posters" / "fox-1x.jpg").write_bytes(b"\\xff\\xd8\\xff\\xe0poster-1x")
owner = make_user("cora")
make_user("tess")
row = make_generation(
    owner,
    status="succeeded",
    video="videos/fox.mp4",
    poster="posters/fox.jpg",
    poster_1x="posters/fox-1x.jpg",
)
print(row.pk)
"""


@pytest.fixture
def behind_nginx(tmp_path) -> Iterator[tuple[System, str, str, str]]:
    """(system, nginx URL, gunicorn URL, generation id): gunicorn with
    STUDIO_MEDIA_DELIVERY=nginx behind nginx on loopback."""
    assert NGINX.exists(), "Debian's nginx is needed: `make nginx` (apt-get install nginx)"
    with running(tmp_path / "data", STUDIO_MEDIA_DELIVERY="nginx") as system:
        data = system.data
        system.manage("migrate", "--verbosity", "0")
        pk = system.manage("shell", "-c", MAKE_WORLD).strip().splitlines()[-1]
        web = system.start_web()
        port = free_port()
        conf = tmp_path / "nginx"
        command = nginx_command(conf, int(web.rsplit(":", 1)[1]), port, data / "media")
        nginx = Proc("nginx", command, {"PATH": "/usr/bin:/bin"}, conf / "stderr.log")
        system.processes.append(nginx)  # stopped first, before gunicorn
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", nginx)
        yield system, url, web, pk


def test_nginx_sends_the_video_with_ranges_validators_304s_and_downloads(behind_nginx) -> None:
    system, url, _web, pk = behind_nginx
    owner = sign_in(url, "cora", "a-long-test-password")
    path = f"/generations/{pk}/video.mp4"
    assert_sends_video(owner.get, path, VIDEO, pk)
    assert "X-Accel-Redirect" not in owner.get(path).headers

    def fetch(path: str, **query) -> httpx.Response:
        return owner.get(path, params=query)

    assert_download_and_poster(fetch, pk, VIDEO)
    for name, data in POSTERS.items():  # both sizes, as nginx sends the video
        poster = owner.get(f"/generations/{pk}/{name}")
        assert poster.headers["Content-Type"] == "image/jpeg" and poster.content == data
        assert poster.headers["Cache-Control"] == "private, max-age=3600"
        current = {"If-None-Match": poster.headers["ETag"]}
        assert owner.get(f"/generations/{pk}/{name}", headers=current).status_code == 304


def test_behind_nginx_who_may_not_see_a_video_gets_no_byte(behind_nginx) -> None:
    system, url, web, pk = behind_nginx
    teammate = sign_in(url, "tess", "a-long-test-password")
    anonymous = httpx.Client(base_url=url)
    for client in (teammate, anonymous):
        for name in ("video.mp4", "video.mp4?download=1", *POSTERS):
            answer = client.get(f"/generations/{pk}/{name}", headers={"Range": "bytes=0-"})
            assert answer.status_code in (302, 404), (name, answer.status_code)
            assert VIDEO[:64] not in answer.content and b"\xff\xd8\xff\xe0" not in answer.content
    for path in ("videos/fox.mp4", "posters/fox.jpg", "posters/fox-1x.jpg"):
        for where in ("/protected-media/", "/media/"):
            answer = teammate.get(where + path)
            assert answer.status_code == 404 and VIDEO[:64] not in answer.content
            assert b"\xff\xd8\xff\xe0" not in answer.content
    # gunicorn itself names the file and sends none of it: only nginx reads it from disk.
    # (Its Content-Length is the file's, its body empty: the connection just closes.)
    owner = sign_in(web, "cora", "a-long-test-password")
    with owner.stream("GET", f"/generations/{pk}/video.mp4") as direct:
        assert direct.headers["X-Accel-Redirect"] == "/protected-media/videos/fox.mp4"
        received = b""
        with contextlib.suppress(httpx.RemoteProtocolError):
            for chunk in direct.iter_bytes():
                received += chunk
    assert received == b""


# ---------------------------------------------------------------- X-Sendfile (Apache, Caddy)


@pytest.fixture
def sendfile_delivery(settings, tmp_path) -> Iterator[Path]:
    from django_sendfile.utils import _get_sendfile

    root = tmp_path / "media"
    (root / "videos").mkdir(parents=True)
    (root / "videos" / "fox.mp4").write_bytes(VIDEO)
    (root / "posters").mkdir()
    for name, data in POSTERS.items():
        (root / "posters" / name).write_bytes(data)
    settings.MEDIA_ROOT = settings.SENDFILE_ROOT = str(root)
    settings.MEDIA_DELIVERY = "sendfile"
    settings.SENDFILE_BACKEND = "django_sendfile.backends.xsendfile"
    _get_sendfile.cache_clear()  # django-sendfile2 keeps the backend it loaded first
    yield root
    _get_sendfile.cache_clear()


@pytest.mark.django_db
def test_x_sendfile_names_the_file_only_for_who_may_see_it(
    client, owner, teammate, sendfile_delivery
) -> None:
    row = make_generation(owner, status="succeeded", video="videos/fox.mp4")
    answer = client.get(f"/generations/{row.pk}/video.mp4", {"download": "1"})
    assert answer.status_code == 200 and answer.content == b""
    assert answer["X-Sendfile"] == str(sendfile_delivery / "videos" / "fox.mp4")
    assert answer["Content-Disposition"] == f'attachment; filename="kling-{row.pk}.mp4"'
    assert answer["Cache-Control"] == "private, max-age=3600"
    assert answer["Content-Type"] == "video/mp4"
    other = Client()
    other.force_login(teammate)
    refused = other.get(f"/generations/{row.pk}/video.mp4")
    assert refused.status_code == 404 and "X-Sendfile" not in refused


@pytest.mark.django_db
def test_x_sendfile_names_either_poster_only_for_who_may_see_it(
    client, owner, teammate, sendfile_delivery
) -> None:
    row = make_generation(
        owner,
        status="succeeded",
        video="videos/fox.mp4",
        poster="posters/poster.jpg",
        poster_1x="posters/poster-1x.jpg",
    )
    other = Client()
    other.force_login(teammate)
    for name in POSTERS:
        answer = client.get(f"/generations/{row.pk}/{name}")
        assert answer.status_code == 200 and answer.content == b""
        assert answer["X-Sendfile"] == str(sendfile_delivery / "posters" / name)
        assert answer["Cache-Control"] == "private, max-age=3600"
        assert answer["Content-Type"] == "image/jpeg"
        refused = other.get(f"/generations/{row.pk}/{name}")
        assert refused.status_code == 404 and "X-Sendfile" not in refused
