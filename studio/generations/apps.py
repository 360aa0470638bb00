"""App config for generations: the pipeline from form to stored video."""

from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "studio.generations"
    verbose_name = "Generations"
