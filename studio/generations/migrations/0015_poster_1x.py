"""A second poster at a tile's width beside the one at twice it (high-density screens); rows
stored before keep only the larger one until `manage.py posters` makes the other."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('generations', '0014_archived'),
    ]

    operations = [
        migrations.AddField(
            model_name='generation',
            name='poster_1x',
            field=models.FileField(blank=True, upload_to='posters/%Y/%m/'),
        ),
        migrations.AddField(
            model_name='generation',
            name='poster_1x_bytes',
            field=models.BigIntegerField(blank=True, null=True),
        ),
    ]
