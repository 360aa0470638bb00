"""App config for the library: prompts, versions, tags, stars, presets, templates, batches."""

from django.apps import AppConfig


class LibraryConfig(AppConfig):
    name = "studio.library"
    verbose_name = "Prompt library"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from studio.generations.models import Generation
        from studio.generations.signals import generation_finished, generation_shared
        from studio.library import counters

        # The prompts' counters follow their generations (library/counters.py).
        post_save.connect(counters.made, sender=Generation, dispatch_uid="library-runs-made")
        post_delete.connect(counters.gone, sender=Generation, dispatch_uid="library-runs-gone")
        generation_finished.connect(counters.finished, dispatch_uid="library-runs-finished")
        generation_shared.connect(counters.shared, dispatch_uid="library-runs-shared")
