"""Log lines with the secret part of webhook URLs blanked out: gunicorn's access log and,
through a logging filter in settings.LOGGING, Django's own (`django.request` names the path
of every 404 and 405 it answers).

The upstream calls `/hooks/kling/<generation id>/<token>/`; the token is the only thing
that authenticates the call, so it must not reach any log (docs/reliability.md R27). Every
value of an access-log line (request line, path, raw URI, referer, ...) is redacted, not
only the path, so a custom `--access-logformat` cannot bring it back.
"""

from __future__ import annotations

import logging
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


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record with `redact` applied to its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if TOKEN.search(message):
            record.msg, record.args = redact(message), None
        return True
