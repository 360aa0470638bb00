"""The studio's generate form (every text2video parameter) and the history filter form."""

from __future__ import annotations

import uuid
from datetime import datetime, time

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from studio.accounts.roles import REVIEW, SEE_ALL
from studio.generations.models import Generation, Status
from studio.generations.pipeline import request_shape
from studio.ids import IdField
from studio.kling.capabilities import (
    ASPECT_RATIOS,
    CAMERA_AXES,
    CAMERA_AXIS_RANGE,
    CAMERA_PRESETS,
    DEFAULT_CFG_SCALE,
    DEFAULT_MODEL,
    MODELS,
    MODES,
    problems,
)

CAMERA_MOVES = [
    *((preset, preset.replace("_", " ").capitalize()) for preset in CAMERA_PRESETS),
    ("simple", "Simple: one axis"),
]
CAMERA_CHOICES = [("", "None: the model picks the camera motion"), *CAMERA_MOVES]
# Every duration Kling takes: for history filters and field checks; the selects offer
# request_shape()'s.
ALL_DURATIONS = sorted({d for spec in MODELS.values() for d in spec.durations}, key=int)
SOUND_CHOICES = [("off", "Off: a silent video"), ("on", "On: with audio (costs more)")]
# problems() keys -> the form field the message is shown next to.
PROBLEM_FIELDS = {"camera_control": "camera_type", "": None}


def cfg_scale_field(help_text: str) -> forms.FloatField:
    """cfg_scale, 0 to 1 (checked against the model by capabilities.problems)."""
    return forms.FloatField(
        label="cfg_scale",
        required=False,
        widget=forms.NumberInput(attrs={"min": 0, "max": 1, "step": 0.05}),
        help_text=help_text,
    )


def axis_field(axis: str) -> forms.FloatField:
    low, high = CAMERA_AXIS_RANGE
    return forms.FloatField(
        label=axis.capitalize(),
        required=False,
        widget=forms.NumberInput(attrs={"min": low, "max": high, "step": "any"}),
    )


class CameraAxesForm(forms.Form):
    """The six axes of a simple camera move (docs/upstream.md §5), shared by the studio form and
    presets; the subclass declares `camera_type` with its own choices."""

    camera_horizontal = axis_field("horizontal")
    camera_vertical = axis_field("vertical")
    camera_pan = axis_field("pan")
    camera_tilt = axis_field("tilt")
    camera_roll = axis_field("roll")
    camera_zoom = axis_field("zoom")

    def camera_axes(self) -> list[forms.BoundField]:
        return [self[f"camera_{axis}"] for axis in CAMERA_AXES]

    def camera_control(self) -> dict | None:
        """The camera_control object for the chosen move; None when no move is chosen."""
        kind = self.cleaned_data.get("camera_type")
        if kind == "simple":
            config = {axis: self.cleaned_data.get(f"camera_{axis}") or 0 for axis in CAMERA_AXES}
            return {"type": "simple", "config": config}
        return {"type": kind} if kind else None


class GenerateForm(CameraAxesForm):
    """Validated against the capability table (capabilities.problems), never just field types."""

    model_name = forms.ChoiceField(
        label="Model", choices=[(name, spec.label) for name, spec in MODELS.items()]
    )
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        strip=False,
        error_messages={"required": "Write a prompt."},
    )
    negative_prompt = forms.CharField(
        # Not "Negative prompt": a label containing "Prompt" would make the prompt's own
        # label ambiguous to assistive technology and to tests that find fields by label.
        label="Avoid",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The negative prompt: what the video should not show.",
    )
    mode = forms.ChoiceField(
        choices=[(m, {"std": "std (faster)", "pro": "pro (higher quality)"}[m]) for m in MODES],
        required=False,
    )
    duration = forms.ChoiceField(
        label="Duration", choices=[(d, f"{d} s") for d in ALL_DURATIONS], initial="5"
    )
    aspect_ratio = forms.ChoiceField(
        label="Aspect ratio", choices=[(r, r) for r in ASPECT_RATIOS], initial="16:9"
    )
    cfg_scale = cfg_scale_field("0 to 1: how closely the video follows the prompt.")
    # Not left to the upstream's "model default" (docs/upstream.md §15): the body always
    # says off or on for a model that can make sound; an empty value means off.
    sound = forms.ChoiceField(
        label="Sound",
        choices=SOUND_CHOICES,
        initial="off",
        required=False,
        help_text="Always sent: off for a silent video; on adds audio and costs more.",
    )
    camera_type = forms.ChoiceField(label="Camera control", choices=CAMERA_CHOICES, required=False)
    client_request_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    # Where the form's values came from (studio/composer/compose.py): the prompt version
    # it was opened with and the ids of the presets stacked on it, in order.
    prompt_version = IdField(required=False, widget=forms.HiddenInput)
    presets = forms.CharField(required=False, widget=forms.HiddenInput)
    # A remix is the next take of the remixed generation's shot, and may come from a note
    # on it (studio/review/threads.py).
    take_of = forms.UUIDField(required=False, widget=forms.HiddenInput)
    note = IdField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A new id per render: a double click posts the same id twice, one row results.
        self.initial.setdefault("client_request_id", uuid.uuid4())
        self.initial.setdefault("model_name", DEFAULT_MODEL)
        spec = MODELS.get(self.data.get("model_name") or self.initial["model_name"])
        if spec is not None:
            # Without JavaScript the list still fits the model the page was drawn for (the
            # field takes any duration: capabilities.problems says what is wrong with one).
            durations = request_shape().durations(spec)
            self.fields["duration"].widget.choices = [(d, f"{d} s") for d in durations]
            if spec.cfg_scale:
                self.initial.setdefault("cfg_scale", DEFAULT_CFG_SCALE)

    @classmethod
    def from_params(cls, params: dict) -> GenerateForm:
        """An unbound form prefilled from request-body params (remix)."""
        initial = {key: params.get(key) for key in ("model_name", "prompt", "negative_prompt")}
        initial.update(
            mode=params.get("mode") or "std",
            duration=params.get("duration") or "5",
            aspect_ratio=params.get("aspect_ratio") or "16:9",
            cfg_scale=params.get("cfg_scale"),
            sound=params.get("sound") or "off",
        )
        camera = params.get("camera_control") or {}
        initial["camera_type"] = camera.get("type", "")
        for axis, value in (camera.get("config") or {}).items():
            initial[f"camera_{axis}"] = value
        return cls(initial=initial)

    # Browsers send textarea line breaks as CRLF; count (and send) them as one character,
    # as the live counter does.
    def clean_prompt(self) -> str:
        return self.cleaned_data["prompt"].replace("\r\n", "\n")

    def clean_negative_prompt(self) -> str:
        return self.cleaned_data["negative_prompt"].replace("\r\n", "\n")

    def clean(self) -> dict:
        cleaned = super().clean()
        if "model_name" not in cleaned:
            return cleaned
        for key, message in problems(self._params(), request_shape()).items():
            field = PROBLEM_FIELDS.get(key, key)
            if field is None or field not in self.errors:  # one message per field
                self.add_error(field, message)
        return cleaned

    def params(self) -> dict:
        """The request-body shaped parameters for pipeline.create_generation."""
        return self._params()

    def _params(self) -> dict:
        data = self.cleaned_data
        spec = MODELS[data["model_name"]]
        return {
            "model_name": spec.name,
            "prompt": data.get("prompt", ""),
            "negative_prompt": data.get("negative_prompt", ""),
            # A model without a std/pro split takes no mode; the select cannot be emptied.
            "mode": (data.get("mode") or "std") if spec.modes else None,
            "duration": data.get("duration"),
            "aspect_ratio": data.get("aspect_ratio"),
            "cfg_scale": data.get("cfg_scale"),
            "camera_control": self.camera_control(),
            "sound": data.get("sound") or None,
        }


class HistoryFilterForm(forms.Form):
    """History filters; every field optional, all of them kept in the query string."""

    q = forms.CharField(label="Prompt contains", required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *Status.choices], required=False)
    model_name = forms.ChoiceField(
        label="Model",
        choices=[("", "Any model"), *((n, s.label) for n, s in MODELS.items())],
        required=False,
    )
    mode = forms.ChoiceField(choices=[("", "Any mode"), *((m, m) for m in MODES)], required=False)
    duration = forms.ChoiceField(
        choices=[("", "Any duration"), *((d, f"{d} s") for d in ALL_DURATIONS)], required=False
    )
    aspect_ratio = forms.ChoiceField(
        label="Aspect ratio",
        choices=[("", "Any ratio"), *((r, r) for r in ASPECT_RATIOS)],
        required=False,
    )
    author = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, empty_label="Anyone"
    )
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if user.has_perm(SEE_ALL) or user.has_perm(REVIEW):
            # Admins and reviewers see others' work, so they may narrow it to one author.
            self.fields["author"].queryset = (
                get_user_model().objects.filter(generations__isnull=False).distinct()
            )
        else:
            del self.fields["author"]

    def filter(self, generations: QuerySet[Generation]) -> QuerySet[Generation]:
        if not self.is_valid():
            return generations
        data = self.cleaned_data
        for name in ("status", "model_name", "mode", "duration", "aspect_ratio"):
            if data.get(name):
                generations = generations.filter(**{name: data[name]})
        if data.get("author"):
            generations = generations.filter(owner=data["author"])
        if data.get("q"):
            generations = generations.filter(prompt__icontains=data["q"])
        zone = timezone.get_current_timezone()
        if data.get("date_from"):
            start = datetime.combine(data["date_from"], time.min, tzinfo=zone)
            generations = generations.filter(created_at__gte=start)
        if data.get("date_to"):
            end = datetime.combine(data["date_to"], time.max, tzinfo=zone)
            generations = generations.filter(created_at__lte=end)
        return generations
