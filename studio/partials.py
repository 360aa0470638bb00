"""A page or, when htmx asks for one of its elements, only that fragment."""

from __future__ import annotations

from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers


def wants_fragment(request: HttpRequest, fragment: str) -> bool:
    """htmx targets the element `fragment` (a history restore needs the whole page)."""
    return request.htmx.target == fragment and not request.htmx.history_restore_request


def page_or_fragment(
    request: HttpRequest, page: str, fragment: str, context: dict, status: int = 200
) -> TemplateResponse:
    """Render `page`, or its partial `fragment` for htmx; caches keep the two apart."""
    template = f"{page}#{fragment}" if wants_fragment(request, fragment) else page
    response = TemplateResponse(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response
