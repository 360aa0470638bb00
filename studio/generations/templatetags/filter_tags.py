"""{% filter_fields form %}: the fields of a list page's filter form (_filter_fields.html),
rendered once per process for each set of everything they show. Django renders every
widget through a template of its own, which cost a list page 0.8 ms (1.6 ms for an
admin's History) on each answer, although a form nobody filled in is the same every time.
"""

from __future__ import annotations

from collections import OrderedDict

from django import forms, template
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe

from studio.widgets import Options

register = template.Library()
KEPT = 64  # rendered field sets per process
RENDERED: OrderedDict = OrderedDict()


@register.simple_tag
def filter_fields(form: forms.Form) -> str:
    key = fields_key(form)
    html = RENDERED.get(key) if key is not None else None
    if html is None:
        html = render_to_string("_filter_fields.html", {"form": form})
        if key is not None:
            RENDERED[key] = html
            while len(RENDERED) > KEPT:
                RENDERED.popitem(last=False)
    return mark_safe(html)


def fields_key(form: forms.Form) -> tuple | None:
    """Everything the fields' HTML depends on: the form's class, prefix and ids, the
    language and time zone, and per field its value, choices, label, widget and flags.
    None (render afresh) when the form shows errors."""
    if form.is_bound and form.errors:
        return None
    fields = tuple(field_key(bound) for bound in form)
    where = (translation.get_language(), timezone.get_current_timezone_name())
    return (
        type(form).__module__,
        type(form).__qualname__,
        form.prefix,
        form.auto_id,
        where,
        fields,
    )


def field_key(bound: forms.BoundField) -> tuple:
    field, widget = bound.field, bound.field.widget
    flags = (field.required, field.disabled, field.label, field.help_text, field.localize)
    choices = getattr(field, "choices", None)
    shown = None if choices is None else tuple((str(v), str(label)) for v, label in choices)
    if isinstance(field, forms.ModelChoiceField):
        widget.choices = Options(shown)  # the rows just read: rendering reads none again
    return (bound.name, repr(bound.value()), type(widget), repr(widget.attrs), flags, shown)
