"""Shots and takes: every generation so far starts a shot of its own (take 1). The frame
rate of each stored video, read from its file; a file that cannot be read keeps None and
its timecodes assume 24 fps (Generation.fps says so on the page)."""

import uuid

import av
import django.db.models.deletion
import django.utils.timezone
from django.core.files.storage import default_storage
from django.db import migrations, models


def shots_for_every_generation(apps, schema_editor) -> None:
    Generation = apps.get_model("generations", "Generation")
    Shot = apps.get_model("generations", "Shot")
    rows = Generation.objects.filter(shot__isnull=True).values_list("pk", "created_at")
    for pk, created_at in rows.iterator():
        shot = Shot.objects.create(created_at=created_at, takes_made=1)
        Generation.objects.filter(pk=pk).update(shot=shot, take=1)


def read_fps(name: str) -> float | None:
    try:
        with default_storage.open(name, "rb") as handle, av.open(handle) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    except (av.error.FFmpegError, OSError, ValueError):
        return None
    fps = float(rate) if rate else 0.0
    return round(fps, 3) if 1 <= fps <= 240 else None


def frame_rates(apps, schema_editor) -> None:
    Generation = apps.get_model("generations", "Generation")
    rows = Generation.objects.exclude(video="").filter(video_fps__isnull=True)
    for pk, name in rows.values_list("pk", "video").iterator():
        fps = read_fps(name)
        if fps is not None:
            Generation.objects.filter(pk=pk).update(video_fps=fps)


class Migration(migrations.Migration):

    dependencies = [
        ('generations', '0007_worker_vitals'),
    ]

    operations = [
        migrations.CreateModel(
            name='Shot',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('takes_made', models.PositiveIntegerField(default=1)),
            ],
        ),
        migrations.AddField(
            model_name='generation',
            name='take',
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name='generation',
            name='video_fps',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='generation',
            name='shot',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='takes', to='generations.shot'),
        ),
        migrations.RunPython(shots_for_every_generation, migrations.RunPython.noop),
        migrations.RunPython(frame_rates, migrations.RunPython.noop),
    ]
