"""The upstream's status callbacks: an unauthenticated hint that only makes a row due now.

Reference: docs/upstream.md §8 (callbacks are unsigned and may repeat), docs/reliability.md R24-R27.
The body is never read for facts; the next poll asks the API what happened.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from studio.generations import pipeline
from studio.generations.models import FINAL, Generation, Status

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


@csrf_exempt
@login_not_required
@require_POST
def kling_callback(request: HttpRequest, pk: uuid.UUID, token: str) -> HttpResponse:
    wait = over_limit(client_address(request))
    if wait:
        refused = HttpResponse("Too many callbacks.", status=429, content_type="text/plain")
        refused["Retry-After"] = str(wait)
        return _quiet(refused)
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY:
        return _quiet(HttpResponse("Too large.", status=413))
    if not hmac.compare_digest(token.encode(), pipeline.callback_token(pk).encode()):
        return _quiet(HttpResponse(status=404))
    status = Generation.objects.filter(pk=pk).values_list("status", flat=True).first()
    if status is None or status in FINAL:
        return _quiet(HttpResponse(status=404))
    if status in (Status.SUBMITTED, Status.PROCESSING):
        now = timezone.now()
        nudged = Generation.objects.filter(
            pk=pk, status__in=(Status.SUBMITTED, Status.PROCESSING), next_poll_at__gt=now
        ).update(next_poll_at=now)
        logger.info("Callback for generation %s (%s)", pk, "due now" if nudged else "already due")
        pipeline.kick_sweep()
    return HttpResponse("ok", content_type="text/plain")


def client_address(request: HttpRequest) -> str:
    """The caller's address: behind STUDIO_PROXY_COUNT trusted proxies, the one the
    outermost of them saw (X-Forwarded-For, counted from the right), else REMOTE_ADDR."""
    proxies = settings.AXES_IPWARE_PROXY_COUNT or 0
    if proxies:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies][:64]
    return request.META.get("REMOTE_ADDR", "")[:64]


def over_limit(address: str) -> int:
    """Count one callback from `address` in this window; the seconds until the window ends
    when it is over STUDIO_WEBHOOK_RATE_LIMIT, else 0. Fixed windows in the "webhooks"
    cache, one small entry per address and window, expiring with it."""
    limit = settings.STUDIO_WEBHOOK_RATE_LIMIT
    if not limit:
        return 0
    window = settings.STUDIO_WEBHOOK_RATE_WINDOW
    now = time.time()
    key = f"hook:{address}:{int(now // window)}"
    cache = caches["webhooks"]
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # dropped between add and incr (the cache was full)
        cache.set(key, 1, timeout=window)
        count = 1
    if count <= limit:
        return 0
    if count == limit + 1:  # once per address and window, without the path (R27)
        logger.warning(
            "Webhook: %s is over the limit of %s callbacks in %s s", address, limit, window
        )
    return max(1, math.ceil(window - now % window))


def _quiet(response: HttpResponse) -> HttpResponse:
    # Django logs every 4xx with its path, and the path holds the token (docs/reliability.md R27).
    response._has_been_logged = True
    return response
