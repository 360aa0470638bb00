"""Share links for people outside the studio: making one (a random token, kept only as its
SHA-256), finding one from a token in constant time, what it may show, unlocking one with
its password, and the audit entry of every use. Pages: share_views.py."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

from django.contrib.auth.hashers import check_password, make_password
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from studio.accounts.roles import SEE_ALL
from studio.generations.models import Generation, Status
from studio.review.models import AuditEntry, ShareKind, ShareLink

TOKEN_BYTES = 32  # 256 bits: secrets.token_urlsafe gives 43 characters
TOKEN_MAX_CHARS = 64  # anything longer is not one of ours, and is not hashed
SESSION_KEY = "share_links_unlocked"
PASSWORD_TRIES_PER_HOUR = 10
GUEST_COMMENTS_PER_HOUR = 60  # per link: a guest cannot flood the threads

GONE = "This link has expired or was revoked. Ask the person who sent it for a new one."
WRONG_PASSWORD = "That password is not right."
TOO_MANY_TRIES = "Too many wrong passwords for this link: try again in an hour."
TOO_MANY_COMMENTS = "This link has taken as many comments as it may in an hour: try again later."


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(
    user, kind: str, target_id, *, days: int, password: str = "", can_comment: bool = False
) -> tuple[ShareLink, str]:
    """A new link and its token (shown once: only the digest is stored)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = ShareLink(
        token_hash=digest(token),
        kind=kind,
        created_by=user,
        expires_at=timezone.now() + timedelta(days=days),
        password=make_password(password) if password else "",
        can_comment=can_comment,
    )
    setattr(
        link, {"video": "generation", "shot": "shot", "batch": "batch"}[kind] + "_id", target_id
    )
    link.save()
    AuditEntry.record(
        user,
        "share.create",
        link,
        after={
            "kind": kind,
            "target": str(target_id),
            "days": days,
            "password": bool(password),
            "comment": can_comment,
        },
    )
    return link, token


def find(token: str) -> ShareLink | None:
    """The link for `token`, live or not, or None. Looked up by the token's digest (which
    says nothing about any other token), then compared in constant time."""
    if not token or len(token) > TOKEN_MAX_CHARS:
        return None
    wanted = digest(token)
    link = ShareLink.objects.filter(token_hash=wanted).first()
    if link is None or not hmac.compare_digest(link.token_hash, wanted):
        return None
    return link


def targets(user, kind: str, raw: str | None):
    """The id of what `user` asked to share, if they may see it and it has a finished
    video, else None."""
    try:
        pk = uuid.UUID(str(raw))
    except ValueError:
        return None
    finished = Generation.objects.visible_to(user).filter(status=Status.SUCCEEDED)
    field = {ShareKind.VIDEO: "pk", ShareKind.SHOT: "shot_id", ShareKind.BATCH: "batch_id"}
    if kind not in field or not finished.filter(**{field[kind]: pk}).exists():
        return None
    return pk


def links_for(user) -> QuerySet[ShareLink]:
    """The links a person manages: their own; admins see everyone's."""
    links = ShareLink.objects.select_related("created_by", "generation", "revoked_by")
    return links if user.has_perm(SEE_ALL) else links.filter(created_by=user)


def revoke(link: ShareLink, user) -> None:
    if link.revoked_at is None:
        link.revoked_at, link.revoked_by = timezone.now(), user
        link.save(update_fields=["revoked_at", "revoked_by"])
        AuditEntry.record(user, "share.revoke", link)


# ---------------------------------------------------------------------------- guests


def unlocked(request: HttpRequest, link: ShareLink) -> bool:
    return not link.password or link.pk in request.session.get(SESSION_KEY, [])


def unlock(request: HttpRequest, link: ShareLink, password: str) -> str:
    """ "" when `password` opens the link (remembered in the session), else why not."""
    hour_ago = timezone.now() - timedelta(hours=1)
    tries = AuditEntry.objects.filter(
        action="share.password_refused",
        target_type="review.sharelink",
        target_id=str(link.pk),
        at__gte=hour_ago,
    )
    if tries.count() >= PASSWORD_TRIES_PER_HOUR:
        used(request, link, "share.password_refused", why="too many tries")
        return TOO_MANY_TRIES
    if not check_password(password, link.password):
        used(request, link, "share.password_refused")
        return WRONG_PASSWORD
    request.session[SESSION_KEY] = [*request.session.get(SESSION_KEY, []), link.pk][-50:]
    used(request, link, "share.unlock")
    return ""


def guest_comments_full(link: ShareLink) -> bool:
    hour_ago = timezone.now() - timedelta(hours=1)
    recent = link.comments.filter(created_at__gte=hour_ago)
    return recent.count() >= GUEST_COMMENTS_PER_HOUR


def used(request: HttpRequest, link: ShareLink, action: str, **facts) -> None:
    """Audit one use of a link: what was asked for, from where."""
    after = {
        "path": request.path[:200],
        "address": request.META.get("REMOTE_ADDR", ""),
        "agent": request.headers.get("User-Agent", "")[:120],
        **facts,
    }
    AuditEntry.record(None, action, link, after=after)
