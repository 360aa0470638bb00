"""Disk use from a rollup: StorageMonth, one row per person and month made, filled in from
the files there are; Generation's transitions, retention and deletes keep it. And the index
the nav's "finished since" count needs (generations/activity.py)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Case, Count, Q, Sum, Value, When
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone


def fill(apps, schema_editor) -> None:
    """The rollup from the files there are (the sums Generation.objects.storage_use makes)."""
    Generation = apps.get_model("generations", "Generation")
    StorageMonth = apps.get_model("generations", "StorageMonth")
    video = Case(When(~Q(video=""), then=Coalesce("video_bytes", Value(0))), default=Value(0))
    poster = Case(When(~Q(poster=""), then=Coalesce("poster_bytes", Value(0))), default=Value(0))
    month = TruncMonth("created_at", tzinfo=timezone.get_current_timezone())
    rows = (
        Generation.objects.exclude(video="", poster="")
        .annotate(month=month)
        .values("owner_id", "month")
        .annotate(bytes=Sum(video + poster), videos=Count("pk", filter=~Q(video="")))
        .order_by()
    )
    StorageMonth.objects.bulk_create(
        [
            StorageMonth(
                owner_id=row["owner_id"],
                month=timezone.localtime(row["month"]).date(),
                bytes=row["bytes"],
                videos=row["videos"],
            )
            for row in rows
        ],
        batch_size=1000,
    )


def empty(apps, schema_editor) -> None:
    apps.get_model("generations", "StorageMonth").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0011_review_facts_and_page_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="StorageMonth",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField()),
                ("bytes", models.BigIntegerField(default=0)),
                ("videos", models.IntegerField(default=0)),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("owner", "month"), name="one_storage_row_per_month"
                    )
                ],
            },
        ),
        migrations.AddIndex(
            model_name="generation",
            index=models.Index(fields=["owner", "finished_at"], name="generation_owner_finished"),
        ),
        migrations.RunPython(fill, empty),
    ]
