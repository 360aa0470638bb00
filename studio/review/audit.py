"""The audit log's one door: `record(actor, action, target, before, after)`.

Any app may call it, e.g. the library when a prompt's visibility changes:

    audit.record(request.user, "visibility.change", prompt,
                 before={"visibility": "private"}, after={"visibility": "team"})

`actor` None means the person behind the current request (AuditMiddleware), else "system".
`before` and `after` are small JSON-able dicts (Decimals, dates and UUIDs are fine).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.db import models
from django.http import HttpRequest, HttpResponse

from studio.review.models import AuditEntry

_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)


def record(
    actor,
    action: str,
    target: models.Model | str | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    actor = actor if actor is not None else current_actor()
    return AuditEntry.record(actor, action, target, before, after)


def current_actor():
    """The signed-in user of the request being handled, if any."""
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and user.is_authenticated else None


class AuditMiddleware:
    """Makes the request's user the actor of anything recorded while it is handled (e.g.
    role changes seen by a signal, which knows no request)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)
