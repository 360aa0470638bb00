"""Monthly unit budgets: what a person and the team have left this month, and the guard that
refuses a submission over budget in the transaction that saves it (docs/reliability.md R22).

A generation counts in the month it was made: its estimate is reserved when it is saved
(a Charge), replaced by the upstream's final_unit_deduction once known; a failed one the
upstream said nothing about counts nothing (models.SPENT)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.db.models.signals import post_delete
from django.utils import timezone

from studio.generations.models import Generation
from studio.generations.signals import CreateRefused
from studio.review import audit
from studio.review.models import Budget, Charge, SpendMonth, month_of
from studio.review.pricing import PriceUnknown, estimate_units

WARN_AT = Decimal("0.8")


class OverBudget(CreateRefused):
    """The submission would take a budget past its limit; the message says so to the user.
    A CreateRefused, so generations and its callers catch it without importing review."""


@dataclass(frozen=True)
class Allowance:
    """One budget (the user's own, or the team's) and what this month has used of it."""

    team: bool
    limit: Decimal
    spent: Decimal

    @property
    def left(self) -> Decimal:
        return max(Decimal(0), self.limit - self.spent)

    @property
    def used_percent(self) -> int:
        if self.limit <= 0:
            return 100
        return int(self.spent * 100 / self.limit)

    @property
    def meter(self) -> int:
        """Tenths used, 0 to 10, for the meter's CSS class (no inline styles: CSP)."""
        return min(10, round(self.used_percent / 10))

    @property
    def warn(self) -> bool:
        return self.limit <= 0 or self.spent >= self.limit * WARN_AT

    def refusal(self, units: Decimal) -> str:
        whose = "the team has" if self.team else "you have"
        return (
            f"Not sent: this video would use about {fmt(units)} unit{pluralize(units)}, "
            f"but {whose} "
            f"{fmt(self.left)} of {fmt(self.limit)} monthly units left. Ask an admin to raise "
            "the budget, or pick a shorter duration or std mode."
        )

    def batch_refusal(self, units: Decimal, size: int) -> str:
        """A batch over this budget: its whole cost, not one video's; nothing is queued."""
        whose = "the team has" if self.team else "you have"
        jobs = "1 job" if size == 1 else f"{size} jobs"
        return (
            f"Not sent: this batch of {jobs} would use about {fmt(units)} "
            f"unit{pluralize(units)} in all, but {whose} {fmt(self.left)} of "
            f"{fmt(self.limit)} monthly units left, so none was queued. Ask an admin to "
            "raise the budget, or make fewer variations, a shorter duration or std mode."
        )


def over(user, units: Decimal) -> Allowance | None:
    """The first budget `units` more would take past its limit (None: all would hold)."""
    return next((a for a in allowances(user) if a.spent + units > a.limit), None)


def pluralize(units: Decimal) -> str:
    return "" if units == 1 else "s"


def fmt(units: Decimal) -> str:
    return f"{units.normalize():f}" if units == units.to_integral() else f"{units:.3f}".rstrip("0")


def month_range(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The calendar month around `now` in the studio's time zone, as [start, end)."""
    local = timezone.localtime(now or timezone.now())
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def allowances(user, now: datetime | None = None, *, lock: bool = False) -> list[Allowance]:
    """The budgets that apply to `user` (own first, then the team's) with this month's
    spend. `lock` takes row locks on them (PostgreSQL; SQLite's IMMEDIATE transactions
    already serialise writers)."""
    budgets = Budget.objects.filter(Q(user=user) | Q(user__isnull=True)).order_by("user")
    if lock and connection.features.has_select_for_update:
        budgets = budgets.select_for_update()
    month = SpendMonth.objects.filter(month=month_of(now or timezone.now()))
    found = []
    for budget in budgets:
        team = budget.user_id is None
        rows = month if team else month.filter(owner=user)
        spent = rows.aggregate(units=Sum("units", default=Decimal(0)))["units"]
        found.append(Allowance(team=team, limit=budget.monthly_units, spent=spent))
    return sorted(found, key=lambda a: a.team)


def reserve(sender: type, generation: Generation, **kwargs) -> Charge:
    """Check the budgets and reserve this generation's estimate: the receiver of
    generation_creating (connected in ReviewConfig.ready), so it runs inside the
    transaction that saves the generation and OverBudget rolls both back; nothing is sent."""
    owner = generation.owner
    limits = allowances(owner, generation.created_at, lock=True)
    try:
        units = estimate_units(generation.request_body)
    except PriceUnknown as error:
        if limits:
            raise OverBudget(
                f"Not sent: {error} Ask an admin to add it to the price table."
            ) from None
        units = Decimal(0)
    for allowance in limits:
        if allowance.spent + units > allowance.limit:
            raise OverBudget(allowance.refusal(units))
    charge = Charge.objects.create(
        generation=generation,
        owner=owner,
        created_at=generation.created_at,
        model_name=generation.model_name,
        estimated_units=units,
    )
    SpendMonth.add(charge, charge.counts(), videos=1)
    body = generation.request_body
    audit.record(
        owner,
        "generation.submit",
        generation,
        after={
            "model_name": generation.model_name,
            "mode": body.get("mode", ""),
            "duration": body.get("duration"),
            "estimated_units": units,
        },
    )
    return charge


def summary(user, now: datetime | None = None) -> dict:
    """What the studio shows: the budgets, the tightest one's units left (None: no budget),
    and whether to warn (80 % used)."""
    found = allowances(user, now)
    left = min((a.left for a in found), default=None)
    return {
        "allowances": found,
        "left": left,
        "warn": any(a.warn for a in found),
    }


def month_spend(start: datetime) -> dict:
    """The spend page's numbers for the month starting at `start`: per person and per model,
    each with the units the upstream charged, the estimates still reserved, and the count
    of videos; read from the rollup (SpendMonth), a few rows whatever the history."""
    sums = {
        "units": Sum("units"),
        "charged": Sum("charged"),
        "reserved": Sum("reserved"),
        "videos": Sum("videos"),
    }
    month = SpendMonth.objects.filter(month=month_of(start), videos__gt=0)
    people = list(month.values("owner").annotate(**sums).order_by("-units", "owner"))
    users = get_user_model().objects.in_bulk([row["owner"] for row in people])
    limits = dict(Budget.objects.filter(user__in=users).values_list("user", "monthly_units"))
    for row in people:
        row["user"] = users[row["owner"]]
        row["budget"] = limits.get(row["owner"])
    models = list(month.values("model_name").annotate(**sums).order_by("-units", "model_name"))
    team = Budget.objects.filter(user__isnull=True).first()
    return {
        "people": people,
        "models": models,
        "total": sum((row["units"] for row in people), Decimal(0)),
        "team_budget": team.monthly_units if team else None,
    }


def recount(sender: type, generation: Generation, **kwargs) -> None:
    """The receiver of generation_charged: the generation's charge and its month's rollup
    take the new figure, in the transition's transaction (PostgreSQL: the charge's row
    locked, so two reports of one task count once)."""
    charges = Charge.objects.filter(generation_id=generation.pk)
    if connection.features.has_select_for_update:
        charges = charges.select_for_update()
    charge = charges.first()
    if charge is not None:
        charge.recount(generation)


def forget(sender: type, instance: Charge, **kwargs) -> None:
    """A charge deleted (with its generation) leaves its month's rollup."""
    counts = instance.counts()
    SpendMonth.add(instance, {key: -value for key, value in counts.items()}, videos=-1)


def rebuild_rollup() -> int:
    """Count every charge into SpendMonth afresh (after charges were changed outside the
    studio, e.g. by hand in the database); the same sums migration review/0007 made.
    Returns the number of rows written."""
    from studio.review.migrations import _rollup

    with transaction.atomic():
        SpendMonth.objects.all().delete()
        return _rollup.fill_rollup(Charge, Generation, SpendMonth)


post_delete.connect(forget, sender=Charge, dispatch_uid="review-spend-forget")
