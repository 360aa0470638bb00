"""The studio's generate form (every text2video and image2video parameter) and the history
filter form."""

from __future__ import annotations

import uuid
from datetime import datetime, time

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from studio.accounts.roles import REVIEW, SEE_ALL
from studio.filters import narrowed
from studio.generations import pictures
from studio.generations.models import ARCHIVED, SHOWN, Generation, InputImage, Kind, Status
from studio.generations.pipeline import request_shape
from studio.ids import IdField
from studio.kling.capabilities import (
    ASPECT_RATIOS,
    CAMERA_AXES,
    CAMERA_AXIS_RANGE,
    CAMERA_PRESETS,
    DEFAULT_CFG_SCALE,
    DEFAULT_IMAGE_MODEL,
    DEFAULT_MODEL,
    IMAGE_MODELS,
    MODELS,
    MODES,
    image_problems,
    problems,
)
from studio.kling.images import ImageRefused
from studio.widgets import quick_selects

CAMERA_MOVES = [
    *((preset, preset.replace("_", " ").capitalize()) for preset in CAMERA_PRESETS),
    ("simple", "Simple: one axis"),
]
CAMERA_CHOICES = [("", "None: the model picks the camera motion"), *CAMERA_MOVES]
# Every duration Kling takes: for history filters and field checks; the selects offer
# request_shape()'s.
ALL_DURATIONS = sorted({d for spec in IMAGE_MODELS.values() for d in spec.durations}, key=int)
# Every model of either table, in the image table's order (the text models and two more).
ALL_MODELS = {
    **{n: s.label for n, s in IMAGE_MODELS.items()},
    **{n: s.label for n, s in MODELS.items()},
}
PICTURE_ACCEPT = "image/jpeg,image/png"
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


def negative_prompt_field(label: str = "Negative prompt", help_text: str = "") -> forms.CharField:
    """A negative prompt: optional, and kept as typed (not stripped), as the prompt is."""
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2}),
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

    kind = forms.ChoiceField(
        label="Make a video from",
        choices=[(Kind.TEXT, "Text"), (Kind.IMAGE, "An image")],
        initial=Kind.TEXT,
        required=False,
        widget=forms.RadioSelect,
    )
    model_name = forms.ChoiceField(label="Model", choices=list(ALL_MODELS.items()))
    # Required for text (capabilities.problems says so), optional from an image.
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), strip=False, required=False)
    # docs/upstream.md §15.1: checked and re-encoded (studio/kling/images.py) and kept in
    # our storage as an InputImage; the hidden ids carry it across a refused form.
    image = forms.FileField(
        label="Start image",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": PICTURE_ACCEPT}),
        help_text="JPEG or PNG, at most 10 MB, each side at least 300 px, "
        "between 1:2.5 and 2.5:1. The video takes its shape.",
    )
    image_tail = forms.FileField(
        label="End image",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": PICTURE_ACCEPT}),
        help_text="Optional: the frame the video ends on (pro mode on most models).",
    )
    image_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    image_tail_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    drop_image_tail = forms.BooleanField(label="No end image", required=False)
    # Not "Negative prompt": a label containing "Prompt" would make the prompt's own label
    # ambiguous to assistive technology and to tests that find fields by label.
    negative_prompt = negative_prompt_field(
        "Avoid", "The negative prompt: what the video should not show."
    )
    mode = forms.ChoiceField(
        choices=[(m, {"std": "std (faster)", "pro": "pro (higher quality)"}[m]) for m in MODES],
        required=False,
    )
    duration = forms.ChoiceField(
        label="Duration", choices=[(d, f"{d} s") for d in ALL_DURATIONS], initial="5"
    )
    # Not required: image to video has none (the page disables it there); text to video
    # without one is sent with Kling's default, 16:9 (capabilities.build_body).
    aspect_ratio = forms.ChoiceField(
        label="Aspect ratio",
        choices=[(r, r) for r in ASPECT_RATIOS],
        initial="16:9",
        required=False,
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

    def __init__(self, *args, owner=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner  # whose pictures may be used (InputImage.usable_by)
        self.pictures: dict[str, InputImage | None] = {}
        # A new id per render: a double click posts the same id twice, one row results.
        self.initial.setdefault("client_request_id", uuid.uuid4())
        image_kind = (self.data.get("kind") or self.initial.get("kind")) == Kind.IMAGE
        default = DEFAULT_IMAGE_MODEL if image_kind else DEFAULT_MODEL
        self.initial.setdefault("model_name", default)
        table = IMAGE_MODELS if image_kind else MODELS
        spec = table.get(self.data.get("model_name") or self.initial["model_name"])
        if spec is not None:
            # Without JavaScript the list still fits the model the page was drawn for (the
            # field takes any duration: capabilities.problems says what is wrong with one).
            durations = request_shape().durations(spec)
            self.fields["duration"].widget.choices = [(d, f"{d} s") for d in durations]
            if spec.cfg_scale:
                self.initial.setdefault("cfg_scale", DEFAULT_CFG_SCALE)

    @classmethod
    def from_params(cls, params: dict, owner=None) -> GenerateForm:
        """An unbound form prefilled from request-body params (remix); an image2video
        job's pictures by their InputImage ids."""
        initial = {key: params.get(key) for key in ("model_name", "prompt", "negative_prompt")}
        if params.get("kind") == Kind.IMAGE:
            initial.update(kind=Kind.IMAGE, image_id=params.get("image"))
            initial["image_tail_id"] = params.get("image_tail")
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
        return cls(initial=initial, owner=owner)

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
        if self.from_image:
            self._clean_pictures()
            found = image_problems(self._image_params(references=True), request_shape())
        else:
            found = problems(self._params(), request_shape())
            if cleaned["model_name"] not in MODELS:
                found["model_name"] = (
                    f"{IMAGE_MODELS[cleaned['model_name']].label} makes videos from images "
                    "only: choose “An image” above, or another model."
                )
        for key, message in found.items():
            field = PROBLEM_FIELDS.get(key, key)
            if field is not None and field not in self.fields:
                field = None
            if field is None or field not in self.errors:  # one message per field
                self.add_error(field, message)
        return cleaned

    @property
    def from_image(self) -> bool:
        source = self.cleaned_data if hasattr(self, "cleaned_data") else self.initial
        return source.get("kind") == Kind.IMAGE

    def _clean_pictures(self) -> None:
        """Each picture: a new upload (checked, re-encoded and saved), else the one the
        hidden id keeps. A refused upload is a field error; the kept one stays. A form with
        no owner (a batch's job, library/batches.py) takes no pictures."""
        if self.owner is None:
            self.add_error("image", "Image-to-video jobs run one at a time, not as a batch.")
            return
        for name in ("image", "image_tail"):
            upload = self.cleaned_data.get(name)
            kept = self.cleaned_data.get(f"{name}_id")
            if name == "image_tail" and self.cleaned_data.get("drop_image_tail"):
                upload = kept = None
            if upload:
                try:
                    self.pictures[name] = pictures.from_upload(self.owner, upload)
                except ImageRefused as refused:
                    self.add_error(name, str(refused))
                    kept = None
                else:
                    continue
            if kept:
                found = InputImage.objects.usable_by(self.owner).filter(pk=kept).first()
                if found is None:
                    self.add_error(name, "That picture is gone; choose it again.")
                self.pictures[name] = found

    @property
    def picture_fields(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        return [(name, self[name], self[f"{name}_id"]) for name in ("image", "image_tail")]

    def picture(self, name: str) -> InputImage | None:
        """The picture the form shows and keeps for `name` ("image" or "image_tail")."""
        if name in self.pictures:
            return self.pictures[name]
        pk = self[f"{name}_id"].value()
        if not pk or self.owner is None:
            return None
        try:
            return InputImage.objects.usable_by(self.owner).filter(pk=pk).first()
        except ValueError:  # not a UUID
            return None

    def kept(self) -> dict:
        """The values to open the next form with: what was sent, the pictures by id."""
        kept = {k: v for k, v in self.cleaned_data.items() if k != "client_request_id"}
        for name in ("image", "image_tail"):
            picture = self.pictures.get(name)
            kept.pop(name, None)
            kept[f"{name}_id"] = picture.pk if picture else None
        return kept

    def params(self) -> dict:
        """The request-body shaped parameters for pipeline.create_generation."""
        if self.from_image:
            return self._image_params()
        return self._params()

    def _image_params(self, references: bool = False) -> dict:
        data = self.cleaned_data
        spec = IMAGE_MODELS[data["model_name"]]
        params: dict = {
            "kind": Kind.IMAGE.value,
            "model_name": spec.name,
            "prompt": data.get("prompt", ""),
            "negative_prompt": data.get("negative_prompt", ""),
            "mode": (data.get("mode") or "std") if spec.modes else None,
            "duration": data.get("duration"),
            "cfg_scale": data.get("cfg_scale"),
        }
        for name in ("image", "image_tail"):
            picture = self.pictures.get(name)
            params[name] = (picture.reference if references else picture) if picture else None
        if references:
            del params["kind"]
        return params

    def _params(self) -> dict:
        data = self.cleaned_data
        spec = MODELS.get(data["model_name"]) or IMAGE_MODELS[data["model_name"]]
        return {
            "model_name": spec.name,
            "prompt": data.get("prompt", ""),
            "negative_prompt": data.get("negative_prompt", ""),
            # A model without a std/pro split takes no mode; the select cannot be emptied.
            "mode": (data.get("mode") or "std") if spec.modes else None,
            "duration": data.get("duration"),
            "aspect_ratio": data.get("aspect_ratio") or "16:9",
            "cfg_scale": data.get("cfg_scale"),
            "camera_control": self.camera_control(),
            "sound": data.get("sound") or None,
        }


@quick_selects
class HistoryFilterForm(forms.Form):
    """History filters; every field optional, all of them kept in the query string."""

    # After the Archived choice, the fields that narrow history by a plain lookup
    # (studio/filters.py), in order: the generation's own columns by their names, then the
    # author and the prompt's text; the dates follow.
    COLUMNS = ("kind", "status", "model_name", "mode", "duration", "aspect_ratio")
    LOOKUPS = {**{name: name for name in COLUMNS}, "author": "owner", "q": "prompt__icontains"}

    q = forms.CharField(label="Prompt contains", required=False)
    kind = forms.ChoiceField(
        label="Made from",
        choices=[("", "Text or image"), (Kind.TEXT, "Text"), (Kind.IMAGE, "An image")],
        required=False,
    )
    status = forms.ChoiceField(choices=[("", "Any status"), *Status.choices], required=False)
    model_name = forms.ChoiceField(
        label="Model",
        choices=[("", "Any model"), *ALL_MODELS.items()],
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
    archived = forms.ChoiceField(
        label="Archived",
        choices=[("", "Hide archived"), ("only", "Archived only"), ("all", "Archived too")],
        required=False,
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if user.has_perm(SEE_ALL) or user.has_perm(REVIEW):
            # Admins and reviewers see others' work, so they may narrow it to one author.
            # One index lookup per person, not a read of every generation.
            made = Generation.objects.filter(owner=OuterRef("pk"))
            self.fields["author"].queryset = get_user_model().objects.filter(Exists(made))
        else:
            del self.fields["author"]

    def filter(self, generations: QuerySet[Generation]) -> QuerySet[Generation]:
        if not self.is_valid():
            return generations.filter(SHOWN)  # archived stay hidden whatever else is wrong
        data = self.cleaned_data
        if data.get("archived") != "all":
            generations = generations.filter(ARCHIVED if data.get("archived") else SHOWN)
        generations = narrowed(generations, data, self.LOOKUPS)
        zone = timezone.get_current_timezone()
        if data.get("date_from"):
            start = datetime.combine(data["date_from"], time.min, tzinfo=zone)
            generations = generations.filter(created_at__gte=start)
        if data.get("date_to"):
            end = datetime.combine(data["date_to"], time.max, tzinfo=zone)
            generations = generations.filter(created_at__lte=end)
        return generations
