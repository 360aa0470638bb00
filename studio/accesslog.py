"""gunicorn's access log with the secret part of webhook URLs blanked out.

The upstream calls `/hooks/kling/<generation id>/<token>/`; the token is the only thing
that authenticates the call, so it must not reach any log (RELIABILITY.md R27). Every
value of a log line (request line, path, raw URI, referer, ...) is redacted, not only the
path, so a custom `--access-logformat` cannot bring it back.
"""

from __future__ import annotations

import re

from gunicorn.glogging import Logger

TOKEN = re.compile(r"(/hooks/kling/[^/?#\s]+/)[^/?#\s]+")
REDACTED = r"\1[redacted]"


def redact(text: str) -> str:
    return TOKEN.sub(REDACTED, text)


class RedactingLogger(Logger):
    """gunicorn's Logger; each access-log value goes through `redact`."""

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }
