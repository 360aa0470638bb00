"""Request bodies over STUDIO_MAX_REQUEST_MB are refused before anything reads them; the
studio form's own route, which carries up to two 10 MB pictures (docs/upstream.md §15.1),
has the larger STUDIO_MAX_UPLOAD_MB.

Django parses a form's files (into memory or a temporary file) as soon as the CSRF check
reads request.POST, so the import form's own 5 MB check comes after the bytes are on disk.
Django reads no body without a Content-Length, so this bound holds for every request.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

# The routes that take pictures: the studio form's Generate.
UPLOAD_ROUTES = ("generation-create",)


def limit_for(path: str) -> int:
    uploads = {reverse(name) for name in UPLOAD_ROUTES}
    return settings.MAX_UPLOAD_BYTES if path in uploads else settings.MAX_REQUEST_BYTES


def body_limit(get_response: Callable[[HttpRequest], HttpResponse]):
    def middleware(request: HttpRequest) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH") or ""
        limit = limit_for(request.path_info) if length.isdigit() else 0
        if length.isdigit() and int(length) > limit:
            megabytes = limit / 1024 / 1024
            return HttpResponse(
                f"The request is over {megabytes:g} MB; nothing was read.",
                status=413,
                content_type="text/plain",
            )
        return get_response(request)

    return middleware
