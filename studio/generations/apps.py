"""App config for generations: the pipeline from form to stored video."""

from django.apps import AppConfig
from django.db.models.signals import post_delete


class GenerationsConfig(AppConfig):
    name = "studio.generations"
    verbose_name = "Generations"

    def ready(self) -> None:
        from studio.generations import media, pictures
        from studio.generations.models import Generation, InputImage

        post_delete.connect(
            media.remove_deleted_files, sender=Generation, dispatch_uid="generation-files"
        )
        post_delete.connect(
            pictures.remove_deleted_file, sender=InputImage, dispatch_uid="input-image-file"
        )
