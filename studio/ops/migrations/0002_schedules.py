"""The schedules of studio/ops/tasks.py: every 10 minutes a look whether a backup is due,
every hour retention. Both do nothing unless their settings turn them on.

Idempotent: keyed by unique names, so running it again changes nothing. A backup may run
longer than Q_CLUSTER's 120 s timeout, so its task gets its own (6 h). That breaks docs/reliability.md R3's
"retry exceeds timeout" on the ORM broker (docs/reliability.md R3): after `retry` the task
is handed out again, and the copy finds the storage lease held and returns at once."""

from django.db import migrations

SCHEDULES = {
    "studio-backup": {
        "func": "studio.ops.tasks.backup_if_due",
        "minutes": 10,
        "kwargs": "q_options={'timeout': 21600}",
    },
    "studio-retention": {"func": "studio.ops.tasks.run_retention", "minutes": 60, "kwargs": ""},
}


def create_schedules(apps, schema_editor) -> None:
    Schedule = apps.get_model("django_q", "Schedule")
    for name, fields in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={**fields, "schedule_type": "I", "repeats": -1},  # "I": Schedule.MINUTES
        )


def delete_schedules(apps, schema_editor) -> None:
    apps.get_model("django_q", "Schedule").objects.filter(name__in=SCHEDULES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedules, delete_schedules)]
