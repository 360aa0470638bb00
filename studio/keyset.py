"""Keyset pages for the list pages (history, gallery, review queue): a page costs the same
however long the history is, because no query skips rows it has read (OFFSET) or counts
all of them.

- The first NUMBERED pages are reached as `?page=N` (at most a few dozen rows skipped) and
  show "page N of M"; from there on the links carry a cursor, `?after=` (older, the next
  page) or `?before=` (newer), the sort key of the last (first) row shown. Every other
  query parameter (the filters) is kept; a bad cursor or page number shows the first page.
- The order ends with the primary key, so it is total and a cursor walk shows every row
  exactly once, while rows arriving meanwhile only shift what "newer" finds.
- `parts` (Generation.objects.visible_parts) split "mine OR the team's" into disjoint
  conditions; each is paged from its own index and the rows are merged, since one OR
  across two indexes makes the database read and sort every visible row.
- Counts stop at CAP ("1,000+"): at most CAP + 1 index entries read per part (each may
  cost a row lookup, so 10,000 was a few milliseconds too many at any size).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.core.paginator import Page as DjangoPage
from django.db import connections
from django.db.models import Field, Model, Q, QuerySet
from django.http import QueryDict
from django.utils.functional import cached_property

CAP = 1_000
NUMBERED = 5
CURSOR_PARAMS = ("page", "after", "before")
NULL = "-"  # a cursor value that is NULL (the review queue's finished_at may be)
SEPARATOR = "~"
PAGE = re.compile(r"[0-9]{1,3}")


@dataclass
class Page:
    """One page of rows and the links to its neighbours (hrefs keep the other parameters)."""

    object_list: list
    count: int
    capped: bool
    size: int
    number: int | None = None  # known on the numbered first pages only
    newer: str = ""
    older: str = ""
    extra: dict = field(default_factory=dict)

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    @property
    def count_label(self) -> str:
        return f"{CAP:,}+" if self.capped else f"{self.count:,}"

    @property
    def num_pages(self) -> int | None:
        if self.capped or self.number is None:
            return None
        return max(1, -(-self.count // self.size))

    @property
    def has_other_pages(self) -> bool:
        return bool(self.newer or self.older)


@dataclass(frozen=True)
class Keys:
    """The sort key: field paths (the last one unique), all ascending or all descending."""

    paths: tuple[str, ...]
    descending: bool

    def ordering(self, reverse: bool = False) -> list[str]:
        sign = "-" if self.descending != reverse else ""
        return [f"{sign}{path}" for path in self.paths]


def paginate(
    query: QueryDict,
    rows: QuerySet,
    keys: Keys,
    size: int,
    parts: list[Q] | None = None,
    counted: QuerySet | None = None,
) -> Page:
    """The page of `rows` the query string asks for (see the module docstring). `counted`,
    when given, is counted instead of `rows`: the same rows by cheaper conditions (the
    gallery's approved flag on the generation, not a join to its review)."""
    parts = [Q()] if parts is None else parts
    counted = rows if counted is None else counted
    cursor, newer = read_cursor(query, rows.model, keys)
    number = page_number(query) if cursor is None else None
    if cursor is not None and newer:
        found = fetch(rows, parts, keys, cursor, size + 1, reverse=True)
        if len(found) >= size:
            shown = list(reversed(found[:size]))
            page = make_page(rows, counted, parts, shown, size, None)
            page.newer = href(query, before=encode(shown[0][:-1])) if found[size:] else ""
            page.older = href(query, after=encode(shown[-1][:-1]))
            return page
        cursor, number = None, 1  # fewer than a page is newer: show the first page
    skip = (number - 1) * size if number else 0
    found = fetch(rows, parts, keys, cursor, skip + size + 1)[skip:]
    shown = found[:size]
    page = make_page(rows, counted, parts, shown, size, number)
    if number and number > 1:
        page.newer = href(query, page=str(number - 1))
    elif cursor is not None and shown:
        page.newer = href(query, before=encode(shown[0][:-1]))
    if len(found) > size:
        page.older = (
            href(query, page=str(number + 1))
            if number and number < NUMBERED
            else href(query, after=encode(shown[-1][:-1]))
        )
    return page


def make_page(
    rows: QuerySet, counted: QuerySet, parts: list[Q], shown: list, size: int, number: int | None
) -> Page:
    """The page of the rows whose keys are `shown`: only these are read whole."""
    found = by_key(rows, [key[-1] for key in shown])
    count, capped = capped_count(counted, parts)
    return Page(
        object_list=[found[key[-1]] for key in shown if key[-1] in found],
        count=count,
        capped=capped,
        size=size,
        number=number,
    )


def by_key(rows: QuerySet, ids: list) -> dict:
    """The rows with these primary keys, read by primary key. They were chosen from `rows`,
    so its conditions are not asked again (SQLite answered "mine OR the team's" AND "pk
    IN" from the OR's indexes, reading every row of the user's); what it reads with
    them (select_related, prefetch_related) it still does."""
    loader = rows.model._default_manager.all()
    loader.query.select_related = rows.query.select_related
    return loader.prefetch_related(*rows._prefetch_related_lookups).in_bulk(ids)


def capped_count(rows: QuerySet, parts: list[Q]) -> tuple[int, bool]:
    """(the number of rows, whether it is more than CAP): each part counted up to what is
    left of CAP + 1, and none once the cap is reached (a creator's own rows usually are)."""
    total = 0
    for part in parts:
        if total > CAP:
            break
        total += rows.filter(part).order_by()[: CAP + 1 - total].count()
    return min(total, CAP), total > CAP


def fetch(
    rows: QuerySet, parts: list[Q], keys: Keys, cursor: tuple | None, limit: int, *, reverse=False
) -> list[tuple]:
    """The sort keys and primary keys, (key, ..., pk), of up to `limit` rows in key order
    (reversed: towards the newer end) past the cursor, merged from one index range per
    part. Only keys: the page's rows are read whole once chosen (make_page)."""
    found = []
    for part in parts:
        chosen = rows.filter(part)
        if cursor is not None:
            chosen = chosen.filter(beyond(rows, keys, cursor, reverse))
        chosen = chosen.order_by(*keys.ordering(reverse)).values_list(*keys.paths, "pk")
        found.extend(chosen[:limit])
    if len(parts) > 1:
        found.sort(key=lambda key: key[:-1], reverse=keys.descending != reverse)
    return found[:limit]


def beyond(rows: QuerySet, keys: Keys, cursor: tuple, reverse: bool) -> Q:
    """Rows after `cursor` in the order of `keys` (before it when `reverse`), written so
    the first key bounds an index range. NULLs sort where the database puts them."""
    larger = keys.descending == reverse  # moving towards larger values
    nulls_largest = connections[rows.db].features.nulls_order_largest
    condition = Q(pk__in=[])
    equal = Q()
    for path, value in zip(keys.paths, cursor, strict=True):
        condition |= equal & past(path, value, larger, nulls_largest)
        equal &= Q(**{f"{path}__isnull": True}) if value is None else Q(**{path: value})
    first, value = keys.paths[0], cursor[0]
    if value is not None and larger != nulls_largest:  # NULLs are not on the way: bound it
        return condition & Q(**{f"{first}__{'gte' if larger else 'lte'}": value})
    return condition


def past(path: str, value, larger: bool, nulls_largest: bool) -> Q:
    """`path` strictly past `value` in the direction asked, NULL counting as the database
    orders it (largest on PostgreSQL, smallest on SQLite)."""
    if value is None:
        # Past NULL: the non-NULL values if they lie that way, else nothing.
        return Q(**{f"{path}__isnull": False}) if larger != nulls_largest else Q(pk__in=[])
    strictly = Q(**{f"{path}__{'gt' if larger else 'lt'}": value})
    if larger == nulls_largest:
        strictly |= Q(**{f"{path}__isnull": True})
    return strictly


def page_number(query: QueryDict) -> int:
    raw = query.get("page", "1")
    # ASCII digits only: str.isdigit() takes "²", which int() refuses.
    return int(raw) if PAGE.fullmatch(raw) and 1 <= int(raw) <= NUMBERED else 1


def read_cursor(query: QueryDict, model: type[Model], keys: Keys) -> tuple[tuple | None, bool]:
    """(the cursor's values, whether it points newer); (None, False) when absent or bad."""
    for name, newer in (("before", True), ("after", False)):
        raw = query.get(name)
        if raw:
            values = decode(raw, model, keys)
            return (values, newer) if values is not None else (None, False)
    return None, False


def encode(values: tuple) -> str:
    def one(value) -> str:
        if value is None:
            return NULL
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        return str(value)

    return SEPARATOR.join(one(value) for value in values)


def decode(raw: str, model: type[Model], keys: Keys) -> tuple | None:
    pieces = raw.split(SEPARATOR)
    if len(pieces) != len(keys.paths) or len(raw) > 200:
        return None
    values = []
    for path, piece in zip(keys.paths, pieces, strict=True):
        target = field_of(model, path)
        if piece == NULL and target.null:
            values.append(None)
            continue
        try:
            value = target.to_python(piece)
        except (ValidationError, ValueError, TypeError, OverflowError):
            return None
        if value is None or (isinstance(value, datetime) and value.tzinfo is None):
            return None
        values.append(value)
    return tuple(values)


def field_of(model: type[Model], path: str) -> Field:
    names = path.split("__")
    for name in names[:-1]:
        model = model._meta.get_field(name).related_model
    name = names[-1]
    try:
        return model._meta.pk if name == "id" else model._meta.get_field(name)
    except FieldDoesNotExist:
        return model._meta.pk


def href(query: QueryDict, **changes: str) -> str:
    """The query string with the paging parameters replaced by `changes`."""
    kept = query.copy()
    for name in CURSOR_PARAMS:
        kept.pop(name, None)
    for name, value in changes.items():
        kept[name] = value
    return f"?{kept.urlencode()}"


class CappedPage(DjangoPage):
    def __init__(self, object_list, number: int, paginator: CappedPaginator, more: bool):
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more


# A page number past any library's end; beyond it a number is not sent to the database.
MAX_PAGE = 1_000_000


class CappedPaginator(Paginator):
    """Django's numbered pages (OFFSET) with the count stopped at CAP + 1 rows, for a
    list that is small for most people (the library): past the cap it says "1,000+" and
    no last page, and each page reads one row more than it shows to know whether there is
    a next one. Below the cap it is Django's Paginator."""

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by()[: CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > CAP

    @property
    def count_label(self) -> str:
        return f"{CAP:,}+" if self.capped else f"{self.count:,}"

    def validate_number(self, number) -> int:
        if not self.capped:
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError) as error:
            raise PageNotAnInteger("That page number is not an integer") from error
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        if number > MAX_PAGE:  # its OFFSET would not fit the database's integers
            raise EmptyPage("That page contains no results")
        return number

    def get_page(self, number) -> DjangoPage:
        """As Django's, but a page past the last (unknown beyond the cap) shows the first."""
        try:
            return super().get_page(number)
        except EmptyPage:
            return self.page(1)

    def page(self, number) -> DjangoPage:
        if not self.capped:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage("That page contains no results")
        return CappedPage(rows[: self.per_page], number, self, more=len(rows) > self.per_page)
