"""The Generation row: the only source of truth for one text- or image-to-video job, and its
state machine; InputImage, a picture a job starts or ends on."""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connections, models, transaction
from django.db.models import Case, Count, Q, Sum, Value, When
from django.db.models.functions import Coalesce, TruncMonth
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from studio.accounts.roles import GALLERY, REVIEW, SEE_ALL
from studio.generations.signals import generation_charged, generation_finished, generation_shared

if TYPE_CHECKING:
    from studio.generations.media import StoredMedia
    from studio.kling.types import Task


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUBMITTED = "submitted", "Submitted"
    PROCESSING = "processing", "Processing"
    STORING = "storing", "Storing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    # A create whose outcome repeated lookups could not settle: nothing is sent until an
    # admin decides (docs/reliability.md R57). Neither active (not swept) nor final.
    NEEDS_ATTENTION = "attention", "Needs attention"


# Only forward moves: a status may change only to one of higher rank. Needs attention sits
# between queued and submitted; its one way back to queued is an admin's retry.
RANK = {
    Status.QUEUED: 0,
    Status.NEEDS_ATTENTION: 0.5,
    Status.SUBMITTED: 1,
    Status.PROCESSING: 2,
    Status.STORING: 3,
    Status.SUCCEEDED: 4,
    Status.FAILED: 4,
}
FINAL = (Status.SUCCEEDED, Status.FAILED)
ACTIVE = (Status.QUEUED, Status.SUBMITTED, Status.PROCESSING, Status.STORING)
# Rows in History's default view, and the archived ones (Generation.archived_at).
SHOWN = Q(archived_at__isnull=True)
ARCHIVED = Q(archived_at__isnull=False)
# The frame rate timecodes assume for a video whose file did not say (or was not read).
ASSUMED_FPS = 24.0


class GenerationQuerySet(models.QuerySet):
    def visible_to(self, user) -> GenerationQuerySet:
        """What `user` may see (roles: studio/accounts/roles.py): their own generations, and
        with a role the approved ones (the team gallery); reviewers also every finished
        one, admins everything. Permissions, not is_staff, decide."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.has_perm(SEE_ALL):
            return self
        parts = self.visible_parts(user)
        seen = parts[0]
        for part in parts[1:]:
            seen |= part
        return self.filter(seen)

    def visible_parts(self, user) -> list[Q]:
        """visible_to as disjoint conditions, each one index range (studio/keyset.py pages
        each on its own and merges): the user's own rows, and the others' they may see:
        every finished one for reviewers, the team's approved ones (team_visible, kept by
        review's verdicts) for everyone with a role. [Q()] for admins, [] for nobody."""
        if not user.is_authenticated or not user.is_active:
            return []
        if user.has_perm(SEE_ALL):
            return [Q()]
        parts = [Q(owner=user)]
        if user.has_perm(REVIEW):
            parts.append(Q(status=Status.SUCCEEDED) & ~Q(owner=user))
        elif user.has_perm(GALLERY):
            # team_visible is only ever set on a succeeded row (mark_reviewed), so no status
            # term competes for the index; `__in`, not `=True`: Django writes that as a
            # bare column, which SQLite cannot look up in generation_team_page.
            parts.append(Q(team_visible__in=[True]) & ~Q(owner=user))
        return parts

    def owned_by(self, user) -> GenerationQuerySet:
        """The user's own generations (their queue): seeing one's own needs no role, so
        this skips the permission lookups of visible_to on the hottest path."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(owner=user)

    def queue_news(
        self, user, after: datetime, made_by: datetime | None, limit: int
    ) -> tuple[list[tuple], bool]:
        """For the queue poll: (id, status) of the user's generations changed after `after`
        (and made by `made_by`, when given), newest change first, at most `limit`; and
        whether any of the user's generations is still running.

        Two index lookups (generation_owner_updated, generation_owner_status) in plain
        SQL: this runs every 2 s for each open studio page, nearly always finds nothing,
        and building the same two queries with the ORM took longer than running them."""
        table = self.model._meta.db_table
        connection = connections[self.db]
        when = connection.ops.adapt_datetimefield_value
        sql = f"SELECT id, status FROM {table} WHERE owner_id = %s AND updated_at > %s"
        params: list = [user.pk, when(after)]
        if made_by is not None:
            sql += " AND created_at <= %s"
            params.append(when(made_by))
        sql += " ORDER BY updated_at DESC LIMIT %s"
        running = ", ".join(["%s"] * len(ACTIVE))
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, limit])
            rows = [(uuid.UUID(str(pk)), status) for pk, status in cursor.fetchall()]
            if any(status in ACTIVE for _, status in rows):
                return rows, True
            cursor.execute(
                f"SELECT 1 FROM {table} WHERE owner_id = %s AND status IN ({running}) LIMIT 1",
                [user.pk, *(str(status) for status in ACTIVE)],
            )
            return rows, cursor.fetchone() is not None

    def storage_use(self) -> list[dict]:
        """What our storage holds for these generations, per owner and month made: one
        aggregate over the byte counts saved with each file (video_bytes, poster_bytes,
        poster_1x_bytes),
        counting only files still there (not walking the storage). Rows of
        {"owner_id", "owner__username", "month", "bytes", "videos"}."""
        video = Case(When(~Q(video=""), then=Coalesce("video_bytes", Value(0))), default=Value(0))
        poster = Case(
            When(~Q(poster=""), then=Coalesce("poster_bytes", Value(0))), default=Value(0)
        )
        poster_1x = Case(
            When(~Q(poster_1x=""), then=Coalesce("poster_1x_bytes", Value(0))), default=Value(0)
        )
        return list(
            self.exclude(video="", poster="", poster_1x="")
            .annotate(month=TruncMonth("created_at"))
            .values("owner_id", "owner__username", "month")
            .annotate(
                bytes=Sum(video + poster + poster_1x), videos=Count("pk", filter=~Q(video=""))
            )
            .order_by("month", "owner_id")
        )

    def due(self, now: datetime) -> GenerationQuerySet:
        """Unfinished rows whose next action is due and that no worker holds a lease on."""
        return self.filter(status__in=ACTIVE, next_poll_at__lte=now).filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now)
        )


class Kind(models.TextChoices):
    TEXT = "text2video", "Text to video"
    IMAGE = "image2video", "Image to video"


class InputImageQuerySet(models.QuerySet):
    def owned_by(self, user) -> InputImageQuerySet:
        """The pictures `user` uploaded or took from a video: only they may pick one for a
        new job; others see a job's pictures through the job (Generation.visible_to)."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(owner=user)

    def usable_by(self, user) -> InputImageQuerySet:
        """The pictures `user` may see and start a job from: their own, and those of the
        generations they may see (a teammate's approved shot can be run again or
        continued). The same rule serves the picture file (generations.views)."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        visible = Generation.objects.visible_to(user)
        return self.filter(
            Q(owner=user)
            | Q(pk__in=visible.values("image_id"))
            | Q(pk__in=visible.values("image_tail_id"))
        )


class InputImage(models.Model):
    """A picture an image-to-video job starts (or ends) on, in our storage as the studio
    re-encoded it (studio/kling/images.py): uploaded, or a frame taken from a video, whose
    generation and time `source` and `source_seconds` record."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="input_images"
    )
    created_at = models.DateTimeField(default=timezone.now)
    file = models.FileField(upload_to="inputs/%Y/%m/")
    format = models.CharField(max_length=4)  # JPEG or PNG
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    source = models.ForeignKey(
        "Generation", null=True, blank=True, on_delete=models.SET_NULL, related_name="frames"
    )
    source_seconds = models.FloatField(null=True, blank=True)

    objects = InputImageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.width}×{self.height} {self.format} {self.sha256[:12]}"

    @property
    def content_type(self) -> str:
        return "image/png" if self.format == "PNG" else "image/jpeg"

    @property
    def extension(self) -> str:
        return "png" if self.format == "PNG" else "jpg"

    @property
    def reference(self) -> str:
        """How a stored request body names this picture (the bytes go only on the wire)."""
        return f"{IMAGE_REFERENCE}{self.pk}"

    def record(self) -> dict:
        """What a recipe card and the generation page say about the picture."""
        return {
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "bytes": self.size,
            "sha256": self.sha256,
        }


# A request body stored on a Generation names its pictures this way; pipeline._create_body
# puts the raw base64 in their place when it sends the body.
IMAGE_REFERENCE = "studio-image:"


def from_library(model: str, on_delete) -> models.ForeignKey:
    """A generation's optional link to the library row it came from, by name (generations
    does not import library, docs/architecture.md); the row lists it as `.generations`."""
    return models.ForeignKey(
        f"library.{model}",
        null=True,
        blank=True,
        on_delete=on_delete,
        related_name="generations",
    )


class Generation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="generations"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # Set by the form from a hidden field: a double click posts the same id twice
    # (docs/reliability.md R18).
    client_request_id = models.UUIDField(null=True, blank=True)

    status = models.CharField(max_length=12, choices=Status, default=Status.QUEUED, db_index=True)
    stalled = models.BooleanField(default=False)

    # What the user asked for, in the request body's own names and types.
    kind = models.CharField(max_length=12, choices=Kind, default=Kind.TEXT, db_index=True)
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    model_name = models.CharField(max_length=40)
    mode = models.CharField(max_length=8, blank=True)
    duration = models.CharField(max_length=4)
    aspect_ratio = models.CharField(max_length=8)  # "" for image2video: the image decides
    cfg_scale = models.FloatField(null=True, blank=True)
    camera_control = models.JSONField(null=True, blank=True)
    # The exact body sent upstream (built from the capability table when the row is made).
    # The callback_url is added at send time and never stored: it carries a secret token.
    request_body = models.JSONField(default=dict)

    # Upstream identity. external_task_id is ours, saved before anything is sent.
    external_task_id = models.CharField(max_length=64, unique=True)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)
    upstream_status = models.CharField(max_length=32, blank=True)
    status_msg = models.TextField(blank=True)
    upstream_created_at = models.DateTimeField(null=True, blank=True)
    upstream_updated_at = models.DateTimeField(null=True, blank=True)
    units_charged = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)

    # Pipeline bookkeeping.
    submit_attempts = models.PositiveIntegerField(default=0)
    poll_attempts = models.PositiveIntegerField(default=0)
    download_attempts = models.PositiveIntegerField(default=0)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    # A create whose outcome is unknown: reconcile by external_task_id before any resend.
    submit_uncertain = models.BooleanField(default=False)
    # Lookups by external_task_id for this row that found nothing (each followed by a
    # create with the same id) and that failed: at STUDIO_RECONCILE_LOOKUPS of the first or
    # STUDIO_RECONCILE_LOOKUP_FAILURES of the second the row needs attention (R57).
    lookup_attempts = models.PositiveIntegerField(default=0)
    lookup_failures = models.PositiveIntegerField(default=0)

    # The result, copied into our storage (upstream URLs expire).
    result_url = models.TextField(blank=True)  # upstream URL, used only by the store step
    video = models.FileField(upload_to="videos/%Y/%m/", blank=True)
    # The poster at twice a tile's width (high-density screens, the player) and at a tile's
    # width (poster_1x; empty on rows stored before it was made: `manage.py posters`).
    poster = models.FileField(upload_to="posters/%Y/%m/", blank=True)
    poster_1x = models.FileField(upload_to="posters/%Y/%m/", blank=True)
    video_bytes = models.BigIntegerField(null=True, blank=True)
    poster_bytes = models.BigIntegerField(null=True, blank=True)
    poster_1x_bytes = models.BigIntegerField(null=True, blank=True)
    # When retention (studio/ops/retention.py) archived or deleted the video; the row, its
    # poster and its byte counts stay.
    video_removed_at = models.DateTimeField(null=True, blank=True)
    video_sha256 = models.CharField(max_length=64, blank=True)
    video_seconds = models.FloatField(null=True, blank=True)
    video_width = models.PositiveIntegerField(null=True, blank=True)
    video_height = models.PositiveIntegerField(null=True, blank=True)
    # Read from the file when it is stored (media.probe); None: timecodes assume
    # ASSUMED_FPS and say so.
    video_fps = models.FloatField(null=True, blank=True)

    # The shot this is a take of: run again and remix make the next take of the same
    # shot; anything else starts a new shot (take 1).
    shot = models.ForeignKey(
        "Shot", null=True, blank=True, on_delete=models.SET_NULL, related_name="takes"
    )
    take = models.PositiveIntegerField(default=1)

    # Where it came from (studio/library): the prompt version its text was taken from,
    # the presets applied as they were then ([{"id", "name", "params"}]), its batch.
    prompt_version = from_library("PromptVersion", models.PROTECT)
    presets = models.JSONField(default=list, blank=True)
    # image2video: the start and end pictures, and the video (and time in it) this shot
    # continues, so a sequence can be followed both ways (source.continuations).
    image = models.ForeignKey(
        InputImage, null=True, blank=True, on_delete=models.PROTECT, related_name="starts"
    )
    image_tail = models.ForeignKey(
        InputImage, null=True, blank=True, on_delete=models.PROTECT, related_name="ends"
    )
    continued_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="continuations"
    )
    continued_at = models.FloatField(null=True, blank=True)
    # The review's facts the list pages look up by index (studio/review keeps them in step
    # with its Review row through mark_reviewed): a verdict was given; it was "approved",
    # so the whole team sees the video.
    reviewed = models.BooleanField(default=False)
    team_visible = models.BooleanField(default=False)
    batch = from_library("Batch", models.SET_NULL)  # the batch it came from
    # When its owner archived it (set_archived): out of History's default view and the
    # studio queue, nothing else. The files, the review, the gallery and retention's rules
    # do not read it.
    archived_at = models.DateTimeField(null=True, blank=True)

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("resolve_generation", "Can mark a generation that needs attention failed or retry it")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "client_request_id"], name="one_generation_per_client_request"
            )
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            # The queue poll (every 2 s per open page): "changed since" and "any still
            # running" stay index lookups however long the user's history grows.
            models.Index(fields=["owner", "updated_at"], name="generation_owner_updated"),
            models.Index(fields=["owner", "status"], name="generation_owner_status"),
            # Keyset pages (studio/keyset.py), newest first, one index range per part of
            # visible_parts: the user's own, everyone's, the finished, the team's approved,
            # and the review queue (finished, no verdict yet, oldest first).
            models.Index(fields=["owner", "created_at", "id"], name="generation_owner_page"),
            models.Index(fields=["created_at", "id"], name="generation_page"),
            models.Index(fields=["status", "created_at", "id"], name="generation_status_page"),
            models.Index(fields=["team_visible", "created_at", "id"], name="generation_team_page"),
            models.Index(
                fields=["status", "reviewed", "finished_at", "id"], name="generation_review_page"
            ),
            # The nav's "what finished since the page opened" (generations/activity.py).
            models.Index(fields=["owner", "finished_at"], name="generation_owner_finished"),
            # The review queue's batch filter: "has this batch a video waiting?" by index.
            models.Index(fields=["batch", "status", "reviewed"], name="generation_batch_review"),
            # History hides archived rows unless asked (HistoryFilterForm.archived): the
            # history pages again over the rows not archived, as partial indexes, so the
            # default page and its capped count stay one index range each; and the few
            # archived rows on their own for the Archived filter.
            models.Index(
                fields=["owner", "created_at", "id"], condition=SHOWN, name="generation_owner_shown"
            ),
            models.Index(
                fields=["created_at", "id"], condition=SHOWN, name="generation_shown_page"
            ),
            models.Index(
                fields=["status", "created_at", "id"],
                condition=SHOWN,
                name="generation_status_shown",
            ),
            models.Index(
                fields=["team_visible", "created_at", "id"],
                condition=SHOWN,
                name="generation_team_shown",
            ),
            models.Index(
                fields=["owner", "created_at", "id"],
                condition=ARCHIVED,
                name="generation_owner_archived",
            ),
            models.Index(
                fields=["created_at", "id"], condition=ARCHIVED, name="generation_archived"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name}: {self.prompt[:60]}"

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and self.shot_id is None:
            self.shot = Shot.objects.create(created_at=self.created_at)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("generation-detail", args=[self.pk])

    @property
    def fps(self) -> float:
        """The frame rate timecodes count in: the file's own, else ASSUMED_FPS."""
        return self.video_fps or ASSUMED_FPS

    @property
    def length(self) -> float:
        """The video's length in seconds: as measured, else as asked for."""
        if self.video_seconds:
            return self.video_seconds
        try:
            return float(self.duration)
        except ValueError:
            return 0.0

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def from_image(self) -> bool:
        return self.kind == Kind.IMAGE

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    def archivable_by(self, user) -> bool:
        """Only its owner archives a generation, and only a finished one: a job still
        running (or waiting for an admin) stays in the queue until it ends."""
        return self.owner_id == user.pk and self.is_final

    def set_archived(self, archived: bool) -> bool:
        """Archive or unarchive this finished generation with one conditional UPDATE (a row
        not final is left alone: False). updated_at is not touched, so the queue poll does
        not see a change, and nothing else moves: the files and the review stay."""
        when = timezone.now() if archived else None
        done = Generation.objects.filter(pk=self.pk, status__in=FINAL).update(archived_at=when)
        if done:
            self.archived_at = when
        return bool(done)

    @property
    def title(self) -> str:
        """What lists and headings call it: the prompt, which image to video may leave out."""
        if self.prompt.strip() or not self.from_image:
            return self.prompt
        return "From an image, no prompt"

    def params(self) -> dict:
        """The user's parameters in request-body form, for run again, remix and presets;
        an image2video job's pictures as their InputImage ids (never the bytes)."""
        if self.from_image:
            return self.image_params()
        params = {
            "model_name": self.model_name,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "mode": self.mode,
            "duration": self.duration,
            "aspect_ratio": self.aspect_ratio,
        }
        if self.cfg_scale is not None:
            params["cfg_scale"] = self.cfg_scale
        if self.camera_control:
            params["camera_control"] = self.camera_control
        if self.request_body.get("sound"):  # no column: the body sent is the record
            params["sound"] = self.request_body["sound"]
        return params

    def image_params(self) -> dict:
        params = {
            "kind": Kind.IMAGE.value,
            "model_name": self.model_name,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "mode": self.mode,
            "duration": self.duration,
            "image": str(self.image_id) if self.image_id else None,
            "image_tail": str(self.image_tail_id) if self.image_tail_id else None,
        }
        if self.cfg_scale is not None:
            params["cfg_scale"] = self.cfg_scale
        return params

    # ------------------------------------------------------------ named transitions
    # Each is the only way into its state (failed has two doors: the studio gives up, or
    # the upstream says so). All go through _move, so every change is forward only and
    # leaves one GenerationEvent. Each returns False when the row had moved on already.

    def mark_submitted(self, task: Task, *, note: str) -> bool:
        """queued -> submitted: the upstream accepted the create, or it was found by its
        external_task_id. Polling starts POLL_MIN_SECONDS from now."""
        now = timezone.now()
        return self._move(
            Status.SUBMITTED,
            note=note,
            task_id=task.task_id,
            upstream_status=task.raw_status[:32],
            status_msg=task.status_msg,
            upstream_created_at=task.created_at,
            upstream_updated_at=task.updated_at,
            submitted_at=now,
            submit_uncertain=False,
            last_error="",
            error_code="",
            poll_attempts=0,
            next_poll_at=now + timedelta(seconds=settings.POLL_MIN_SECONDS),
            lease_until=None,
        )

    def mark_processing(self, task: Task, *, next_poll_at: datetime, stalled: bool) -> bool:
        """submitted -> processing: the upstream started on it; the poll backoff restarts."""
        return self._move(
            Status.PROCESSING,
            note="Processing upstream.",
            poll_attempts=0,
            next_poll_at=next_poll_at,
            lease_until=None,
            stalled=stalled,
            last_error="",
            **self.upstream_facts(task),
        )

    def mark_storing(self, task: Task, *, next_poll_at: datetime) -> bool:
        """-> storing: the upstream finished with a video URL, which the store step copies.
        `next_poll_at` is when the store task is handed out again if it was lost."""
        return self._move(
            Status.STORING,
            note="Finished upstream; saving the video.",
            result_url=task.video.url,
            next_poll_at=next_poll_at,
            lease_until=None,
            last_error="",
            **self.upstream_facts(task),
        )

    def mark_succeeded(self, stored: StoredMedia) -> bool:
        """storing -> succeeded: the video and its poster are in our storage."""
        return self._move(
            Status.SUCCEEDED,
            note="Video saved.",
            video=stored.video,
            poster=stored.poster,
            poster_1x=stored.poster_1x,
            video_bytes=stored.size,
            poster_bytes=stored.poster_size,
            poster_1x_bytes=stored.poster_1x_size,
            video_sha256=stored.sha256,
            video_seconds=stored.seconds,
            video_width=stored.width,
            video_height=stored.height,
            video_fps=stored.fps,
            last_error="",
        )

    def stored(self) -> tuple[int, int]:
        """(bytes our storage holds for this row, videos still there): what it counts for
        in StorageMonth, from the byte counts saved with each file."""
        video = (self.video_bytes or 0) if self.video else 0
        poster = (self.poster_bytes or 0) if self.poster else 0
        poster_1x = (self.poster_1x_bytes or 0) if self.poster_1x else 0
        return video + poster + poster_1x, 1 if self.video else 0

    def mark_reviewed(self, verdict: str | None) -> None:
        """Keep reviewed and team_visible in step with the review's verdict ("approved",
        another, or None when the verdict was removed). Only studio/review calls it, in the
        transaction that writes its Review row; status does not change."""
        self.reviewed = verdict is not None
        self.team_visible = verdict == "approved" and self.status == Status.SUCCEEDED
        row = Generation.objects.filter(pk=self.pk)
        # The flip is decided by the UPDATE itself, so two verdicts at once count it once.
        flipped = row.filter(team_visible__in=[not self.team_visible]).update(
            reviewed=self.reviewed, team_visible=self.team_visible
        )
        if flipped:
            generation_shared.send(sender=Generation, generation=self, shared=self.team_visible)
        else:
            row.update(reviewed=self.reviewed)

    def mark_failed(
        self,
        message: str,
        *,
        code: str = "",
        error: Exception | None = None,
        task: Task | None = None,
        stalled: bool = False,
    ) -> bool:
        """-> failed, the studio's decision: a create refused for good, too many attempts,
        a lost task id, a video that could not be saved, or waiting too long. `message` is
        for the user; `error` (or the message) goes to last_error; `task`, the last poll
        answer, adds what it says; `stalled` flags a task that never finished."""
        fields = self.upstream_facts(task) if task is not None else {}
        if stalled:
            fields["stalled"] = True
        fields.update(
            status_msg=message,
            error_code=code[:40],
            last_error=str(error)[:1000] if error else message,
            submit_uncertain=False,
        )
        return self._move(Status.FAILED, note=message, **fields)

    def mark_needs_attention(self, message: str, *, code: str, error: Exception | None) -> bool:
        """queued -> needs attention: repeated lookups could not tell whether a create
        landed, so nothing more is sent (R57). `message` says why, for the person and the
        admin; the row stays uncertain, so any later attempt looks it up first."""
        return self._move(
            Status.NEEDS_ATTENTION,
            note=message,
            only_from=(Status.QUEUED,),
            status_msg=message,
            error_code=code[:40],
            last_error=str(error)[:1000] if error else message,
            submit_uncertain=True,
            next_poll_at=None,
            lease_until=None,
        )

    def retry_after_attention(self, actor) -> bool:
        """needs attention -> queued, an admin's deliberate retry: one more lookup by
        external_task_id, then (nothing found) the create again with the same id; the
        lookups start counting afresh, the submit attempts do not."""
        who = actor.get_username() if actor is not None else "an admin"
        return self._move(
            Status.QUEUED,
            note=f"Retried by {who} after it needed attention."[:500],
            only_from=(Status.NEEDS_ATTENTION,),
            status_msg="",
            lookup_attempts=0,
            lookup_failures=0,
            submit_uncertain=True,
            next_poll_at=timezone.now(),
            lease_until=None,
        )

    def mark_failed_upstream(self, task: Task) -> bool:
        """-> failed, the upstream's verdict: its message (or a stand-in) and what the task
        says, including a charge if it reports one. Our own error fields stay as they are."""
        message = task.status_msg or "The video generation failed upstream (no reason given)."
        facts = self.upstream_facts(task)
        return self._move(Status.FAILED, note=message, **{**facts, "status_msg": message})

    def upstream_facts(self, task: Task) -> dict:
        """What a poll answer says about the task, as fields of this row (an answer without
        timestamps keeps the ones we have; a charge only when the upstream reports one)."""
        facts = {
            # An answer without a status (a shape the client could not read) changes nothing.
            "upstream_status": task.raw_status[:32] or self.upstream_status,
            "status_msg": task.status_msg,
            "upstream_updated_at": task.updated_at or self.upstream_updated_at,
            "upstream_created_at": task.created_at or self.upstream_created_at,
        }
        if task.final_unit_deduction is not None:
            facts["units_charged"] = task.final_unit_deduction
        return facts

    def _move(self, to: Status, note: str = "", *, only_from: tuple = (), **fields) -> bool:
        """Move this row forward to `to` with a compare-and-set UPDATE; False if another
        process moved it first or the move would go backwards or leave a final state.
        `only_from` names the states it may leave instead (the one backward move, an
        admin's retry, and the move into needs attention). Only the named transitions
        call it; nothing else writes status."""
        allowed = [s for s, rank in RANK.items() if rank < RANK[to] and s not in FINAL]
        if to == self.status and to not in FINAL:
            allowed.append(to)
        if only_from:
            allowed = list(only_from)
        now = timezone.now()
        fields.setdefault("updated_at", now)
        if to in FINAL:
            fields.setdefault("finished_at", now)
            fields.setdefault("next_poll_at", None)
            fields.setdefault("lease_until", None)
        if to == Status.FAILED and fields.get("units_charged", self.units_charged) is None:
            # Not charged unless the upstream said otherwise (final_unit_deduction).
            fields["units_charged"] = Decimal(0)
        # A rollup written beside the row (spend, storage) must commit with it; a plain move
        # stays two statements (a savepoint per row would double a sweep's writes).
        rolls_up = "units_charged" in fields or to in FINAL
        with transaction.atomic(using=self._state.db) if rolls_up else nullcontext():
            changed = Generation.objects.filter(pk=self.pk, status__in=allowed).update(
                status=to, **fields
            )
            if not changed:
                return False
            if to != self.status:
                GenerationEvent.objects.create(
                    generation_id=self.pk, status=to, note=note[:500], at=now
                )
            self.status = to
            for name, value in fields.items():
                setattr(self, name, value)
            if "units_charged" in fields:
                # What the row counts for in spend changed: review's rollup follows, here.
                generation_charged.send(sender=Generation, generation=self)
            if to == Status.SUCCEEDED:  # its video and poster are stored now
                StorageMonth.add(self, *self.stored())
            if to in FINAL:  # the row was not final before (allowed): counted once
                generation_finished.send(sender=Generation, generation=self)
        return True

    def touch(self, **fields) -> bool:
        """Update bookkeeping fields without a status change, if the row is still unfinished."""
        fields.setdefault("updated_at", timezone.now())
        changed = (
            Generation.objects.filter(pk=self.pk, status=self.status)
            .exclude(status__in=FINAL)
            .update(**fields)
        )
        for name, value in fields.items():
            setattr(self, name, value)
        return bool(changed)

    def claim(self, seconds: float = 60, **expected) -> bool:
        """Take a short lease so one worker acts on this row at a time (docs/reliability.md R16).

        `expected` adds conditions the row must still meet (e.g. `submit_attempts=2`),
        so a claim fails when another worker acted on the row since it was read."""
        now = timezone.now()
        until = now + timedelta(seconds=seconds)
        changed = (
            Generation.objects.filter(pk=self.pk, status=self.status, **expected)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(lease_until=until)
        )
        if changed:
            self.lease_until = until
        return bool(changed)


class Shot(models.Model):
    """One shot and its takes (Generation.shot, numbered by Generation.take): the first
    generation starts it, run again and remix add the next take."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    takes_made = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"shot {str(self.pk)[:8]} ({self.takes_made} takes)"

    def get_absolute_url(self) -> str:
        return reverse("shot-detail", args=[self.pk])

    def next_take(self) -> int:
        """Count one more take and return its number. The UPDATE locks the row, so two
        takes made at once get different numbers (on SQLite and PostgreSQL alike)."""
        Shot.objects.filter(pk=self.pk).update(takes_made=models.F("takes_made") + 1)
        self.refresh_from_db(fields=["takes_made"])
        return self.takes_made


def month_of(moment: datetime) -> date:
    """The first day of the month `moment` falls in, in the studio's time zone."""
    return timezone.localtime(moment).date().replace(day=1)


class StorageMonth(models.Model):
    """What our storage holds for one person's generations made in one month: bytes of
    videos and posters, and the videos still there. Changed in the transaction of each
    change to a stored file (a video stored, a row written with files, retention taking a
    video, a row deleted), so the spend page reads a few rows, not every generation."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    month = models.DateField()
    bytes = models.BigIntegerField(default=0)
    videos = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "month"], name="one_storage_row_per_month")
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.bytes} bytes"

    @classmethod
    def add(cls, generation: Generation, size: int, videos: int) -> None:
        """Add `size` bytes and `videos` to the row of the generation's owner and month."""
        if not size and not videos:
            return
        key = {"owner_id": generation.owner_id, "month": month_of(generation.created_at)}
        row, _ = cls.objects.get_or_create(**key)
        cls.objects.filter(pk=row.pk).update(
            bytes=models.F("bytes") + size, videos=models.F("videos") + videos
        )

    @classmethod
    def rebuild(cls) -> int:
        """Count every generation's files afresh (Generation.objects.storage_use, the exact
        aggregate); after files were changed outside the studio. Rows written."""
        with transaction.atomic():
            cls.objects.all().delete()
            rows = [
                cls(
                    owner_id=row["owner_id"],
                    month=timezone.localtime(row["month"]).date(),
                    bytes=row["bytes"],
                    videos=row["videos"],
                )
                for row in Generation.objects.storage_use()
            ]
            cls.objects.bulk_create(rows, batch_size=1000)
        return len(rows)


@receiver(post_save, sender=Generation, dispatch_uid="generation-storage-made")
def storage_made(sender, instance: Generation, created: bool, raw: bool = False, **kw) -> None:
    """A row written with its files already there (an import, a test's factory) counts."""
    if created and not raw:
        StorageMonth.add(instance, *instance.stored())


@receiver(post_delete, sender=Generation, dispatch_uid="generation-storage-gone")
def storage_gone(sender, instance: Generation, **kwargs) -> None:
    size, videos = instance.stored()
    StorageMonth.add(instance, -size, -videos)


class GenerationEvent(models.Model):
    """One status change of a generation, for the timeline."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=12, choices=Status)
    at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.status} at {self.at:%H:%M:%S}"


class Lease(models.Model):
    """A named lease, so only one sweep (or watchdog tick) runs at a time (docs/reliability.md R8,
    R16).

    Taken and given back with conditional UPDATEs: no select_for_update, which SQLite ignores."""

    name = models.CharField(max_length=40, primary_key=True)
    until = models.DateTimeField()
    holder = models.CharField(max_length=32, blank=True)

    def __str__(self) -> str:
        return f"{self.name} until {self.until:%H:%M:%S}"

    @classmethod
    def acquire(cls, name: str, seconds: float) -> str | None:
        """A holder token if the lease `name` was free (or ran out) and is now ours, else None."""
        now = timezone.now()
        holder = uuid.uuid4().hex
        until = now + timedelta(seconds=seconds)
        cls.objects.get_or_create(name=name, defaults={"until": now - timedelta(seconds=1)})
        taken = cls.objects.filter(name=name, until__lt=now).update(until=until, holder=holder)
        return holder if taken else None

    @classmethod
    def renew(cls, name: str, holder: str, seconds: float) -> bool:
        until = timezone.now() + timedelta(seconds=seconds)
        return bool(cls.objects.filter(name=name, holder=holder).update(until=until))

    @classmethod
    def release(cls, name: str, holder: str) -> None:
        cls.objects.filter(name=name, holder=holder).update(until=timezone.now(), holder="")

    @classmethod
    def is_held(cls, name: str) -> bool:
        return cls.objects.filter(name=name, until__gte=timezone.now()).exists()


# The worker's own records (heartbeats, upstream call tallies) live in vitals.py.
from studio.generations.vitals import UpstreamTally, WorkerHeartbeat  # noqa: E402, F401
