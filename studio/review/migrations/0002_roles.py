"""The roles (creator, reviewer, admin) as groups with their permissions; existing accounts
become creators, superusers admins too; existing generations get the Charge their spend is
counted from. Idempotent: every `migrate` runs roles.ensure_roles again (signals.py)."""

from decimal import Decimal

from django.db import migrations


def forwards(apps, schema_editor) -> None:
    from studio.accounts import roles
    from studio.review import pricing

    roles.ensure_roles(apps)
    Group = apps.get_model("auth", "Group")
    User = apps.get_model("auth", "User")
    creator = Group.objects.get(name=roles.CREATOR)
    admin = Group.objects.get(name=roles.ADMIN)
    for user in User.objects.all():
        user.groups.add(creator)
        if user.is_superuser:
            user.groups.add(admin)
    Generation = apps.get_model("generations", "Generation")
    Charge = apps.get_model("review", "Charge")
    charges = []
    for g in Generation.objects.filter(charge__isnull=True).iterator():
        try:
            units = pricing.estimate_units(
                {"model_name": g.model_name, "mode": g.mode, "duration": g.duration}
            )
        except pricing.PriceUnknown:
            units = Decimal(0)
        charges.append(
            Charge(
                generation_id=g.pk,
                owner_id=g.owner_id,
                created_at=g.created_at,
                model_name=g.model_name,
                estimated_units=units,
            )
        )
    Charge.objects.bulk_create(charges, batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
