"""Copying a finished video into our storage: an SSRF-safe streaming download, content
checks, sha256, duration and resolution (PyAV) and a poster frame (PyAV + Pillow): the most
detailed of a few frames spread over the video, saved at the size a tile shows it (1x) and at
twice that (2x, for high-density screens and the player).

Reference: docs/reliability.md R29-R35. Every hop of the download is resolved here, each
address is checked, and the connection goes to the checked address (Host and TLS SNI keep
the name), so DNS rebinding cannot swap it; redirects are followed by hand, at most three,
each checked again. Hosts in settings.DOWNLOAD_ALLOWED_HOSTS ("host:port") skip the
address and scheme checks: that is how the simulator on loopback is reached.
"""

from __future__ import annotations

import errno
import hashlib
import io
import ipaddress
import logging
import os
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import av
import httpx
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import transaction
from PIL import Image, ImageFilter, ImageStat

logger = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)  # docs/reliability.md R31
TOTAL_SECONDS = 15 * 60  # docs/reliability.md R31: the whole copy
MAX_REDIRECTS = 3
CHUNK = 256 * 1024
CONTENT_TYPES = ("video/mp4", "application/octet-stream")
# Tiles show posters up to ~640 CSS px on their long side (a 9:16 tile, the player before
# it plays): POSTER_1X_SIZE. Twice that (POSTER_SIZE) is sharp on a 2x screen. Neither
# upscales a smaller video.
POSTER_SIZE = (1280, 1280)
POSTER_1X_SIZE = (640, 640)
POSTER_QUALITY = 80
# Where the poster candidates are taken, as fractions of the video: not the very start or
# end, where fades, black frames and titles sit.
POSTER_SAMPLES = (0.1, 0.25, 0.4, 0.55, 0.7, 0.85)
REDIRECTS = (301, 302, 303, 307, 308)
TEMP_PREFIX = "download-"


class DownloadError(Exception):
    """The copy failed. `retryable` says whether trying again later may help."""

    retryable = True


class Refused(DownloadError):
    """The link or what it served is not allowed: never retried."""

    retryable = False


class LinkExpired(DownloadError):
    """HTTP 403/410: the upstream link has run out (docs/upstream.md §11)."""

    retryable = False


@dataclass(frozen=True)
class Target:
    """One checked hop: where to connect (a checked address) and what to call the host."""

    scheme: str
    host: str
    port: int
    path: str
    address: str

    def pinned_url(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{address}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


@dataclass(frozen=True)
class Downloaded:
    size: int
    sha256: str
    content_type: str


@dataclass
class StoredMedia:
    """The files saved for one generation and what we learnt about the video."""

    video: str
    poster: str
    size: int
    sha256: str
    seconds: float | None
    width: int | None
    height: int | None
    poster_size: int | None = None  # None: not measured (rows made by hand in tests)
    fps: float | None = None  # None: the file does not say
    poster_1x: str = ""
    poster_1x_size: int | None = None

    def delete(self) -> None:
        # Generation's video and poster fields keep their files in the default storage.
        for name in (self.video, self.poster, self.poster_1x):
            if name:
                default_storage.delete(name)


def is_public(address: str) -> bool:
    """Whether an address is on the public internet (not private, loopback, link-local,
    reserved, multicast or unspecified), including IPv4 addresses wrapped in IPv6."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None and not is_public(str(inner)):
            return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def check_url(url: str, allowed_hosts: list[str] | tuple[str, ...]) -> Target:
    """Parse, resolve and check one hop (docs/reliability.md R29, R30). Raises Refused before any
    connection."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("The video link is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused(f"The video link uses {scheme or 'no'} scheme; only https is accepted.")
    if parts.username is not None or parts.password is not None:
        raise Refused("The video link carries a user name or password.")
    host = (parts.hostname or "").lower()
    if not host:
        raise Refused("The video link has no host.")
    port = port or (443 if scheme == "https" else 80)
    allowed = _allowed(host, port, allowed_hosts)
    if scheme != "https" and not allowed:
        raise Refused("The video link is not https.")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise DownloadError(f"The video host {host!r} could not be resolved ({error}).") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise DownloadError(f"The video host {host!r} has no address.")
    if not allowed:
        for address in addresses:
            if not is_public(address):
                raise Refused(f"The video link points at a private address ({address}).")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


def _allowed(host: str, port: int, allowed_hosts) -> bool:
    name = f"[{host}]" if ":" in host else host
    wanted = {f"{name}:{port}", f"{host}:{port}"}
    return any(entry.strip().lower() in wanted for entry in allowed_hosts)


def download(
    url: str,
    dest: BinaryIO,
    *,
    max_bytes: int,
    allowed_hosts: list[str] | tuple[str, ...] = (),
    total_seconds: float = TOTAL_SECONDS,
) -> Downloaded:
    """Stream `url` into `dest`, checking every hop, the type, the size and the MP4 header."""
    deadline = time.monotonic() + total_seconds
    current = url
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as http:
        for _hop in range(MAX_REDIRECTS + 1):
            target = check_url(current, allowed_hosts)
            extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
            headers = {
                "Host": target.host_header,
                "Accept": "video/mp4, application/octet-stream;q=0.5",
                "User-Agent": "kling-prompt-studio",
            }
            try:
                with http.stream(
                    "GET", target.pinned_url(), headers=headers, extensions=extensions
                ) as response:
                    if response.status_code in REDIRECTS:
                        location = response.headers.get("Location")
                        if not location:
                            raise DownloadError("The video host redirected without a Location.")
                        current = urljoin(current, location)
                        continue
                    _check_response(response, max_bytes)
                    return _copy(response, dest, max_bytes, deadline)
            except httpx.TimeoutException as error:
                raise DownloadError(
                    f"The video download timed out ({type(error).__name__})."
                ) from None
            except httpx.TransportError as error:
                raise DownloadError(
                    f"The video download failed ({type(error).__name__})."
                ) from None
    raise Refused(f"The video link redirected more than {MAX_REDIRECTS} times.")


def _check_response(response: httpx.Response, max_bytes: int) -> None:
    status = response.status_code
    if status in (403, 410):
        raise LinkExpired(f"The video host answered HTTP {status}.")
    if status == 429 or status >= 500 or status == 404:
        # 404: a CDN may not have the file everywhere yet; try again later.
        raise DownloadError(f"The video host answered HTTP {status}.")
    if status != 200:
        raise Refused(f"The video host answered HTTP {status}.")
    kind = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if kind not in CONTENT_TYPES:
        raise Refused(f"The link served {kind or 'no content type'}, not an MP4 video.")
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise Refused(f"The video is larger than the {max_bytes // (1024 * 1024)} MB limit.")


def _copy(response: httpx.Response, dest: BinaryIO, max_bytes: int, deadline: float) -> Downloaded:
    """Copy the body, cutting it at the cap while streaming (docs/reliability.md R31) and checking
    the `ftyp` box of an MP4 file at its start (docs/reliability.md R32)."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    for chunk in response.iter_bytes(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise Refused(f"The video is larger than the {max_bytes // (1024 * 1024)} MB limit.")
        if time.monotonic() > deadline:
            raise DownloadError("The video download took too long.")
        if len(head) < 8:
            head += chunk[: 8 - len(head)]
            if len(head) >= 8 and head[4:8] != b"ftyp":
                raise Refused("The link did not serve an MP4 file.")
        digest.update(chunk)
        dest.write(chunk)
    if len(head) < 8:
        raise Refused("The link did not serve an MP4 file.")
    dest.flush()
    kind = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return Downloaded(size=size, sha256=digest.hexdigest(), content_type=kind)


@dataclass(frozen=True)
class Probe:
    seconds: float | None
    width: int | None
    height: int | None
    poster_jpeg: bytes
    fps: float | None = None
    poster_1x_jpeg: bytes = b""


def frame_rate(stream) -> float | None:
    """The video stream's own frame rate (average, else the container's guess), or None."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    return round(fps, 3) if 1 <= fps <= 240 else None


def read_frame_rate(path: str | Path) -> float | None:
    """The frame rate of the video at `path`, or None when it cannot be read."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            return frame_rate(container.streams.video[0])
    except (av.error.FFmpegError, OSError):
        return None


def probe(path: str | Path) -> Probe:
    """Duration and size of the video, and a JPEG poster of its most detailed frame."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise Refused("The file has no video stream.")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            seconds = None
            if container.duration:
                seconds = float(container.duration / av.time_base)
            elif stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            width = stream.codec_context.width or None
            height = stream.codec_context.height or None
            fps = frame_rate(stream)
            image = poster_frame(container.decode(stream), seconds)
    except av.error.FFmpegError as error:
        raise Refused(f"The file is not a playable MP4 video ({error}).") from None
    big, small = poster_jpegs(image)
    return Probe(seconds, width, height, poster_jpeg=big, fps=fps, poster_1x_jpeg=small)


def poster_jpegs(image: Image.Image) -> tuple[bytes, bytes]:
    """The poster as JPEG at POSTER_SIZE (2x) and POSTER_1X_SIZE (1x), both from `image`."""
    return jpeg_within(image, POSTER_SIZE), jpeg_within(image, POSTER_1X_SIZE)


def jpeg_within(image: Image.Image, box: tuple[int, int]) -> bytes:
    """`image` scaled down (never up) to fit `box`, keeping its shape, as a JPEG."""
    image = image.convert("RGB")
    image.thumbnail(box, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=POSTER_QUALITY, optimize=True, progressive=True)
    return out.getvalue()


def poster_frame(frames, seconds: float | None) -> Image.Image:
    """Of the frames at POSTER_SAMPLES of the video, the one with the most detail: a frame
    that shows the subject rather than a fade, a flat sky or a black opening."""
    pending = [seconds * f for f in POSTER_SAMPLES] if seconds else [0.0]
    best, best_score, frame = None, -1.0, None
    for frame in frames:
        if frame.time is None or frame.time < pending[0]:
            continue
        image = frame.to_image()
        score = detail(image)
        if score > best_score:
            best, best_score = image, score
        while pending and frame.time >= pending[0]:
            pending.pop(0)
        if not pending:
            break
    if best is None:  # shorter than its header said: the last frame there was
        if frame is None:
            raise Refused("The video has no frames.")
        best = frame.to_image()
    return best


def detail(image: Image.Image) -> float:
    """How much a frame shows: the spread of its brightness plus its edge strength, measured
    on a small grey copy (cheap, and noise averages out)."""
    grey = image.convert("L")
    grey.thumbnail((160, 160))
    contrast = ImageStat.Stat(grey).stddev[0]
    edges = ImageStat.Stat(grey.filter(ImageFilter.FIND_EDGES)).mean[0]
    return contrast + 2 * edges


def remove_deleted_files(sender, instance, using: str = "default", **kwargs) -> None:
    """post_delete of a Generation (the admin's delete, a bulk delete, anything): its video
    and posters go too, once the delete is committed; a rolled-back delete keeps them."""
    storage = instance._meta.get_field("video").storage
    files = (instance.video, instance.poster, instance.poster_1x)
    names = [field.name for field in files if field]
    if names:
        transaction.on_commit(lambda: delete_files(storage, names), using=using)


def delete_files(storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except OSError as error:
            # Left in storage: `manage.py orphans` finds it later.
            logger.warning("Could not delete %s from storage: %s", name, error)


def stored_names(generation) -> tuple[str, str, str]:
    """Where a generation's video and posters (2x, 1x) live in storage. Fixed per
    generation, so a retry after a crash replaces what a killed attempt left instead of
    adding a copy."""
    month = generation.created_at.strftime("%Y/%m")
    poster = f"posters/{month}/{generation.pk}"
    return f"videos/{month}/{generation.pk}.mp4", f"{poster}.jpg", f"{poster}-1x.jpg"


def put(storage, name: str, path: str) -> str:
    """Move the finished file at `path` to `name` in `storage`, replacing any earlier file
    there, so that `name` never shows a half-written file (docs/reliability.md R33).

    Local storage: a rename (atomic on one file system; across file systems a copy to a
    hidden name beside the target, then a rename). Other storages (S3 through
    django-storages) publish an object only once its upload is complete."""
    if isinstance(storage, FileSystemStorage):
        target = Path(storage.path(name))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, target)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            partial = target.with_name(f".{target.name}.partial")
            shutil.copyfile(path, partial)
            os.replace(partial, target)
        if storage.file_permissions_mode is not None:
            os.chmod(target, storage.file_permissions_mode)
        return name
    if storage.exists(name):
        storage.delete(name)
    with open(path, "rb") as handle:
        return storage.save(name, File(handle, name=os.path.basename(name)))


def put_bytes(storage, name: str, data: bytes) -> str:
    """`data` saved as `name` in `storage` the way put saves a file (never half-written)."""
    handle = temp_file(os.path.splitext(name)[1])
    try:
        with handle:
            handle.write(data)
        return put(storage, name, handle.name)
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)


def put_all(storage, files: list[tuple[str, bytes]], then: tuple[str, str]) -> list[str]:
    """Save each (name, data) of `files`, then move the finished file `then` (name, path):
    the video last, so a row never points at a video without its posters. If any of it
    fails, what was saved is deleted again. The names saved, `then`'s last."""
    saved: list[str] = []
    try:
        for name, data in files:
            saved.append(put_bytes(storage, name, data))
        saved.append(put(storage, *then))
    except BaseException:
        for name in saved:
            storage.delete(name)
        raise
    return saved


def temp_file(suffix: str):
    """A named temp file for a download in progress (removed by the caller; a worker killed
    mid-download leaves it for remove_stale_temp_files)."""
    return tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed and removed by the caller)
        prefix=TEMP_PREFIX, suffix=suffix, dir=settings.FILE_UPLOAD_TEMP_DIR, delete=False
    )


def remove_stale_temp_files(older_than: float | None) -> int:
    """Delete download temp files left by killed workers; `older_than` seconds, or all
    (None: no other worker can be running). Returns how many were removed."""
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    if not folder.is_dir():
        return 0
    cutoff = time.time() - (older_than or 0)
    removed = 0
    for path in folder.glob(f"{TEMP_PREFIX}*"):
        try:
            if older_than is None or path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def store_video(generation, url: str) -> StoredMedia:
    """Download `url` for `generation` and save the video and its posters through the
    storage API. Nothing is saved unless every check passes; no name in storage ever
    shows a partial file."""
    storage = generation._meta.get_field("video").storage
    video_name, poster_name, poster_1x_name = stored_names(generation)
    video = temp_file(".mp4")
    try:
        with video:
            downloaded = download(
                url,
                video,
                max_bytes=settings.DOWNLOAD_MAX_BYTES,
                allowed_hosts=settings.DOWNLOAD_ALLOWED_HOSTS,
            )
        found = probe(video.name)
        posters = [(poster_name, found.poster_jpeg), (poster_1x_name, found.poster_1x_jpeg)]
        saved = put_all(storage, posters, then=(video_name, video.name))
        poster_name, poster_1x_name, video_name = saved
    finally:
        if os.path.exists(video.name):
            os.unlink(video.name)
    logger.info(
        "Generation %s: stored %s bytes (sha256 %s)",
        generation.pk,
        downloaded.size,
        downloaded.sha256[:12],
    )
    return StoredMedia(
        video=video_name,
        poster=poster_name,
        poster_1x=poster_1x_name,
        size=downloaded.size,
        sha256=downloaded.sha256,
        poster_size=len(found.poster_jpeg),
        poster_1x_size=len(found.poster_1x_jpeg),
        seconds=found.seconds,
        width=found.width,
        height=found.height,
        fps=found.fps,
    )
