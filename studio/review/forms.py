"""The reviewer's decision form, the team gallery's filters and the spend page's month."""

from __future__ import annotations

from datetime import date

from django import forms
from django.db.models import QuerySet

from studio.generations.models import Generation
from studio.kling.capabilities import MODELS
from studio.review.models import Review, Verdict


class DecisionForm(forms.Form):
    verdict = forms.ChoiceField(
        label="Decision",
        choices=[
            (Verdict.APPROVED, "Approve for team use"),
            (Verdict.CHANGES, "Ask for changes"),
            (Verdict.REJECTED, "Reject"),
        ],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=2000,
        help_text="Required when asking for changes or rejecting.",
    )
    at_seconds = forms.FloatField(
        label="At (seconds into the video)",
        required=False,
        min_value=0,
        max_value=3600,
        widget=forms.NumberInput(attrs={"step": "0.1", "min": "0"}),
        help_text="Optional: pin the comment to a moment.",
    )

    def __init__(self, *args, generation: Generation, reviewer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.generation, self.reviewer = generation, reviewer

    def clean(self) -> dict:
        cleaned = super().clean()
        verdict = cleaned.get("verdict")
        refusal = Review.refusal(self.generation, self.reviewer, verdict) if verdict else ""
        if refusal:
            self.add_error("verdict", refusal)
        if (
            verdict in (Verdict.CHANGES, Verdict.REJECTED)
            and not cleaned.get("comment", "").strip()
        ):
            self.add_error("comment", "Say what should change, or why it is rejected.")
        return cleaned


class GalleryFilterForm(forms.Form):
    q = forms.CharField(label="Prompt contains", required=False)
    tag = forms.ChoiceField(label="Tag", required=False)
    model_name = forms.ChoiceField(
        label="Model",
        choices=[("", "Any model"), *((n, s.label) for n, s in MODELS.items())],
        required=False,
    )

    def __init__(self, *args, approved: QuerySet[Generation], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The tags of the approved videos' library prompts: no tag of a private prompt
        # that made nothing the team may see.
        names = (
            approved.filter(prompt_version__prompt__tags__isnull=False)
            .values_list("prompt_version__prompt__tags__name", flat=True)
            .order_by("prompt_version__prompt__tags__name")
            .distinct()
        )
        self.fields["tag"].choices = [("", "Any tag"), *((name, name) for name in names)]

    def filter(self, generations: QuerySet[Generation]) -> QuerySet[Generation]:
        if not self.is_valid():
            return generations
        data = self.cleaned_data
        if data.get("q"):
            generations = generations.filter(prompt__icontains=data["q"])
        if data.get("model_name"):
            generations = generations.filter(model_name=data["model_name"])
        if data.get("tag"):
            # Tags live on the library prompt a generation's text was taken from.
            generations = generations.filter(
                prompt_version__prompt__tags__name=data["tag"]
            ).distinct()
        return generations


class MonthForm(forms.Form):
    month = forms.CharField(required=False)

    def first_day(self, today: date) -> date:
        """The month asked for as ?month=YYYY-MM, else this one."""
        raw = self.data.get("month", "") if self.is_bound else ""
        try:
            year, month = (int(part) for part in raw.split("-"))
            return date(year, month, 1)
        except ValueError:
            return today.replace(day=1)
