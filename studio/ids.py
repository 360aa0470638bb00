"""Ids that come from a request (a query parameter, a hidden field, a sweep checkbox): one
parser for all of them, so no value reaches a query the database cannot hold. An id outside
1 .. 2^63-1 made SQLite raise OverflowError (a 500); `str.isdigit()` also takes "²" or "٣",
which `int()` then refuses. Such an id names nothing: it is dropped, like an unknown one."""

from __future__ import annotations

import re

from django import forms

MAX_ID = 2**63 - 1  # the largest bigint primary key on SQLite and PostgreSQL
DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII digits only


def parse_id(raw: object) -> int | None:
    """The id in `raw` ("42", " 42 "), or None when it is not one."""
    text = str(raw if raw is not None else "").strip()
    if not DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def parse_ids(raw: object, limit: int) -> list[int]:
    """At most `limit` ids from "3,5,2" (repeats dropped, order kept); anything else is
    ignored. Only the first few parts are read: a long list costs nothing."""
    ids: list[int] = []
    for part in str(raw if raw is not None else "").split(",", 4 * limit)[: 4 * limit]:
        value = parse_id(part)
        if value is not None and value not in ids:
            ids.append(value)
            if len(ids) == limit:
                break
    return ids


class IdField(forms.Field):
    """A hidden field holding an id: what is not one (out of range, not a number) names
    nothing and cleans to None, as an id of a row that does not exist names nothing."""

    def to_python(self, value: object) -> int | None:
        return parse_id(value)
