"""The upstream's status callbacks: an unauthenticated hint that only makes a row due now.

Reference: docs/upstream.md §8 (callbacks are unsigned and may repeat), docs/reliability.md R24-R27.
The body is never read for facts; the next poll asks the API what happened.
"""

from __future__ import annotations

import hmac
import logging
import uuid

from django.contrib.auth.decorators import login_not_required
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


def _quiet(response: HttpResponse) -> HttpResponse:
    # Django logs every 4xx with its path, and the path holds the token (docs/reliability.md R27).
    response._has_been_logged = True
    return response
