"""`/healthz`: is this web process up and can it reach its database? For load balancers
and uptime checks; it needs no sign-in and reveals nothing but "ok".

`/healthz?deep=1` also answers 503 when no worker cluster has written its heartbeat within
STUDIO_HEALTH_WORKER_SECONDS (docs/reliability.md R53), saying how long ago, nothing more."""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@never_cache
@login_not_required
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.error("Health check: the database did not answer: %s", error)
        return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
    if request.GET.get("deep"):
        return deep()
    return HttpResponse("ok\n", content_type="text/plain")


def deep() -> HttpResponse:
    from studio.generations.vitals import worker_problem

    try:
        problem = worker_problem()
    except DatabaseError as error:
        logger.error("Deep health check: reading the heartbeats failed: %s", error)
        return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
    if problem:
        return HttpResponse(f"worker down: {problem}\n", status=503, content_type="text/plain")
    return HttpResponse("ok: worker seen\n", content_type="text/plain")
