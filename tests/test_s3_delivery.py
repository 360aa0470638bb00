"""Media on object storage (django-storages' S3Storage, STUDIO_MEDIA_DELIVERY=s3): the studio
checks access and redirects to a short-lived presigned URL; the bucket sends the bytes.
End to end against an S3-compatible server started here on loopback (tests/s3server.py:
moto's server, with S3's presigned-URL check in front), through real boto3 and real HTTP;
no part of boto is mocked. Files reach the bucket through media.put, as the pipeline's."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from django.core.files.storage import default_storage
from django.test import Client

from studio.generations import media
from studio.generations.models import Generation
from tests import s3server, system
from tests.factories import make_generation

pytestmark = pytest.mark.django_db

VIDEO = bytes(range(256)) * 1000  # 256,000 bytes standing in for an MP4
POSTERS = {"poster.jpg": b"\xff\xd8\xff\xe0poster", "poster-1x.jpg": b"\xff\xd8\xff\xe0poster-1x"}
BUCKET = "studio-media"


@pytest.fixture
def s3(tmp_path) -> Iterator[str]:
    """The S3-compatible server on a free loopback port, with a private bucket."""
    port = system.free_port()
    command = [sys.executable, "-m", "tests.s3server", "--port", str(port)]
    process = system.Proc("s3", command, {"PATH": "/usr/bin:/bin"}, tmp_path / "s3.log")
    url = f"http://127.0.0.1:{port}"
    try:
        system.wait_http(url, process)
        client(url).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        process.stop()


def client(url: str):
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=s3server.ACCESS_KEY,
        aws_secret_access_key=s3server.SECRET_KEY,
        region_name=s3server.REGION,
    )


@pytest.fixture
def on_s3(s3, settings, tmp_path) -> str:
    """The studio's settings as README "Running for a team" gives them for S3."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "default_acl": "private",
                "endpoint_url": s3,
                "region_name": s3server.REGION,
                "access_key": s3server.ACCESS_KEY,
                "secret_key": s3server.SECRET_KEY,
                "signature_version": "s3v4",
                "addressing_style": "path",
            },
        },
    }
    settings.MEDIA_DELIVERY = "s3"
    settings.MEDIA_LINK_SECONDS = 120
    return s3


@pytest.fixture
def stored(owner, on_s3, tmp_path) -> Generation:
    source = tmp_path / "fox.mp4"
    source.write_bytes(VIDEO)
    video_name = media.put(default_storage, "videos/fox.mp4", str(source))
    poster_name = media.put_bytes(default_storage, "posters/fox.jpg", POSTERS["poster.jpg"])
    small_name = media.put_bytes(default_storage, "posters/fox-1x.jpg", POSTERS["poster-1x.jpg"])
    return make_generation(
        owner, status="succeeded", video=video_name, poster=poster_name, poster_1x=small_name
    )


def test_the_bucket_sends_the_video_with_ranges_validators_304s_and_downloads(
    client, stored, on_s3
) -> None:
    url = system.media_link(client, f"/generations/{stored.pk}/video.mp4")
    assert url.startswith(f"{on_s3}/{BUCKET}/videos/fox.mp4?")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["120"] and "X-Amz-Signature" in query
    system.assert_sends_video(httpx.get, url, VIDEO, stored.pk, if_range=False)
    system.assert_download_and_poster(system.via_link(client), stored.pk, VIDEO)
    for name, data in POSTERS.items():  # both sizes, from the bucket as the video
        poster = httpx.get(system.media_link(client, f"/generations/{stored.pk}/{name}"))
        assert poster.headers["Content-Type"] == "image/jpeg" and poster.content == data
        assert poster.headers["Cache-Control"] == "private, max-age=3600"
        again = system.media_link(client, f"/generations/{stored.pk}/{name}")
        current = {"If-None-Match": poster.headers["ETag"]}
        assert httpx.get(again, headers=current).status_code == 304


def test_a_presigned_url_runs_out_and_names_only_its_own_file(
    client, stored, on_s3, monkeypatch
) -> None:
    import botocore.auth
    from botocore.compat import get_current_datetime

    good = system.media_link(client, f"/generations/{stored.pk}/video.mp4")
    with monkeypatch.context() as past:  # signed 121 s ago, for 120 s
        then = get_current_datetime() - timedelta(seconds=121)
        past.setattr(botocore.auth, "get_current_datetime", lambda: then)
        expired = system.media_link(client, f"/generations/{stored.pk}/video.mp4")
    other = good.replace("/videos/fox.mp4?", "/posters/fox.jpg?")  # same signature
    for url, code in ((expired, "Request has expired"), (other, "SignatureDoesNotMatch")):
        answer = httpx.get(url, headers={"Range": "bytes=0-"})
        assert answer.status_code == 403 and code in answer.text
        assert VIDEO[:64] not in answer.content
    assert httpx.get(good).content == VIDEO


@pytest.mark.parametrize("person", ["teammate", "outsider", "anonymous"])
def test_on_s3_who_may_not_see_a_video_gets_no_url_and_no_byte(
    stored, on_s3, teammate, outsider, person
) -> None:
    browser = Client()
    if person != "anonymous":
        browser.force_login(teammate if person == "teammate" else outsider)
    for path in ("video.mp4", "video.mp4?download=1", *POSTERS):
        answer = browser.get(f"/generations/{stored.pk}/{path}")
        assert answer.status_code in (302, 403, 404), path
        assert on_s3 not in answer.get("Location", "") and VIDEO[:64] not in answer.content
        assert b"\xff\xd8\xff\xe0" not in answer.content
    unsigned = httpx.get(f"{on_s3}/{BUCKET}/videos/fox.mp4")  # the object is private
    assert unsigned.status_code == 403 and VIDEO[:64] not in unsigned.content
