"""The list pages' filter forms (history, the library, the review queue, the gallery): each
field a person filled in narrows the list by its own lookup, and an empty one by nothing."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import QuerySet


def narrowed(rows: QuerySet, data: Mapping, lookups: Mapping[str, str]) -> QuerySet:
    """`rows` filtered, in the order of `lookups` (field name -> ORM lookup), by each field
    of the form's cleaned `data` that has a value; one .filter() a field, as written out."""
    for name, lookup in lookups.items():
        if data.get(name):
            rows = rows.filter(**{lookup: data[name]})
    return rows
