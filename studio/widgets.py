"""QuickSelect: Django's <select> with the same markup, written in Python.

Django renders a select through a template and includes one more template per option;
each include costs tens of microseconds, so the list pages' filters spent more on their
selects than on their rows (the library's 1,000 tags took over 20 ms). The list filters
use this one; its HTML is that of django/forms/widgets/select.html, less blank lines
(tests/test_list_pages.py compares the two).
"""

from __future__ import annotations

import html

from django import forms
from django.utils.safestring import SafeData, mark_safe


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


class QuickSelect(forms.Select):
    def render(self, name, value, attrs=None, renderer=None) -> str:
        attrs = self.build_attrs(self.attrs, attrs)
        chosen = set(self.format_value(value))
        self.picked = False
        parts = [f'<select name="{escape(name)}"{attributes(attrs)}>']
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
