"""QuickSelect: Django's <select> with the same markup, written in Python.

Django renders a select through a template and includes one more template per option;
each include costs tens of microseconds, so the list pages' filters spent more on their
selects than on their rows (the library's 1,000 tags took over 20 ms). The list filters
use this one; its HTML is that of django/forms/widgets/select.html, less blank lines
(tests/test_list_pages.py compares the two).
"""

from __future__ import annotations

import html
from collections import OrderedDict

from django import forms
from django.utils.choices import BaseChoiceIterator
from django.utils.safestring import SafeData, mark_safe

MEMO_SIZE = 16  # rendered selects of Options kept per process


def escape(value) -> str:
    """As the template's autoescape: safe strings as they are, the rest escaped."""
    return value if isinstance(value, SafeData) else html.escape(str(value))


def attributes(attrs: dict) -> str:
    """As django/forms/widgets/attrs.html: True is a bare name, False (and None) left out."""
    if not attrs:
        return ""
    return "".join(
        f" {name}" if value is True else f' {name}="{escape(value)}"'
        for name, value in attrs.items()
        if value is not False and value is not None
    )


class Options(BaseChoiceIterator):
    """Choices made of plain (value, label) string pairs, set as they are: Django's
    normalize_choices passes a choice iterator through instead of matching every pair
    against its patterns, twice (the field's setter and the widget's), which cost more than
    rendering them for the library's 1,000 tags. A QuickSelect renders the same Options,
    name, attributes and choice once per process (`memo`)."""

    def __init__(self, pairs) -> None:
        self.pairs = tuple((str(value), str(label)) for value, label in pairs)

    def __iter__(self):
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)


class QuickSelect(forms.Select):
    memo: OrderedDict = OrderedDict()  # (start tag, chosen, pairs): the whole select

    def render(self, name, value, attrs=None, renderer=None) -> str:
        attrs = self.build_attrs(self.attrs, attrs)
        chosen = set(self.format_value(value))
        start = f'<select name="{escape(name)}"{attributes(attrs)}>'
        if not isinstance(self.choices, Options):
            return self.build(start, chosen)
        key = (start, tuple(sorted(chosen)), self.allow_multiple_selected, self.choices.pairs)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self.build(start, chosen)
            while len(self.memo) > MEMO_SIZE:
                self.memo.popitem(last=False)
        return found

    def build(self, start: str, chosen: set[str]) -> str:
        self.picked = False
        parts = [start]
        for group_value, group_label in self.choices:
            if isinstance(group_label, list | tuple):
                parts.append(f'\n  <optgroup label="{escape(group_value)}">')
                parts.extend(self.options(group_label, chosen))
                parts.append("\n  </optgroup>")
            else:
                parts.extend(self.options([(group_value, group_label)], chosen))
        parts.append("\n</select>")
        return mark_safe("".join(parts))

    def options(self, choices, chosen: set[str]) -> list[str]:
        """Option tags, marking the chosen value(s) selected as Select.optgroups does (the
        first match only, unless the select takes several: `picked`, reset by render)."""
        found = []
        for value, label in choices:
            key = "" if value is None else str(value)
            selected = key in chosen and (self.allow_multiple_selected or not self.picked)
            self.picked = self.picked or selected
            mark = " selected" if selected else ""
            found.append(f'\n  <option value="{escape(key)}"{mark}>{escape(label)}</option>')
        return found


def quick_selects(form_class: type[forms.Form]) -> type[forms.Form]:
    """A class decorator: each plain select of the form becomes a QuickSelect."""
    for field in form_class.base_fields.values():
        if type(field.widget) is forms.Select:
            field.widget = QuickSelect(attrs=field.widget.attrs, choices=field.widget.choices)
    return form_class
