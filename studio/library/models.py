"""The team prompt library: prompts and their immutable versions, tags, stars, parameter
presets (with a user's default), and the batches a template runs as."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from studio.accounts.roles import SEE_ALL
from studio.generations.models import Generation
from studio.library import text as prompt_text
from studio.library.presets import describe_params, preset_problems

MAX_TAGS = 20


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private: only me"
    TEAM = "team", "Team: everyone signed in"


def visibility_field() -> models.CharField:
    """Who may see a prompt or preset besides its owner (SharedQuerySet.visible_to reads
    it): private unless its owner shares it with the team; indexed for the list pages."""
    return models.CharField(
        max_length=8, choices=Visibility, default=Visibility.PRIVATE, db_index=True
    )


def seen_by(user, path: str = "") -> Q:
    """SharedQuerySet.visible_to's rule for a signed-in user, for the row at `path`
    ("prompt__" from a prompt's tag link)."""
    return Q(**{f"{path}owner": user}) | ~Q(**{f"{path}visibility": Visibility.PRIVATE})


class SharedQuerySet(models.QuerySet):
    """Access control for what a user owns and may share with the team."""

    def visible_to(self, user) -> SharedQuerySet:
        """Private rows to their owner only; team rows to everyone signed in. Written as
        "not private", which no index answers, so a sorted page is read along its sort's
        index and stops after a page (two index lookups OR-ed together read every visible
        row, then sort them all)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(seen_by(user))

    def owned_by(self, user) -> SharedQuerySet:
        """What `user` may change: only their own rows."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner=user)


# ---------------------------------------------------------------------------- tags


class Tag(models.Model):
    name = models.CharField(max_length=40, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def parse(raw: str | list[str]) -> list[str]:
        """Tag names from "fox, Winter,  night" (or a list): trimmed, lower case, no repeats."""
        items = raw if isinstance(raw, list) else str(raw or "").split(",")
        names = [" ".join(str(item).split()).lower()[:40] for item in items]
        return list(dict.fromkeys(name for name in names if name))[:MAX_TAGS]

    @classmethod
    def get_many(cls, names: list[str]) -> list[Tag]:
        existing = {tag.name: tag for tag in cls.objects.filter(name__in=names)}
        for name in names:
            if name not in existing:
                existing[name], _ = cls.objects.get_or_create(name=name)
        return [existing[name] for name in names]


# ---------------------------------------------------------------------------- prompts


def generations_of_prompt(prompt_ref) -> models.QuerySet[Generation]:
    return Generation.objects.filter(prompt_version__prompt=prompt_ref)


class PromptQuerySet(SharedQuerySet):
    def search(self, query: str) -> PromptQuerySet:
        """Title, any version's text or negative prompt, or a tag contains `query`."""
        in_text = PromptVersion.objects.filter(prompt=OuterRef("pk")).filter(
            Q(text__icontains=query) | Q(negative_prompt__icontains=query)
        )
        in_tags = Tag.objects.filter(prompts=OuterRef("pk"), name__icontains=query)
        return self.filter(Q(title__icontains=query) | Exists(in_text) | Exists(in_tags))

    def with_numbers(self, user) -> PromptQuerySet:
        """Each prompt with its latest version's text and its stars, as subqueries: one
        query whatever the number of prompts (no N+1). Runs, success rate and last use
        are the prompt's own counters (library/counters.py)."""
        latest = PromptVersion.objects.filter(prompt=OuterRef("pk")).order_by("-number")
        stars = Star.objects.filter(prompt=OuterRef("pk")).order_by().values("prompt")
        return self.annotate(
            latest_id=Subquery(latest.values("pk")[:1]),
            latest_number=Subquery(latest.values("number")[:1]),
            latest_text=Subquery(latest.values("text")[:1]),
            star_count=Coalesce(Subquery(stars.annotate(n=Count("pk")).values("n")), 0),
            starred=Exists(Star.objects.filter(prompt=OuterRef("pk"), user=user)),
        )


class Prompt(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prompts"
    )
    title = models.CharField(max_length=200)
    visibility = visibility_field()
    tags = models.ManyToManyField(Tag, blank=True, related_name="prompts")
    forked_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forks"
    )
    forked_from_version = models.ForeignKey(
        "PromptVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Archived instead of deleted once a generation refers to one of its versions.
    archived_at = models.DateTimeField(null=True, blank=True)
    # What its versions' generations add up to, kept in the transaction of each change
    # (library/counters.py), so the library sorts by an index, not by an aggregate over
    # the history: runs, finished and succeeded ones, the newest run, the videos the team
    # may see (the gallery's tags); success_rate is succeeded / finished (None before one).
    runs = models.PositiveIntegerField(default=0)
    finished = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    success_rate = models.FloatField(null=True, blank=True)
    last_used = models.DateTimeField(null=True, blank=True)
    team_videos = models.PositiveIntegerField(default=0)

    objects = PromptQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-pk"]
        # The library's sorts (LibraryFilterForm.filter), never-used prompts last, have
        # their indexes in migration 0002: NULLS LAST is PostgreSQL's only.
        indexes = [
            models.Index(
                fields=["team_videos"],
                condition=Q(team_videos__gt=0),
                name="prompt_team_videos",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("prompt-detail", args=[self.pk])

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    def latest_version(self) -> PromptVersion | None:
        return self.versions.order_by("-number").first()

    def add_version(
        self, *, text: str, negative_prompt: str = "", notes: str = "", author=None
    ) -> PromptVersion | None:
        """A new version when the text, negative prompt or notes changed; None otherwise.
        Versions are never edited: each change is a new, numbered row."""
        latest = self.latest_version()
        if latest and (latest.text, latest.negative_prompt, latest.notes) == (
            text,
            negative_prompt,
            notes,
        ):
            return None
        for _ in range(3):  # two editors saving at once: the unique number decides
            number = (latest.number if latest else 0) + 1
            try:
                with transaction.atomic():
                    version = PromptVersion.objects.create(
                        prompt=self,
                        number=number,
                        text=text,
                        negative_prompt=negative_prompt,
                        notes=notes,
                        author=author,
                    )
            except IntegrityError:
                latest = self.latest_version()
                continue
            self.touch()
            return version
        raise IntegrityError("Could not number the new version; try again.")

    def touch(self) -> None:
        self.updated_at = timezone.now()
        Prompt.objects.filter(pk=self.pk).update(updated_at=self.updated_at)

    def set_tags(self, names: list[str]) -> None:
        self.tags.set(Tag.get_many(Tag.parse(names)))

    @transaction.atomic
    def fork(self, user) -> Prompt:
        """A private copy owned by `user`, linked to this prompt and its latest version."""
        source = self.latest_version()
        copy = Prompt.objects.create(
            owner=user,
            title=f"{self.title} (fork)"[:200],
            forked_from=self,
            forked_from_version=source,
        )
        copy.tags.set(self.tags.all())
        if source is not None:
            copy.add_version(
                text=source.text,
                negative_prompt=source.negative_prompt,
                notes=source.notes,
                author=user,
            )
        return copy

    def is_referenced(self) -> bool:
        return generations_of_prompt(self).exists()

    def remove(self) -> str:
        """Delete this prompt, or archive it when generations refer to its versions.
        Returns "deleted" or "archived"."""
        if self.is_referenced():
            self.archived_at = timezone.now()
            self.save(update_fields=["archived_at"])
            return "archived"
        self.delete()
        return "deleted"

    def restore(self) -> None:
        self.archived_at = None
        self.save(update_fields=["archived_at"])


class ImmutableVersionError(Exception):
    """A prompt version was about to be changed; versions are never changed."""


class PromptVersionQuerySet(models.QuerySet):
    def visible_to(self, user) -> PromptVersionQuerySet:
        """Versions of the prompts `user` may see (SharedQuerySet.visible_to's rule, as a
        join: one version costs a lookup, not a scan of every visible prompt)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(Q(prompt__owner=user) | Q(prompt__visibility=Visibility.TEAM))

    def update(self, **kwargs) -> int:
        raise ImmutableVersionError("Prompt versions never change; add a new version.")


class PromptVersion(models.Model):
    """One immutable state of a prompt's text, negative prompt and notes."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    negative_prompt = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = PromptVersionQuerySet.as_manager()

    class Meta:
        ordering = ["prompt", "number"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "number"], name="one_number_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.prompt} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ImmutableVersionError("Prompt versions never change; add a new version.")
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("prompt-detail", args=[self.prompt_id]) + f"#v{self.number}"

    @property
    def variables(self) -> list[str]:
        return prompt_text.variables(self.text)

    def made(self, text: str) -> bool:
        """Whether a generation's prompt `text` came from this version (itself or filled in)."""
        return prompt_text.matches(self.text, text)


class Star(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="stars")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "prompt"], name="one_star_per_user")]

    def __str__(self) -> str:
        return f"{self.user} ★ {self.prompt}"

    @classmethod
    def toggle(cls, user, prompt: Prompt) -> bool:
        """Star or unstar; True when the prompt is now starred."""
        deleted, _ = cls.objects.filter(user=user, prompt=prompt).delete()
        if deleted:
            return False
        cls.objects.get_or_create(user=user, prompt=prompt)
        return True


# ---------------------------------------------------------------------------- presets


class PresetQuerySet(SharedQuerySet):
    def stacked(self, ids: list[int]) -> list[Preset]:
        """The presets with these ids, in the order given (a stack: later ones win); ids
        not in this queryset (e.g. others' private presets) are dropped."""
        found = self.in_bulk(ids)
        return [found[pk] for pk in ids if pk in found]


class Preset(models.Model):
    """A named set of the parameters a user chose, e.g. "9:16 pro 10 s"."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presets"
    )
    name = models.CharField(max_length=80)
    visibility = visibility_field()
    # Request-body names and types (capabilities.problems), only the keys chosen.
    params = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PresetQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("preset-edit", args=[self.pk])

    def problems(self) -> dict[str, str]:
        return preset_problems(self.params)

    def summary(self) -> list[str]:
        """The preset's values in words, in form order."""
        return describe_params(self.params)

    def record(self) -> dict:
        """What a generation keeps of an applied preset (the preset may change later)."""
        return {"id": self.pk, "name": self.name, "params": dict(self.params)}


MAX_ID = 2**63 - 1  # the largest id a database row can have


def shown_presets(user, owner_id: int, records: object) -> list[dict]:
    """Of the preset records a generation or batch of `owner_id` keeps (Preset.record()),
    those `user` may see. A record whose preset still exists shows to whoever the library
    shows that preset (so a private preset's name and values stay its owner's, as a private
    prompt version's text does, even in a teammate's run again of the video); one whose
    preset is gone, or a recipe's without an id, shows to the generation's owner only."""
    records = [record for record in records or [] if isinstance(record, dict)]
    ids = {row_id(record.get("id")) for record in records} - {None}
    presets = Preset.objects.filter(pk__in=ids)
    existing = set(presets.values_list("pk", flat=True)) if ids else set()
    seen = set(presets.visible_to(user).values_list("pk", flat=True)) if existing else set()
    mine = user.is_authenticated and user.pk == owner_id

    def shown(record: dict) -> bool:
        pk = row_id(record.get("id"))
        return pk in seen if pk in existing else mine

    return [record for record in records if shown(record)]


def row_id(value: object) -> int | None:
    """`value` when it can be a row's id (a whole number a database takes), else None."""
    return value if type(value) is int and 0 < value <= MAX_ID else None


class DefaultPreset(models.Model):
    """The preset a user's studio form starts with."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="default_preset",
    )
    preset = models.ForeignKey(Preset, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.user}: {self.preset}"


# ---------------------------------------------------------------------------- batches


class BatchQuerySet(models.QuerySet):
    def visible_to(self, user) -> BatchQuerySet:
        """As generations: a batch is its owner's; admins (who see every generation) see
        every batch. Permissions, not is_staff: reviewers are staff too."""
        if not user.is_authenticated:
            return self.none()
        if user.has_perm(SEE_ALL):
            return self
        return self.filter(owner=user)


class Batch(models.Model):
    """Jobs submitted together from one template: its variable values × parameter sweeps."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="batches"
    )
    client_request_id = models.UUIDField(null=True, blank=True)
    prompt_version = models.ForeignKey(
        PromptVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="batches"
    )
    template = models.TextField()
    # {"subject": ["fox", "owl"]}, and {"presets": [{id, name}], "cfg_scale": [0.3, 0.7]}
    variables = models.JSONField(default=dict, blank=True)
    sweep = models.JSONField(default=dict, blank=True)
    # One entry per job, in grid order: {"generation": "<uuid>", "label": "subject: fox"}
    items = models.JSONField(default=list, blank=True)
    size = models.PositiveIntegerField()
    estimated_units = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = BatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "client_request_id"], name="one_batch_per_client_request"
            )
        ]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"{self.size} × {self.template[:50]}"

    def get_absolute_url(self) -> str:
        return reverse("batch-detail", args=[self.pk])
