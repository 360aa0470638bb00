"""The review facts the list pages index (Generation.reviewed, Generation.team_visible, added
by generations/0011) filled in from the verdicts given before; Review.decide keeps them."""

from django.db import migrations


def fill(apps, schema_editor) -> None:
    Generation = apps.get_model("generations", "Generation")
    Review = apps.get_model("review", "Review")
    reviewed = Review.objects.values("generation_id")
    approved = reviewed.filter(verdict="approved", generation__status="succeeded")
    Generation.objects.filter(pk__in=reviewed).update(reviewed=True)
    Generation.objects.filter(pk__in=approved).update(team_visible=True)


def empty(apps, schema_editor) -> None:
    Generation = apps.get_model("generations", "Generation")
    Generation.objects.update(reviewed=False, team_visible=False)


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0005_review_news_seen"),
        ("generations", "0011_review_facts_and_page_indexes"),
    ]

    operations = [migrations.RunPython(fill, empty)]
