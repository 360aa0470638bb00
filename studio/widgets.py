"""QuickSelect: Django's <select> with the same markup, written in Python.

Django renders a select through a template and includes one more template per option;
each include costs tens of microseconds, so the list pages' filters spent more on their
selects than on their rows (the library's 1,000 tags took over 20 ms). The list filters
use this one; its HTML is that of django/forms/widgets/select.html, less blank lines
(tests/test_list_pages.py compares the two).
"""

from __future__ import annotations

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe


def attributes(attrs: dict) -> str:
    """As django/forms/widgets/attrs.html: True is a bare name, False leaves it out."""
    return flatatt({name: value for name, value in attrs.items() if value is not None})


class QuickSelect(forms.Select):
    def render(self, name, value, attrs=None, renderer=None) -> str:
        widget = self.get_context(name, value, attrs)["widget"]
        parts = []
        for group_name, options, _ in widget["optgroups"]:
            if group_name:
                parts.append(format_html('\n  <optgroup label="{}">', group_name))
            parts.append(
                format_html_join(
                    "",
                    '\n  <option value="{}"{}>{}</option>',
                    ((str(o["value"]), attributes(o["attrs"]), o["label"]) for o in options),
                )
            )
            if group_name:
                parts.append(mark_safe("\n  </optgroup>"))
        return format_html(
            '<select name="{}"{}>{}\n</select>',
            widget["name"],
            attributes(widget["attrs"]),
            mark_safe("".join(parts)),
        )


def quick_selects(form_class: type[forms.Form]) -> type[forms.Form]:
    """A class decorator: each plain select of the form becomes a QuickSelect."""
    for field in form_class.base_fields.values():
        if type(field.widget) is forms.Select:
            field.widget = QuickSelect(attrs=field.widget.attrs, choices=field.widget.choices)
    return form_class
