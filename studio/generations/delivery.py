"""Sending a stored video or poster once the view has checked that the person may see it,
the way STUDIO_MEDIA_DELIVERY says (docs/architecture.md "Media delivery", docs/reliability.md
R74-R80): `app` streams it through the studio's own threads; `server` redirects to a signed
short-lived link on the studio's async media process (studio/generations/mediaserver.py);
`nginx` and `sendfile` hand the file to the proxy (django-sendfile2's X-Accel-Redirect and
X-Sendfile); `s3` redirects to a short-lived presigned URL of the bucket.

Every path keeps byte ranges, Cache-Control, ETag and Last-Modified with 304s, and
?download=1 (a Content-Disposition attachment)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.core import signing
from django.db.models.fields.files import FieldFile
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotModified,
    StreamingHttpResponse,
)
from django.utils.cache import get_conditional_response
from django.utils.http import http_date

CACHE_CONTROL = "private, max-age=3600"
# The redirect itself is asked again each time: the link inside it runs out.
REDIRECT_CACHE_CONTROL = "private, no-cache"
LINK_SALT = "studio.generations.delivery.link"


@dataclass(frozen=True)
class Media:
    """What is sent: a name in storage, its type, the name it is saved as, and whether
    the browser is asked to save it (?download=1) rather than show it."""

    name: str
    content_type: str
    filename: str
    download: bool

    @property
    def disposition(self) -> str:
        return f'{"attachment" if self.download else "inline"}; filename="{self.filename}"'


class BadLink(Exception):
    """A media-server link that was not signed by this studio, or has run out."""


def respond(
    request: HttpRequest, stored: FieldFile, content_type: str, filename: str
) -> HttpResponseBase:
    """The response for a file the person may see (the caller checked)."""
    media = Media(stored.name, content_type, filename, request.GET.get("download") == "1")
    delivery = settings.MEDIA_DELIVERY
    if delivery == "server":
        return redirect_to(server_link(request, media))
    if delivery == "s3":
        return redirect_to(presigned_url(stored.storage, media))
    if delivery in ("nginx", "sendfile"):
        return proxy_response(request, stored, media)
    return app_response(request, stored, media)


def redirect_to(url: str) -> HttpResponse:
    response = HttpResponse(status=302)
    response["Location"] = url
    response["Cache-Control"] = REDIRECT_CACHE_CONTROL
    return response


# ---------------------------------------------------------------- server: a signed link


class WindowSigner(signing.TimestampSigner):
    """Stamps the start of the current third of STUDIO_MEDIA_LINK_SECONDS instead of the
    second: the same file asked for again within it gets the same link, so the browser
    plays it from its cache (the file is `private, max-age=3600`) instead of fetching it
    again. A link then works for two thirds to all of STUDIO_MEDIA_LINK_SECONDS."""

    def timestamp(self) -> str:
        step = max(1, settings.MEDIA_LINK_SECONDS // 3)
        return signing.b62_encode(int(time.time()) // step * step)


def make_link(media: Media) -> str:
    """A token naming the file and how to send it, signed with SECRET_KEY and stamped with
    the time: read_link accepts it for STUDIO_MEDIA_LINK_SECONDS."""
    fields = [media.name, media.content_type, media.filename, media.download]
    return WindowSigner(salt=LINK_SALT).sign_object(fields)


def read_link(token: str) -> Media:
    try:
        fields = signing.loads(token, salt=LINK_SALT, max_age=settings.MEDIA_LINK_SECONDS)
    except signing.SignatureExpired:
        raise BadLink("The link has run out.") from None
    except signing.BadSignature:
        raise BadLink("The link is not valid.") from None
    name, content_type, filename, download = fields
    return Media(name, content_type, filename, bool(download))


def server_link(request: HttpRequest, media: Media) -> str:
    """The media server's URL for `media`. A server URL on 0.0.0.0 (a studio reachable
    under any name) takes the host name the browser used for this request."""
    scheme, rest = settings.MEDIA_SERVER_URL.split("://", 1)
    host_port, _, prefix = rest.partition("/")
    host, _, port = host_port.rpartition(":")
    if host in ("0.0.0.0", "[::]"):
        asked = request.get_host()
        host = asked.rsplit(":", 1)[0] if not asked.endswith("]") else asked
        host_port = f"{host}:{port}"
    prefix = f"/{prefix}" if prefix else ""
    token = make_link(media)
    return f"{scheme}://{host_port}{prefix}/media/{token}/{quote(media.filename)}"


# ---------------------------------------------------------------- s3: a presigned URL


def presigned_url(storage, media: Media) -> str:
    """A GET URL of the private object, signed for STUDIO_MEDIA_LINK_SECONDS, that makes
    the bucket answer with our type, Cache-Control and Content-Disposition."""
    parameters = {
        "ResponseContentType": media.content_type,
        "ResponseCacheControl": CACHE_CONTROL,
        "ResponseContentDisposition": media.disposition,
    }
    return storage.url(media.name, parameters=parameters, expire=settings.MEDIA_LINK_SECONDS)


# ---------------------------------------------------------------- nginx, sendfile


def proxy_response(request: HttpRequest, stored: FieldFile, media: Media) -> HttpResponseBase:
    """An empty answer whose X-Accel-Redirect (nginx) or X-Sendfile header names the file;
    the proxy sends it, with ranges, ETag, Last-Modified and 304s of its own."""
    from django_sendfile import sendfile

    response = sendfile(
        request,
        stored.path,
        attachment=media.download,
        attachment_filename=media.filename,
        mimetype=media.content_type,
    )
    response["Cache-Control"] = CACHE_CONTROL
    return response


# ---------------------------------------------------------------- app: our own threads


def app_response(request: HttpRequest, stored: FieldFile, media: Media) -> HttpResponseBase:
    """The file through the studio's own thread: 200, 206 for one byte range, 416, or 304
    when the browser's copy is current (If-None-Match, If-Modified-Since)."""
    try:
        size = stored.size
        modified = stored.storage.get_modified_time(media.name).timestamp()
    except FileNotFoundError:
        raise Http404("The file is missing.") from None
    etag = f'"{int(modified * 1_000_000):x}-{size:x}"'
    validators = {
        "ETag": etag,
        "Last-Modified": http_date(modified),
        "Cache-Control": CACHE_CONTROL,
    }
    conditional = get_conditional_response(request, etag=etag, last_modified=int(modified))
    if conditional is not None:
        if isinstance(conditional, HttpResponseNotModified):
            for header, value in validators.items():
                conditional[header] = value
        return conditional
    try:
        handle = stored.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing.") from None
    honour_range = request.headers.get("If-Range", etag) in (etag, validators["Last-Modified"])
    response = ranged_file_response(request, handle, size, media, honour_range)
    for header, value in validators.items():
        response[header] = value
    return response


def ranged_file_response(
    request: HttpRequest, handle, size: int, media: Media, honour_range: bool = True
) -> HttpResponseBase:
    """The whole file (200), the one byte range asked for (206) or 416."""
    wanted = byte_range(request.headers.get("Range", ""), size) if honour_range else None
    if wanted is None:
        response = FileResponse(
            handle,
            content_type=media.content_type,
            as_attachment=media.download,
            filename=media.filename,
        )
    elif wanted == (-1, -1):
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    else:
        start, end = wanted
        response = StreamingHttpResponse(
            read_range(handle, start, end - start + 1), status=206, content_type=media.content_type
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
        response["Content-Disposition"] = media.disposition
    response["Accept-Ranges"] = "bytes"
    return response


RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The one byte range asked for, as (first, last); None for the whole file (no header,
    several ranges, or one we do not read); (-1, -1) when it lies past the end (416)."""
    match = RANGE.match(header.strip().replace(" ", ""))
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        length = min(int(last), size)
        return (size - length, size - 1) if length else (-1, -1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        return (-1, -1)
    if end < start:
        return None
    return start, end


def read_range(handle, start: int, length: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    try:
        handle.seek(start)
        while length > 0:
            data = handle.read(min(chunk, length))
            if not data:
                break
            length -= len(data)
            yield data
    finally:
        handle.close()
