"""Request bodies over STUDIO_MAX_REQUEST_MB are refused before anything reads them.

Django parses a form's files (into memory or a temporary file) as soon as the CSRF check
reads request.POST, so the import form's own 5 MB check comes after the bytes are on disk.
Django reads no body without a Content-Length, so this bound holds for every request.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def body_limit(get_response: Callable[[HttpRequest], HttpResponse]):
    def middleware(request: HttpRequest) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > settings.MAX_REQUEST_BYTES:
            megabytes = settings.MAX_REQUEST_BYTES / 1024 / 1024
            return HttpResponse(
                f"The request is over {megabytes:g} MB; nothing was read.",
                status=413,
                content_type="text/plain",
            )
        return get_response(request)

    return middleware
