"""The retention page's form: how many days, and (to run) the cutoff and list it previewed."""

from __future__ import annotations

from django import forms


class RetentionForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=36500, label="Older than (days)")
    cutoff = forms.DateTimeField(required=False, widget=forms.HiddenInput)
    digest = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
