"""Review decisions on finished videos, budgets, the units each generation reserved, and the
audit log. Who may see what is decided by roles (accounts/roles.py) and
Generation.objects.visible_to."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from studio.accounts.roles import APPROVE_OWN
from studio.generations.models import Generation, Status, month_of

UNITS = {"max_digits": 10, "decimal_places": 3}


def who(blank: bool = True) -> models.ForeignKey:
    """The person who did something (reviewed, wrote, resolved, shared, revoked): the row
    stays, with None, when the account is deleted; no reverse accessor on the user."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=blank,
        on_delete=models.SET_NULL,
        related_name="+",
    )


class Verdict(models.TextChoices):
    APPROVED = "approved", "Approved"
    CHANGES = "changes", "Changes requested"
    REJECTED = "rejected", "Rejected"


IN_REVIEW = "In review"  # a succeeded generation without a Review row
SELF_APPROVAL_REFUSED = "You cannot approve your own video: another reviewer must approve it."


class SelfApprovalRefused(ValueError):
    """A reviewer tried to approve their own video while self-approval is off."""


class ReviewQuerySet(models.QuerySet):
    def visible_to(self, user) -> ReviewQuerySet:
        """Reviews of the generations `user` may see: checked row by row (EXISTS on the
        generation's primary key), so the latest few cost a few lookups at any size."""
        seen = Generation.objects.visible_to(user).filter(pk=OuterRef("generation_id"))
        return self.filter(Exists(seen))


class Review(models.Model):
    """The current verdict on one finished generation. No row means it is still in review;
    every verdict given (with its comment) is kept as a Decision."""

    generation = models.OneToOneField(
        Generation, primary_key=True, on_delete=models.CASCADE, related_name="review"
    )
    verdict = models.CharField(max_length=10, choices=Verdict, db_index=True)
    reviewer = who(blank=False)
    comment = models.TextField(blank=True)
    at_seconds = models.FloatField(null=True, blank=True)
    decided_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        # The gallery's keyset pages: the latest approvals first (studio/keyset.py).
        indexes = [
            models.Index(fields=["verdict", "decided_at", "generation"], name="review_gallery_page")
        ]
        permissions = [
            ("review_generation", "Can review finished videos and curate the team gallery"),
            ("view_team_gallery", "Can see the team gallery (approved videos)"),
            ("view_spend", "Can see everyone's spend"),
            ("see_all_generations", "Can see every generation, finished or not"),
            ("approve_own_generation", "Can approve own videos for team use"),
        ]

    def __str__(self) -> str:
        return f"{self.get_verdict_display()}: {self.generation}"

    @classmethod
    def decide(
        cls,
        generation: Generation,
        reviewer,
        verdict: Verdict | str,
        comment: str = "",
        at_seconds: float | None = None,
        end_seconds: float | None = None,
    ) -> Review:
        """Record a verdict on a succeeded generation in one transaction: the current Review,
        its Decision, an audit entry, a thread for a comment (at `at_seconds`, to
        `end_seconds` for a range), and what an approval closes (approved)."""
        if generation.status != Status.SUCCEEDED:
            raise ValueError("Only a finished video can be reviewed.")
        verdict = Verdict(verdict)
        if cls.refusal(generation, reviewer, verdict):
            raise SelfApprovalRefused(SELF_APPROVAL_REFUSED)
        with transaction.atomic():
            before = cls.objects.filter(generation=generation).first()
            review, _ = cls.objects.update_or_create(
                generation=generation,
                defaults={
                    "verdict": verdict,
                    "reviewer": reviewer,
                    "comment": comment,
                    "at_seconds": at_seconds,
                    "decided_at": timezone.now(),
                },
            )
            generation.mark_reviewed(verdict.value)
            Decision.objects.create(
                generation=generation,
                reviewer=reviewer,
                verdict=verdict,
                comment=comment,
                at_seconds=at_seconds,
            )
            AuditEntry.record(
                reviewer,
                f"review.{verdict.value}",
                generation,
                before={"verdict": before.verdict if before else "in review"},
                after={"verdict": verdict.value, "comment": comment, "at_seconds": at_seconds},
            )
            if comment:
                cls.open_thread(generation, reviewer, verdict, comment, at_seconds, end_seconds)
            if verdict == Verdict.APPROVED:
                cls.approved(generation, reviewer)
        generation.review = review  # the cached relation is stale otherwise
        return review

    @staticmethod
    def open_thread(generation, reviewer, verdict, comment, at_seconds, end_seconds) -> None:
        """A decision's comment starts a thread on the timeline, at its moment or range."""
        Comment.objects.create(
            generation=generation,
            author=reviewer,
            author_name=reviewer.get_username() if reviewer else "",
            body=comment,
            verdict=verdict,
            start_seconds=at_seconds,
            end_seconds=end_seconds,
        )

    @staticmethod
    def approved(generation: Generation, reviewer) -> None:
        """What an approval does besides the verdict: the open notes on the shot's earlier
        takes close, and approving one's own video is audited with what allowed it."""
        close_earlier_notes(generation, reviewer)
        if reviewer and reviewer.pk == generation.owner_id:
            allowed_by = "admin" if reviewer.has_perm(APPROVE_OWN) else "setting"
            AuditEntry.record(
                reviewer, "review.self_approval", generation, after={"allowed_by": allowed_by}
            )

    @staticmethod
    def refusal(generation: Generation, reviewer, verdict: Verdict | str) -> str:
        """Why `reviewer` may not give `verdict` on `generation`, or "". An approved video
        shows to the whole team, so approving one's own takes another reviewer, unless
        STUDIO_ALLOW_SELF_APPROVAL is on or the reviewer is an admin (APPROVE_OWN)."""
        own = reviewer is not None and reviewer.pk == generation.owner_id
        if verdict != Verdict.APPROVED or not own or settings.STUDIO_ALLOW_SELF_APPROVAL:
            return ""
        return "" if reviewer.has_perm(APPROVE_OWN) else SELF_APPROVAL_REFUSED


def close_earlier_notes(approved: Generation, reviewer) -> int:
    """Resolve the open threads on the shot's earlier takes: a later take was approved."""
    if approved.shot_id is None:
        return 0
    earlier = (
        Comment.objects.threads()
        .unresolved()
        .filter(generation__shot_id=approved.shot_id, generation__take__lt=approved.take)
    )
    return earlier.update(resolved_at=timezone.now(), resolved_by=reviewer, closed_by_take=approved)


class Decision(models.Model):
    """One verdict a reviewer gave, with its comment, optionally pinned to a time."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="decisions")
    reviewer = who(blank=False)
    verdict = models.CharField(max_length=10, choices=Verdict)
    comment = models.TextField(blank=True)
    at_seconds = models.FloatField(
        null=True, blank=True, help_text="The moment in the video the comment is about."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        # The nav's unseen verdicts (review/news.py): the ones since a moment, by index.
        indexes = [models.Index(fields=["created_at"], name="decision_created")]

    def __str__(self) -> str:
        return f"{self.get_verdict_display()} by {self.reviewer}"


# ---------------------------------------------------------------------------- spend


class Budget(models.Model):
    """A monthly unit budget for one person, or (no user) for the whole team."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="budget",
        help_text="Leave empty for the whole team's budget.",
    )
    monthly_units = models.DecimalField(
        **UNITS, validators=[MinValueValidator(0)], help_text="Upstream units per calendar month."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One budget per user, and one (user NULL) for the team.
            models.UniqueConstraint(
                Coalesce("user", Value(0)),
                name="one_budget_per_scope",
                violation_error_message="This person (or the team) has a budget already: "
                "change that one.",
            ),
        ]

    def __str__(self) -> str:
        who = self.user.get_username() if self.user_id else "the team"
        return f"{Decimal(str(self.monthly_units)).normalize():f} units a month for {who}"


# Units a generation counts for: what the upstream charged once it said so; nothing for a
# failed one it said nothing about (docs/upstream.md §6.2); until then, the estimate reserved.
SPENT = Case(
    When(generation__units_charged__isnull=False, then=F("generation__units_charged")),
    When(generation__status=Status.FAILED, then=Value(Decimal(0))),
    default=F("estimated_units"),
    output_field=models.DecimalField(**UNITS),
)


class ChargeQuerySet(models.QuerySet):
    def between(self, start: datetime, end: datetime) -> ChargeQuerySet:
        return self.filter(created_at__gte=start, created_at__lt=end)

    def units(self) -> Decimal:
        return self.aggregate(units=Coalesce(Sum(SPENT), Value(Decimal(0))))["units"]


class Charge(models.Model):
    """The units one generation reserved from its owner's budget when it was made.

    Saved in the transaction that saves the generation (docs/reliability.md R22); what it
    counts for later is SPENT (the upstream's own figure once known)."""

    generation = models.OneToOneField(
        Generation, primary_key=True, on_delete=models.CASCADE, related_name="charge"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="charges"
    )
    # The generation's created_at: the month the units count in.
    created_at = models.DateTimeField(db_index=True)
    model_name = models.CharField(max_length=40)
    estimated_units = models.DecimalField(**UNITS)
    # What the generation said when its spend was last counted into SpendMonth (copied in
    # the transaction of each change): the upstream's charge, and whether it failed.
    units_charged = models.DecimalField(**UNITS, null=True, blank=True)
    failed = models.BooleanField(default=False)

    objects = ChargeQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["owner", "created_at"])]

    def __str__(self) -> str:
        return f"{Decimal(str(self.estimated_units)).normalize():f} units for {self.generation_id}"

    def counts(self) -> dict[str, Decimal]:
        """What this charge adds to its SpendMonth row, as SPENT says: units, the upstream's
        charge, the estimate still reserved."""
        reported = self.units_charged is not None
        units = self.units_charged if reported else Decimal(0) if self.failed else None
        reserved = Decimal(0) if reported or self.failed else self.estimated_units
        return {
            "units": self.estimated_units if units is None else units,
            "charged": self.units_charged or Decimal(0),
            "reserved": reserved,
        }

    def recount(self, generation: Generation) -> None:
        """Take the generation's new charge (or failure) into this charge and its month's
        rollup, in the caller's transaction (a transition's, via generation_charged)."""
        before = self.counts()
        self.units_charged = generation.units_charged
        self.failed = generation.status == Status.FAILED
        Charge.objects.filter(pk=self.pk).update(
            units_charged=self.units_charged, failed=self.failed
        )
        after = self.counts()
        SpendMonth.add(self, {key: after[key] - before[key] for key in after}, videos=0)


class SpendMonth(models.Model):
    """One person's spend on one model in one month: the sums of their charges' counts
    (Charge.counts), kept in step in the transaction of every charge and every change to
    one, so the spend page and the budget check read a few rows, not every charge."""

    month = models.DateField()
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    model_name = models.CharField(max_length=40)
    units = models.DecimalField(**UNITS, default=Decimal(0))
    charged = models.DecimalField(**UNITS, default=Decimal(0))
    reserved = models.DecimalField(**UNITS, default=Decimal(0))
    videos = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "owner", "model_name"], name="one_spend_row_per_month"
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.model_name}: {self.units} units"

    @classmethod
    def add(cls, charge: Charge, deltas: dict[str, Decimal], videos: int) -> None:
        """Add `deltas` (and `videos`) to the row of the charge's month, owner and model."""
        if not videos and not any(deltas.values()):
            return
        key = {
            "month": month_of(charge.created_at),
            "owner_id": charge.owner_id,
            "model_name": charge.model_name,
        }
        row, _ = cls.objects.get_or_create(**key)
        changes = {name: F(name) + delta for name, delta in deltas.items()}
        cls.objects.filter(pk=row.pk).update(videos=F("videos") + videos, **changes)


# ---------------------------------------------------------------------------- audit


class AuditEntry(models.Model):
    """Who did what to what, when, with the state before and after (audit.record, or
    AuditEntry.record when the actor is known)."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = who()
    actor_name = models.CharField(max_length=150, blank=True)  # kept if the user goes
    action = models.CharField(max_length=60, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    target_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.action}"

    @classmethod
    def record(
        cls,
        actor,
        action: str,
        target: models.Model | str | None = None,
        before: dict | None = None,
        after: dict | None = None,
    ) -> AuditEntry:
        """Save one entry by `actor`; None (or an anonymous user) means the system. Code
        that runs inside a request calls audit.record, which fills in the request's user;
        this stays below it so models never import audit (audit imports models)."""
        if actor is not None and not actor.is_authenticated:
            actor = None
        entry = cls(
            actor=actor,
            actor_name=actor.get_username() if actor else "",
            action=action[:60],
            before=before,
            after=after,
        )
        if isinstance(target, models.Model):
            entry.target_type = target._meta.label_lower
            entry.target_id = str(target.pk)
            entry.target_repr = str(target)[:200]
        elif target is not None:
            entry.target_repr = str(target)[:200]
        entry.save()
        return entry

    @property
    def changes(self) -> list[tuple[str, object, object]]:
        """(key, before, after) for every key that differs."""
        before, after = self.before or {}, self.after or {}
        keys = list(dict.fromkeys([*before, *after]))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


def reviewable() -> Q:
    """Generations waiting for a verdict: finished, stored, not yet reviewed (the flag
    Review.decide keeps, so the queue is one index range: generation_review_page). `__in`
    on purpose: Django writes `reviewed=False` as `NOT reviewed`, which SQLite cannot look
    up by index."""
    return Q(status=Status.SUCCEEDED, reviewed__in=[False])


# ---------------------------------------------------------------------------- timeline


class CommentQuerySet(models.QuerySet):
    def visible_to(self, user) -> CommentQuerySet:
        """Comments on the generations `user` may see."""
        return self.filter(generation__in=Generation.objects.visible_to(user))

    def threads(self) -> CommentQuerySet:
        return self.filter(parent__isnull=True)

    def unresolved(self) -> CommentQuerySet:
        return self.filter(resolved_at__isnull=True)


class Comment(models.Model):
    """A comment on a video, pinned to a moment (start) or a range (start to end) and
    optionally drawn on that frame; a thread's first comment has no parent, replies point
    at it. Resolving is the thread's (its first comment's) state. Guests write through a
    share link and give a name."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="comments")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    author = who()
    author_name = models.CharField(max_length=150)  # the guest's name, or the user's kept
    guest = models.BooleanField(default=False)
    share = models.ForeignKey(
        "ShareLink", null=True, blank=True, on_delete=models.SET_NULL, related_name="comments"
    )
    body = models.TextField()
    # The verdict this comment was given with (a decision's comment opens a thread).
    verdict = models.CharField(max_length=10, choices=Verdict, blank=True)
    start_seconds = models.FloatField(null=True, blank=True)
    end_seconds = models.FloatField(null=True, blank=True)
    # Vector shapes in 0..1 of the frame: [{"tool", "color", "points": [[x, y], ...]}].
    drawing = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = who()
    # The later take whose approval closed this thread.
    closed_by_take = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = CommentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["generation", "parent"])]

    def __str__(self) -> str:
        return f"{self.author_name}: {self.body[:60]}"

    @property
    def is_range(self) -> bool:
        return self.end_seconds is not None

    def editable_by(self, user, now: datetime | None = None) -> bool:
        """Its author may edit it within STUDIO_COMMENT_EDIT_MINUTES of writing it."""
        if user is None or not user.is_authenticated or self.author_id != user.pk:
            return False
        window = timedelta(minutes=settings.STUDIO_COMMENT_EDIT_MINUTES)
        return (now or timezone.now()) < self.created_at + window


class Retake(models.Model):
    """A take made from a note: Remix from a "changes requested" comment links the new
    take to that note."""

    take = models.OneToOneField(
        Generation, primary_key=True, on_delete=models.CASCADE, related_name="retake_of"
    )
    note = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="retakes")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"take {self.take_id} from note {self.note_id}"


# ---------------------------------------------------------------------------- share links


class ShareKind(models.TextChoices):
    VIDEO = "video", "One video"
    SHOT = "shot", "A shot's takes"
    BATCH = "batch", "A batch"


class ShareLink(models.Model):
    """A link for people outside the studio to one video, a shot's takes or a batch's
    videos. Only the SHA-256 of its token is kept (sharing.py); the token is shown once."""

    token_hash = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=8, choices=ShareKind)
    generation = models.ForeignKey(
        Generation, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    shot = models.ForeignKey(
        "generations.Shot", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    batch = models.ForeignKey(
        "library.Batch", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_by = who(blank=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    password = models.CharField(max_length=128, blank=True)  # Django's hash; "" for none
    can_comment = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = who()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"share link {self.pk} ({self.get_kind_display()})"

    def is_live(self, now: datetime | None = None) -> bool:
        return self.revoked_at is None and (now or timezone.now()) < self.expires_at

    def videos(self) -> models.QuerySet[Generation]:
        """The finished videos the link shows, newest take first; nothing else."""
        finished = Generation.objects.filter(status=Status.SUCCEEDED)
        if self.kind == ShareKind.VIDEO:
            return finished.filter(pk=self.generation_id)
        if self.kind == ShareKind.SHOT:
            return finished.filter(shot_id=self.shot_id).order_by("-take", "-created_at")
        return finished.filter(batch_id=self.batch_id).order_by("created_at", "pk")


class ReviewSeen(models.Model):
    """When a creator last looked at the review news on their work (news.py)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"review news seen at {self.seen_at:%Y-%m-%d %H:%M}"
