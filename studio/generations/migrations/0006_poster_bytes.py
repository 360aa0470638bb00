"""Posters get a byte count beside the video's, so the spend page sums disk use in one query;
rows stored before are measured once here. Retention's mark: when a video was removed."""

from django.core.files.storage import default_storage
from django.db import migrations, models


def measure_posters(apps, schema_editor) -> None:
    Generation = apps.get_model("generations", "Generation")
    rows = Generation.objects.exclude(poster="").filter(poster_bytes__isnull=True)
    for pk, name in rows.values_list("pk", "poster").iterator():
        try:
            size = default_storage.size(name)
        except OSError:
            continue  # missing: `manage.py orphans` reports it
        Generation.objects.filter(pk=pk).update(poster_bytes=size)


class Migration(migrations.Migration):
    dependencies = [
        ("generations", "0005_queue_poll_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="poster_bytes",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="generation",
            name="video_removed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(measure_posters, migrations.RunPython.noop),
    ]
