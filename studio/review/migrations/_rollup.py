"""The spend rollup's sums, shared by migration 0005 (historical models) and
budgets.rebuild_rollup (the app's): each charge takes its generation's units_charged and
failure, then one SpendMonth row per month (studio time zone), person and model.
The leading underscore keeps Django's migration loader from reading it as a migration."""

from decimal import Decimal

from django.db import models
from django.db.models import Case, Count, Exists, F, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import TruncMonth
from django.utils import timezone


def fill_rollup(Charge, Generation, SpendMonth) -> int:  # noqa: N803 (model classes)
    made = Generation.objects.filter(pk=OuterRef("generation_id"))
    Charge.objects.update(
        units_charged=Subquery(made.values("units_charged")[:1]),
        failed=Exists(made.filter(status="failed")),
    )
    units = models.DecimalField(max_digits=10, decimal_places=3)
    zero = Value(Decimal(0), output_field=units)
    reported = models.Q(units_charged__isnull=False)
    spent = Case(
        When(reported, then=F("units_charged")),
        When(failed=True, then=zero),
        default=F("estimated_units"),
        output_field=units,
    )
    reserved = Case(
        When(reported | models.Q(failed=True), then=zero),
        default=F("estimated_units"),
        output_field=units,
    )
    charged = Case(When(reported, then=F("units_charged")), default=zero, output_field=units)
    month = TruncMonth("created_at", tzinfo=timezone.get_current_timezone())
    rows = (
        Charge.objects.annotate(month=month)
        .values("month", "owner_id", "model_name")
        .annotate(
            total=Sum(spent), charged_sum=Sum(charged), reserved_sum=Sum(reserved), n=Count("pk")
        )
        .order_by()
    )
    made_rows = [
        SpendMonth(
            month=timezone.localtime(row["month"]).date(),
            owner_id=row["owner_id"],
            model_name=row["model_name"],
            units=row["total"],
            charged=row["charged_sum"],
            reserved=row["reserved_sum"],
            videos=row["n"],
        )
        for row in rows
    ]
    SpendMonth.objects.bulk_create(made_rows, batch_size=1000)
    return len(made_rows)
