"""Context every page gets: simulator mode and the upstream host (never the key)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest


def studio(request: HttpRequest) -> dict:
    return {
        "simulator_mode": settings.SIMULATOR_MODE,
        "upstream_host": urlsplit(settings.COMETAPI_BASE_URL).netloc,
    }
