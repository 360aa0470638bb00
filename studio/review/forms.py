"""The reviewer's decision form, the team gallery's filters and the spend page's month."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from studio.filters import narrowed
from studio.generations.models import Generation
from studio.kling.capabilities import MODELS
from studio.review import threads
from studio.review.models import Comment, Review, Verdict
from studio.widgets import Options, quick_selects


def seconds_field(
    label: str, help_text: str = "", step: str = "0.001", bounded: bool = True
) -> forms.FloatField:
    """A moment in the video, in seconds, optional; threads.check_range holds it to the
    video. `bounded`: also refused outside 0 to 3600 by the field itself."""
    return forms.FloatField(
        label=label,
        required=False,
        widget=forms.NumberInput(attrs={"step": step, "min": "0"}),
        help_text=help_text,
        min_value=0 if bounded else None,
        max_value=3600 if bounded else None,
    )


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
    at_seconds = seconds_field(
        "At (seconds into the video)", "Optional: pin the comment to a moment.", step="0.1"
    )
    end_seconds = seconds_field(
        "Out (seconds, for a range)", "Optional: the end of the range the comment is about."
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
        at, end = cleaned.get("at_seconds"), cleaned.get("end_seconds")
        if end is not None and at is None:
            self.add_error("end_seconds", "Give the in point too (At), or leave Out empty.")
        elif at is not None:
            errors, cleaned["at_seconds"], cleaned["end_seconds"] = threads.check_range(
                at, end, self.generation
            )
            for name, message in errors.items():
                self.add_error("at_seconds" if name == "start_seconds" else name, message)
        return cleaned


def team_tags() -> list[str]:
    """The tags of the library prompts with a video the team may see (approved), so no
    tag of a private prompt that made nothing the gallery shows. Read from the prompts'
    own count of such videos (Prompt.team_videos, kept by library's counters): a few
    index lookups per such prompt, not a read of every approved video. review does not
    import library (docs/architecture.md): the models are reached through Generation's
    relations."""
    version = Generation._meta.get_field("prompt_version").related_model
    tag = version._meta.get_field("prompt").related_model._meta.get_field("tags").related_model
    names = tag.objects.filter(prompts__team_videos__gt=0).values_list("name", flat=True)
    return list(names.distinct().order_by("name"))


@quick_selects
class GalleryFilterForm(forms.Form):
    q = forms.CharField(label="Prompt contains", required=False)
    tag = forms.ChoiceField(label="Tag", required=False)
    model_name = forms.ChoiceField(
        label="Model",
        choices=[("", "Any model"), *((n, s.label) for n, s in MODELS.items())],
        required=False,
    )
    # The fields that narrow the gallery by a plain lookup (studio/filters.py); then the tag.
    LOOKUPS = {"q": "prompt__icontains", "model_name": "model_name"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tag"].choices = Options([("", "Any tag"), *((n, n) for n in team_tags())])

    def filter(self, generations: QuerySet[Generation]) -> QuerySet[Generation]:
        if not self.is_valid():
            return generations
        data = self.cleaned_data
        generations = narrowed(generations, data, self.LOOKUPS)
        if data.get("tag"):
            # Tags live on the library prompt a generation's text was taken from.
            generations = generations.filter(
                prompt_version__prompt__tags__name=data["tag"]
            ).distinct()
        return generations


FIRST_MONTH, LAST_MONTH = date(1, 2, 1), date(9999, 11, 1)


class MonthForm(forms.Form):
    month = forms.CharField(required=False)

    def first_day(self, today: date) -> date:
        """The month asked for as ?month=YYYY-MM, else this one. The page links the months
        before and after it, so both must be dates too (0001-01 and 9999-12 were a 500)."""
        raw = self.data.get("month", "") if self.is_bound else ""
        try:
            year, month = (int(part) for part in raw.split("-"))
            first = date(year, month, 1)
        except ValueError:
            return today.replace(day=1)
        return first if FIRST_MONTH <= first <= LAST_MONTH else today.replace(day=1)


class CommentForm(forms.Form):
    """A new thread pinned to a moment or a range (with an optional drawing), or a reply
    (`parent`) to a thread of the same video. Guests give a name."""

    body = forms.CharField(
        label="Comment",
        max_length=threads.COMMENT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": threads.COMMENT_MAX_CHARS}),
        error_messages={"required": "Write the comment."},
    )
    start_seconds = seconds_field("In (seconds)", bounded=False)
    end_seconds = seconds_field(
        "Out (seconds)", "Optional: leave empty for a single moment.", bounded=False
    )
    drawing = forms.CharField(required=False, widget=forms.HiddenInput)
    parent = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, generation: Generation, guest: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.generation = generation
        if guest:
            self.fields["name"] = forms.CharField(
                label="Your name",
                max_length=threads.GUEST_NAME_MAX_CHARS,
                error_messages={
                    "required": "Give your name: the team sees it beside your comment."
                },
            )

    def clean_parent(self) -> Comment | None:
        pk = self.cleaned_data.get("parent")
        if pk is None:
            return None
        parent = Comment.objects.threads().filter(pk=pk, generation=self.generation).first()
        if parent is None:
            raise forms.ValidationError("That thread is not on this video.")
        return parent

    def clean_drawing(self) -> list[dict] | None:
        try:
            return threads.parse_drawing(self.cleaned_data.get("drawing", ""))
        except ValueError as why:
            raise forms.ValidationError(threads.BAD_DRAWING.format(why=why)) from None

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("parent") is not None or "parent" in self.errors:
            return cleaned
        start, end = cleaned.get("start_seconds"), cleaned.get("end_seconds")
        if start is None and "start_seconds" not in self.errors:
            self.add_error("start_seconds", "Pick the moment the comment is about.")
            return cleaned
        errors, cleaned["start_seconds"], cleaned["end_seconds"] = threads.check_range(
            start, end, self.generation
        )
        for name, message in errors.items():
            self.add_error(name, message)
        return cleaned


class EditCommentForm(forms.Form):
    body = forms.CharField(
        label="Comment",
        max_length=threads.COMMENT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Write the comment."},
    )


class ShareForm(forms.Form):
    """A share link's terms: how long it lasts, an optional password, and whether guests
    may comment."""

    days = forms.IntegerField(
        label="Expires after (days)",
        initial=7,
        min_value=1,
        widget=forms.NumberInput(attrs={"min": 1}),
    )
    password = forms.CharField(
        label="Password (optional)",
        required=False,
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "new-password"}),
        help_text="Guests must type it before they see anything. Send it separately.",
    )
    can_comment = forms.BooleanField(
        label="Guests may comment (they give a name)",
        required=False,
        help_text="Otherwise the link is view-only.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        most = settings.STUDIO_SHARE_MAX_DAYS
        self.fields["days"].max_value = most
        self.fields["days"].validators.append(MaxValueValidator(most))
        self.fields["days"].widget.attrs["max"] = most
        self.fields["days"].help_text = f"1 to {most} days."

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if password and len(password) < 8:
            raise forms.ValidationError("Use at least 8 characters, or no password.")
        return password


class SharePasswordForm(forms.Form):
    password = forms.CharField(
        label="Password", max_length=128, strip=False, widget=forms.PasswordInput
    )


WAITING_CHOICES = [
    ("", "Any time"),
    ("1", "Over an hour"),
    ("24", "Over a day"),
    ("72", "Over 3 days"),
]
BULK_MAX = 100


@quick_selects
class QueueFilterForm(forms.Form):
    """The review queue's filters: who made it, its prompt, model, batch, how long it waits."""

    owner = forms.ChoiceField(label="Creator", required=False)
    q = forms.CharField(label="Prompt contains", required=False, max_length=200)
    model_name = forms.ChoiceField(
        label="Model",
        choices=[("", "Any model"), *((n, s.label) for n, s in MODELS.items())],
        required=False,
    )
    batch = forms.ChoiceField(label="Batch", required=False)
    waiting = forms.ChoiceField(label="Waiting", choices=WAITING_CHOICES, required=False)
    # The fields that narrow the queue by a plain lookup (studio/filters.py), in order.
    LOOKUPS = {
        "owner": "owner_id",
        "q": "prompt__icontains",
        "model_name": "model_name",
        "batch": "batch_id",
    }

    def __init__(self, *args, waiting: QuerySet[Generation], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # One EXISTS per person and per (latest) batch, not a read of every waiting row:
        # the queue may hold tens of thousands. Batches are reached through the relation
        # on Generation (review does not import library, docs/architecture.md).
        owners = get_user_model().objects.filter(Exists(waiting.filter(owner=OuterRef("pk"))))
        self.fields["owner"].choices = [
            ("", "Anyone"),
            *owners.order_by("username").values_list("pk", "username"),
        ]
        batch_model = Generation._meta.get_field("batch").related_model
        batches = (
            batch_model.objects.filter(Exists(waiting.filter(batch=OuterRef("pk"))))
            .order_by("-created_at")
            .values_list("pk", "template")[:50]
        )
        self.fields["batch"].choices = [
            ("", "Any batch"),
            *((str(pk), f"{template[:50]} ({str(pk)[:8]})") for pk, template in batches),
        ]

    def filter(self, generations: QuerySet[Generation]) -> QuerySet[Generation]:
        if not self.is_valid():
            return generations
        data = self.cleaned_data
        generations = narrowed(generations, data, self.LOOKUPS)
        if data.get("waiting"):
            before = timezone.now() - timedelta(hours=int(data["waiting"]))
            generations = generations.filter(finished_at__lte=before)
        return generations


class BulkReviewForm(forms.Form):
    """One verdict for the ticked videos of the queue: approve, or reject with a reason."""

    ids = forms.ModelMultipleChoiceField(
        queryset=Generation.objects.none(),
        error_messages={
            "required": "Tick the videos to decide on.",
            "invalid_choice": "One of the ticked videos is no longer waiting; reload the queue.",
            "invalid_pk_value": "One of the ticked videos is not a video id.",
        },
    )
    verdict = forms.ChoiceField(
        choices=[(Verdict.APPROVED, "Approve"), (Verdict.REJECTED, "Reject")],
        error_messages={"required": "Choose approve or reject."},
    )
    comment = forms.CharField(required=False, max_length=2000, label="Reason (for a rejection)")

    def __init__(self, *args, waiting: QuerySet[Generation] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if waiting is not None:
            self.fields["ids"].queryset = waiting

    def clean_ids(self):
        ids = self.cleaned_data["ids"]
        if len(ids) > BULK_MAX:
            raise forms.ValidationError(f"Decide on at most {BULK_MAX} videos at once.")
        return ids

    def clean(self) -> dict:
        cleaned = super().clean()
        rejecting = cleaned.get("verdict") == Verdict.REJECTED
        if rejecting and not cleaned.get("comment", "").strip():
            self.add_error("comment", "Say why they are rejected.")
        return cleaned
