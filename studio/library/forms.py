"""Library forms: a prompt and its next version, the library filters, presets, imports, and
the generate form that knows a prompt template is not one video."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, F, OuterRef, QuerySet
from django.db.models.expressions import OrderBy

from studio.filters import narrowed
from studio.generations.forms import (
    ALL_DURATIONS,
    ALL_MODELS,
    CAMERA_MOVES,
    CameraAxesForm,
    GenerateForm,
    cfg_scale_field,
    negative_prompt_field,
)
from studio.generations.pipeline import request_shape
from studio.kling.capabilities import (
    ASPECT_RATIOS,
    MODES,
)
from studio.library import text as prompt_text
from studio.library.models import Prompt, PromptVersion, Tag, Visibility, seen_by
from studio.library.presets import form_fields, preset_problems
from studio.library.text import variables
from studio.widgets import Options, quick_selects

NOT_SET = ("", "Not set")


def one_line_breaks(value: str) -> str:
    """Browsers send textarea line breaks as CRLF; the studio counts and stores LF."""
    return value.replace("\r\n", "\n")


class FilledGenerateForm(GenerateForm):
    """The generate form for one video: a prompt with a `{variable}` still in it is a
    template, which runs as a batch (batches.py) once its values are given. The studio
    form and every job of a batch are checked with it."""

    def clean(self) -> dict:
        # Before the capability check: its message for the prompt is then not added too.
        names = variables(self.cleaned_data.get("prompt", ""))
        if names:
            self.add_error(
                "prompt",
                f"The prompt has {{{names[0]}}} to fill in: give its values under "
                "Variations and press Generate batch.",
            )
        return super().clean()


class PromptForm(forms.Form):
    """A new prompt, or the next version of one: changing the text, negative prompt or
    notes adds a version; title, tags and visibility are the prompt's own."""

    title = forms.CharField(max_length=200)
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        strip=False,
        help_text="Put {variables} in braces to run the prompt as a template.",
    )
    negative_prompt = negative_prompt_field()
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    tags = forms.CharField(required=False, help_text="Comma separated, e.g. fox, winter, night.")
    visibility = forms.ChoiceField(choices=Visibility.choices, initial=Visibility.PRIVATE)

    @classmethod
    def for_prompt(cls, prompt: Prompt, version: PromptVersion | None) -> PromptForm:
        initial = {
            "title": prompt.title,
            "tags": ", ".join(tag.name for tag in prompt.tags.all()),
            "visibility": prompt.visibility,
        }
        if version is not None:
            initial.update(
                text=version.text, negative_prompt=version.negative_prompt, notes=version.notes
            )
        return cls(initial=initial)

    def clean_text(self) -> str:
        text = one_line_breaks(self.cleaned_data["text"])
        if not text.strip():
            raise forms.ValidationError("Write the prompt's text.")
        limit = settings.PROMPT_LIMITS["prompt"]
        if len(text) > limit:
            raise forms.ValidationError(
                f"The text is {len(text)} characters; the limit is {limit}."
            )
        if problem := prompt_text.too_many_variables(text):
            raise forms.ValidationError(problem)
        return text

    def clean_negative_prompt(self) -> str:
        negative = one_line_breaks(self.cleaned_data["negative_prompt"])
        limit = settings.PROMPT_LIMITS["negative_prompt"]
        if len(negative) > limit:
            raise forms.ValidationError(
                f"The negative prompt is {len(negative)} characters; the limit is {limit}."
            )
        return negative

    def clean_notes(self) -> str:
        return one_line_breaks(self.cleaned_data["notes"])

    def clean_tags(self) -> list[str]:
        return Tag.parse(self.cleaned_data["tags"])

    def create(self, owner) -> Prompt:
        data = self.cleaned_data
        prompt = Prompt.objects.create(
            owner=owner, title=data["title"], visibility=data["visibility"]
        )
        prompt.set_tags(data["tags"])
        prompt.add_version(
            text=data["text"],
            negative_prompt=data["negative_prompt"],
            notes=data["notes"],
            author=owner,
        )
        return prompt

    def update(self, prompt: Prompt, author) -> PromptVersion | None:
        """Save the prompt's own fields; a new version if the text, negative or notes changed."""
        data = self.cleaned_data
        prompt.title = data["title"]
        prompt.visibility = data["visibility"]
        prompt.save(update_fields=["title", "visibility"])
        prompt.set_tags(data["tags"])
        version = prompt.add_version(
            text=data["text"],
            negative_prompt=data["negative_prompt"],
            notes=data["notes"],
            author=author,
        )
        if version is None:
            prompt.touch()
        return version


SORTS = {
    "recent": "Recently used",
    "success": "Success rate",
    "updated": "Recently edited",
    "title": "Title",
}


@quick_selects
class LibraryFilterForm(forms.Form):
    """Search and filters for the library page; all optional, all in the query string."""

    q = forms.CharField(label="Search", required=False)
    tag = forms.ChoiceField(required=False)
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, empty_label="Anyone"
    )
    visibility = forms.ChoiceField(
        choices=[("", "Private and team"), *Visibility.choices], required=False
    )
    starred = forms.BooleanField(label="Starred by me", required=False)
    archived = forms.BooleanField(label="Archived only", required=False)
    sort = forms.ChoiceField(label="Sort by", choices=list(SORTS.items()), required=False)
    # The fields that narrow the list by a plain lookup (studio/filters.py), in order.
    LOOKUPS = {"tag": "tags__name", "owner": "owner", "visibility": "visibility"}

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        visible = Prompt.objects.visible_to(user)
        # Per tag and per person: is there one visible prompt? (A few index lookups each,
        # not a join of every visible prompt's tags made distinct.)
        links = Prompt.tags.through.objects.filter(tag=OuterRef("pk"))
        shown = links.filter(seen_by(user, "prompt__")) if user.is_authenticated else links.none()
        # Names, not Tag rows: a model instance per option cost more than the option.
        names = Tag.objects.filter(Exists(shown)).values_list("name", flat=True)
        self.fields["tag"].choices = Options([("", "Any tag"), *((name, name) for name in names)])
        self.fields["owner"].queryset = (
            get_user_model()
            .objects.filter(Exists(visible.filter(owner=OuterRef("pk"))))
            .order_by("username")
        )

    def filter(self, prompts: QuerySet[Prompt], user) -> QuerySet[Prompt]:
        data = self.cleaned_data if self.is_valid() else {}
        prompts = prompts.filter(archived_at__isnull=not data.get("archived"))
        if data.get("q"):
            prompts = prompts.search(data["q"])
        prompts = narrowed(prompts, data, self.LOOKUPS)
        if data.get("starred"):
            prompts = prompts.filter(stars__user=user)
        order = {
            "recent": ["-last_used", "-updated_at"],
            "success": ["-success_rate", "-runs", "-updated_at"],
            "updated": ["-updated_at"],
            "title": ["title"],
        }[data.get("sort") or "recent"]
        return prompts.order_by(*(nulls_last(f) for f in order), "-pk")


def nulls_last(field: str) -> OrderBy:
    """Never-used prompts sort after used ones on every database (SQLite and PostgreSQL
    disagree about where NULL goes)."""
    if field.startswith("-"):
        return F(field[1:]).desc(nulls_last=True)
    return F(field).asc(nulls_last=True)


# ---------------------------------------------------------------------------- presets

CAMERA_CHOICES = [NOT_SET, ("none", "None: the model picks the camera motion"), *CAMERA_MOVES]


class PresetForm(CameraAxesForm):
    """A preset holds only the parameters set here; "Not set" leaves a value to the form
    (or to an earlier preset in a stack)."""

    name = forms.CharField(max_length=80)
    visibility = forms.ChoiceField(choices=Visibility.choices, initial=Visibility.PRIVATE)
    model_name = forms.ChoiceField(
        label="Model",
        choices=[NOT_SET, *ALL_MODELS.items()],  # the text and the image-to-video models
        required=False,
    )
    mode = forms.ChoiceField(choices=[NOT_SET, *((m, m) for m in MODES)], required=False)
    duration = forms.ChoiceField(
        choices=[NOT_SET, *((d, f"{d} s") for d in ALL_DURATIONS)], required=False
    )
    aspect_ratio = forms.ChoiceField(
        label="Aspect ratio", choices=[NOT_SET, *((r, r) for r in ASPECT_RATIOS)], required=False
    )
    cfg_scale = cfg_scale_field("Empty: not set.")
    sound = forms.ChoiceField(
        choices=[NOT_SET, ("off", "off: silent"), ("on", "on: with audio")], required=False
    )
    camera_type = forms.ChoiceField(label="Camera control", choices=CAMERA_CHOICES, required=False)
    negative_prompt = negative_prompt_field(help_text="Empty: not set.")

    # problems() keys -> the field the message is shown next to.
    FIELDS = {"camera_control": "camera_type", "": None, "prompt": None}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        durations = request_shape().every_duration()  # offer only what a submit takes
        self.fields["duration"].widget.choices = [NOT_SET, *((d, f"{d} s") for d in durations)]

    @classmethod
    def for_params(cls, name: str, visibility: str, params: dict) -> PresetForm:
        initial = {"name": name, "visibility": visibility, **form_fields(params)}
        if "camera_control" in params and not params["camera_control"]:
            initial["camera_type"] = "none"
        return cls(initial=initial)

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        for key, message in preset_problems(self.params()).items():
            field = self.FIELDS.get(key, key)
            self.add_error(field, message)
        return cleaned

    def params(self) -> dict:
        """Only the parameters that are set, in request-body names and types."""
        data = self.cleaned_data
        params: dict = {}
        for key in ("model_name", "mode", "duration", "aspect_ratio", "sound"):
            if data.get(key):
                params[key] = data[key]
        if data.get("cfg_scale") is not None:
            params["cfg_scale"] = data["cfg_scale"]
        if data.get("camera_type") == "none":  # set to no camera move, unlike "Not set"
            params["camera_control"] = None
        elif data.get("camera_type"):
            params["camera_control"] = self.camera_control()
        negative = one_line_breaks(data.get("negative_prompt") or "")
        if negative:
            params["negative_prompt"] = negative
        return params


# ---------------------------------------------------------------------------- import


class ImportForm(forms.Form):
    file = forms.FileField(label="JSON file")

    MAX_BYTES = 5 * 1024 * 1024

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError("The file is over 5 MB; a library export is far smaller.")
        return upload
