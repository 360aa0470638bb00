"""Spend from a rollup: SpendMonth (one row per month, person and model) and each charge's
copy of what its generation says (units_charged, failed), filled in here from the charges
and generations there are; budgets.reserve and budgets.recount keep them in step."""

from decimal import Decimal

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from studio.review.migrations._rollup import fill_rollup


def fill(apps, schema_editor) -> None:
    Charge = apps.get_model("review", "Charge")
    fill_rollup(
        Charge, apps.get_model("generations", "Generation"), apps.get_model("review", "SpendMonth")
    )


def empty(apps, schema_editor) -> None:
    apps.get_model("review", "SpendMonth").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0011_review_facts_and_page_indexes"),
        ("review", "0006_review_facts_backfill"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SpendMonth",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField()),
                ("model_name", models.CharField(max_length=40)),
                (
                    "units",
                    models.DecimalField(decimal_places=3, default=Decimal("0"), max_digits=10),
                ),
                (
                    "charged",
                    models.DecimalField(decimal_places=3, default=Decimal("0"), max_digits=10),
                ),
                (
                    "reserved",
                    models.DecimalField(decimal_places=3, default=Decimal("0"), max_digits=10),
                ),
                ("videos", models.IntegerField(default=0)),
            ],
        ),
        migrations.AddField(
            model_name="charge",
            name="failed",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="charge",
            name="units_charged",
            field=models.DecimalField(blank=True, decimal_places=3, max_digits=10, null=True),
        ),
        migrations.AddIndex(
            model_name="review",
            index=models.Index(
                fields=["verdict", "decided_at", "generation"], name="review_gallery_page"
            ),
        ),
        migrations.AddField(
            model_name="spendmonth",
            name="owner",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddConstraint(
            model_name="spendmonth",
            constraint=models.UniqueConstraint(
                fields=("month", "owner", "model_name"), name="one_spend_row_per_month"
            ),
        ),
        migrations.RunPython(fill, empty),
    ]
