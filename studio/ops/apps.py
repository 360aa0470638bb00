"""App config for ops: keeping the studio alive for a year: backups and restores, video
retention, orphaned files. The top of the app graph beside composer: it may import every
other app, and nothing imports it."""

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "studio.ops"
    verbose_name = "Backups and storage"
