"""View decorators for the roles' permissions (roles.py): a signed-in account without the
permission gets a 403, not a sign-in page it has already passed."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import permission_required

from studio.accounts.roles import LIBRARY, SUBMIT


def require(perm: str) -> Callable[[Callable], Callable]:
    """Only accounts with `perm` (one of roles.py's constants) may call the view."""
    return permission_required(perm, raise_exception=True)


member = require(LIBRARY)  # the library's pages: creators and admins
submitter = require(SUBMIT)  # anything that starts a paid generation
