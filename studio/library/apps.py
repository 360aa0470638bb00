"""App config for the library: prompts, versions, tags, stars, presets, templates, batches."""

from django.apps import AppConfig


class LibraryConfig(AppConfig):
    name = "studio.library"
    verbose_name = "Prompt library"
