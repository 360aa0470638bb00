"""App config for the composer: the studio page, where a request is composed from presets,
prompt versions, variations and the budget, and the live queue under it."""

from django.apps import AppConfig


class ComposerConfig(AppConfig):
    name = "studio.composer"
    verbose_name = "Studio page"
