"""The three roles as Django groups, what each may do, and every permission the code checks
(use these constants, never a permission string: views take them through decorators.py).

- creator: submits videos and keeps an own library (generations.add_generation, the
  library's permissions, the team gallery). New accounts start as creators.
- reviewer: the review queue and the team gallery's curation (review.review_generation);
  sees every finished video and the team's spend per person (README, "Roles"); only
  admins set budgets. Uses the Django admin, so a reviewer is staff.
- admin: every permission (users, budgets, spend, the task queue; approving their own
  videos, which reviewers may only with STUDIO_ALLOW_SELF_APPROVAL); staff.

Who sees which generation (Generation.objects.visible_to): the owner sees their own;
anyone with a role sees approved ones (the team gallery); reviewers also see every
finished one; admins see everything. A signed-in account without a role gets 403s.
"""

from __future__ import annotations

CREATOR, REVIEWER, ADMIN = "creator", "reviewer", "admin"
STAFF_ROLES = (REVIEWER, ADMIN)  # roles that work in the Django admin

SUBMIT = "generations.add_generation"
GALLERY = "review.view_team_gallery"
REVIEW = "review.review_generation"
SPEND = "review.view_spend"
SEE_ALL = "review.see_all_generations"
APPROVE_OWN = "review.approve_own_generation"  # admins: past STUDIO_ALLOW_SELF_APPROVAL
LIBRARY = "library.view_prompt"  # works in the library (creators and admins)
STORAGE = "ops.manage_storage"  # retention preview and runs, backups: admins
HEALTH = "ops.view_health"  # the health page: admins
RESOLVE = "generations.resolve_generation"  # decide a generation that needs attention: admins

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    CREATOR: (SUBMIT, GALLERY, "library.*"),
    REVIEWER: (
        GALLERY,
        REVIEW,
        SPEND,
        "generations.view_generation",
        "review.view_review",
        "review.view_decision",
    ),
    ADMIN: ("*",),
}


def ensure_roles(apps=None) -> None:
    """Create the groups and give them their permissions; safe to run again (a data
    migration runs it, and so does every `migrate`, so new permissions reach the admin)."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    apps = apps or global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_config in apps.get_app_configs():
        # Permissions are normally made after all migrations; make them now.
        missing_module = getattr(app_config, "models_module", None) is None
        if missing_module:
            app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        if missing_module:
            app_config.models_module = None
    for role, patterns in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = Permission.objects.none()
        for pattern in patterns:
            app_label, _, codename = pattern.partition(".")
            if pattern == "*":
                wanted = wanted | Permission.objects.all()
            elif codename == "*":
                wanted = wanted | Permission.objects.filter(content_type__app_label=app_label)
            else:
                wanted = wanted | Permission.objects.filter(
                    content_type__app_label=app_label, codename=codename
                )
        group.permissions.add(*wanted.distinct())
