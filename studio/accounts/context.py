"""Context every page gets: simulator mode and the upstream host (never the key)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest


def studio(request: HttpRequest) -> dict:
    return {
        "simulator_mode": settings.SIMULATOR_MODE,
        "upstream_host": urlsplit(settings.COMETAPI_BASE_URL).netloc,
        "page_path": page_path(request),
    }


def page_path(request: HttpRequest) -> str:
    """Where a card's plain-POST form (archive, star) comes back to: the page the person is
    on. A fragment an htmx poll brings (the queue, the nav's activity) has an address of
    its own; htmx names the page it came from (HX-Current-URL, taken only when it is this
    site's: django-htmx's current_url_abs_path)."""
    htmx = getattr(request, "htmx", None)
    return (htmx and htmx.current_url_abs_path) or request.get_full_path()
