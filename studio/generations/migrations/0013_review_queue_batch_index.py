"""The review queue's batch filter asks "has this batch a video waiting?" by index."""


from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('generations', '0012_storage_rollup'),
        ('library', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='generation',
            index=models.Index(fields=['batch', 'status', 'reviewed'], name='generation_batch_review'),
        ),
    ]
