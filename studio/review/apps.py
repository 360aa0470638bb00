"""App config for review: roles, review decisions, the team gallery, spend and budgets, audit."""

from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "studio.review"
    verbose_name = "Review, spend and audit"

    def ready(self) -> None:
        from studio.review import signals  # noqa: F401  (connects the receivers)
