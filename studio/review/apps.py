"""App config for review: roles, review decisions, the team gallery, spend and budgets, audit."""

from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "studio.review"
    verbose_name = "Review, spend and audit"

    def ready(self) -> None:
        from studio.generations.signals import generation_charged, generation_creating
        from studio.review import budgets, signals  # noqa: F401  (connects the receivers)

        # The budget guard, inside create_generation's transaction (generations/signals.py).
        generation_creating.connect(budgets.reserve, dispatch_uid="review-budget-guard")
        # The spend rollup follows each charge the upstream reports, in that transaction.
        generation_charged.connect(budgets.recount, dispatch_uid="review-spend-rollup")
