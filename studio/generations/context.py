"""Context every page gets from generations: the nav's activity (generations/activity.py),
worked out only if the page renders it (htmx fragments do not)."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from studio.generations.activity import activity


def nav(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"activity": None}
    return {"activity": SimpleLazyObject(lambda: activity(user))}
