"""The session engine: Django's database sessions, with a session read in one plain SQL
statement.

Every signed-in request reads its session, the queue poll every 2 s for each open studio
page; building the ORM query cost more than running it. The row read is the same: the
session with this key whose expiry is still ahead (tests/test_sessions.py)."""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.db import connections, router
from django.utils import timezone


class SessionStore(DatabaseStore):
    _sql: str | None = None

    def load(self) -> dict:
        model = self.model
        if SessionStore._sql is None:
            SessionStore._sql = (
                f"SELECT session_data FROM {model._meta.db_table} "
                "WHERE session_key = %s AND expire_date > %s"
            )
        connection = connections[router.db_for_read(model)]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(SessionStore._sql, [self.session_key, now])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return {}
        return self.decode(row[0])
