"""Comments on the timeline (threads, ranges, drawings), takes made from a note, and share
links. Every decision given so far with a comment becomes a thread at its moment."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def threads_from_decisions(apps, schema_editor) -> None:
    Decision = apps.get_model("review", "Decision")
    Comment = apps.get_model("review", "Comment")
    decisions = Decision.objects.exclude(comment="").select_related("reviewer")
    Comment.objects.bulk_create(
        [
            Comment(
                generation_id=decision.generation_id,
                author_id=decision.reviewer_id,
                author_name=decision.reviewer.username if decision.reviewer else "",
                body=decision.comment,
                verdict=decision.verdict,
                start_seconds=decision.at_seconds,
                created_at=decision.created_at,
            )
            for decision in decisions.iterator()
        ],
        batch_size=500,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('generations', '0008_shots_and_frame_rate'),
        ('library', '0001_initial'),
        ('review', '0003_approve_own_permission'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Comment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('author_name', models.CharField(max_length=150)),
                ('guest', models.BooleanField(default=False)),
                ('body', models.TextField()),
                ('verdict', models.CharField(blank=True, choices=[('approved', 'Approved'), ('changes', 'Changes requested'), ('rejected', 'Rejected')], max_length=10)),
                ('start_seconds', models.FloatField(blank=True, null=True)),
                ('end_seconds', models.FloatField(blank=True, null=True)),
                ('drawing', models.JSONField(blank=True, null=True)),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('edited_at', models.DateTimeField(blank=True, null=True)),
                ('resolved_at', models.DateTimeField(blank=True, null=True)),
                ('author', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('closed_by_take', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='generations.generation')),
                ('generation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='comments', to='generations.generation')),
                ('parent', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='replies', to='review.comment')),
                ('resolved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['created_at', 'pk'],
            },
        ),
        migrations.CreateModel(
            name='Retake',
            fields=[
                ('take', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='retake_of', serialize=False, to='generations.generation')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('note', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='retakes', to='review.comment')),
            ],
        ),
        migrations.CreateModel(
            name='ShareLink',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('token_hash', models.CharField(max_length=64, unique=True)),
                ('kind', models.CharField(choices=[('video', 'One video'), ('shot', "A shot's takes"), ('batch', 'A batch')], max_length=8)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('expires_at', models.DateTimeField()),
                ('password', models.CharField(blank=True, max_length=128)),
                ('can_comment', models.BooleanField(default=False)),
                ('revoked_at', models.DateTimeField(blank=True, null=True)),
                ('batch', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='library.batch')),
                ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('generation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='generations.generation')),
                ('revoked_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('shot', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='generations.shot')),
            ],
            options={
                'ordering': ['-created_at', '-pk'],
            },
        ),
        migrations.AddField(
            model_name='comment',
            name='share',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='comments', to='review.sharelink'),
        ),
        migrations.AddIndex(
            model_name='comment',
            index=models.Index(fields=['generation', 'parent'], name='review_comm_generat_efee6e_idx'),
        ),
        migrations.RunPython(threads_from_decisions, migrations.RunPython.noop),
    ]
