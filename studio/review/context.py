"""Context every page gets from review: how many verdicts and comments on the signed-in
creator's work are new to them (news.py), counted only if the page shows the nav."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from studio.accounts.roles import SUBMIT
from studio.review import news


def review_news(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm(SUBMIT):
        return {"review_news": None}
    return {"review_news": SimpleLazyObject(lambda: {"count": news.unseen(user)})}
