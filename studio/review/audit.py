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

from django.http import HttpRequest, HttpResponse

from studio.review.models import AuditEntry

_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)


def record(actor, *args, **kwargs) -> AuditEntry:
    """AuditEntry.record (the same arguments), by the request's user when `actor` is None."""
    return AuditEntry.record(actor if actor is not None else current_actor(), *args, **kwargs)


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
