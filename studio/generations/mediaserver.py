"""The studio's media process (STUDIO_MEDIA_DELIVERY=server, which `make run` uses): it
sends the file a link names once the link's signature and age check out. The studio signs
a link only after its own access check (studio/generations/delivery.py), so this process
needs no database. It runs on asyncio (aiohttp, the file sent with sendfile): a slow viewer
holds a socket here, never a thread (docs/architecture.md "Media delivery", R74-R80).

    python -m studio.generations.mediaserver --host 127.0.0.1 --port 8002
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

logger = logging.getLogger("studio.mediaserver")
CHUNK = 256 * 1024
SEND_SECONDS = 3600.0  # the longest one download may take: 40 MB at 11 KB/s
TOKEN = re.compile(r"/media/[^/]+/")


class RedactingAccessLogger(AbstractAccessLogger):
    """One line per request with the link's token left out (a link is a credential for
    as long as it lasts, as a webhook token is: R27)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = TOKEN.sub("/media/[redacted]/", request.path)
        self.logger.info(
            '%s "%s %s" %s %s %.3fs',
            request.remote,
            request.method,
            path,
            response.status,
            response.body_length,
            time,
        )


def make_app(root: Path, send_seconds: float = SEND_SECONDS) -> web.Application:
    app = web.Application()
    app["root"] = root.resolve()
    app["send_seconds"] = send_seconds
    app.router.add_get("/media/{token}/{filename}", send_file)
    app.router.add_get("/healthz", healthz)
    return app


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def send_file(request: web.Request) -> web.StreamResponse:
    """200, 206 (Range, If-Range), 304 (If-None-Match, If-Modified-Since) or 416, by
    aiohttp's FileResponse; 403 for a link we did not sign or that ran out."""
    from studio.generations.delivery import CACHE_CONTROL, BadLink, read_link

    try:
        media = read_link(request.match_info["token"])
    except BadLink as refusal:
        return web.Response(status=403, text=f"{refusal}\n", headers={"Cache-Control": "no-store"})
    root: Path = request.app["root"]
    path = (root / media.name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return web.Response(status=404, text="The file is missing.\n")
    headers = {
        "Content-Type": media.content_type,
        "Content-Disposition": media.disposition,
        "Cache-Control": CACHE_CONTROL,
    }
    response = BoundedFileResponse(path, chunk_size=CHUNK, headers=headers)
    if stale_range(request, path):
        # aiohttp reads If-Range as a date only; an entity tag of an older copy must get
        # the whole file, not a range of the new one (RFC 9110 13.1.5).
        plain = request.headers.copy()
        plain.popall("Range", None)
        request = request.clone(headers=plain)
    try:
        # Bounded: a viewer that stops reading holds a socket here, never for ever.
        await asyncio.wait_for(response.prepare(request), request.app["send_seconds"])
    except TimeoutError:
        logger.warning(
            "A download took over %s s; its connection is closed.", request.app["send_seconds"]
        )
        if request.transport is not None:
            request.transport.abort()
        raise web.HTTPRequestTimeout() from None
    return response


class BoundedFileResponse(web.FileResponse):
    """A FileResponse that send_file sends itself (within its time bound): aiohttp's own
    call to prepare() afterwards finds it sent and does nothing."""

    async def prepare(self, request: web.BaseRequest):
        if self.prepared:
            return None
        return await super().prepare(request)


def stale_range(request: web.Request, path: Path) -> bool:
    """A Range with an If-Range entity tag that is not the file's current one."""
    if_range = request.headers.get("If-Range", "")
    if "Range" not in request.headers or not if_range.startswith(('"', "W/")):
        return False
    stat = path.stat()
    return if_range != f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'  # aiohttp's ETag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--send-seconds", type=float, default=SEND_SECONDS)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    import django

    django.setup()  # settings and logging only: SECRET_KEY, MEDIA_ROOT, the link lifetime
    from django.conf import settings

    web.run_app(
        make_app(Path(settings.MEDIA_ROOT), args.send_seconds),
        host=args.host,
        port=args.port,
        access_log=logging.getLogger("studio.mediaserver.access"),
        access_log_class=RedactingAccessLogger,
        print=None,
        shutdown_timeout=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
