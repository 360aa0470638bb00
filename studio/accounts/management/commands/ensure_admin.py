"""Create the first admin account on a fresh database and print its password once."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from studio.accounts import roles


class Command(BaseCommand):
    help = "Create an admin account when no user exists yet; print its password once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options) -> None:
        users = get_user_model()
        if users.objects.exists():
            self.stdout.write("Accounts exist; sign in with yours (no new admin created).")
            return
        password = secrets.token_urlsafe(12)
        admin = users.objects.create_superuser(username=username, email="", password=password)
        # A creator already (new accounts are); every role, so the studio shows every page.
        admin.groups.add(*Group.objects.filter(name__in=(roles.REVIEWER, roles.ADMIN)))
        self.stdout.write(
            self.style.SUCCESS(
                "\n  First run: an admin account was created.\n"
                f"    username: {username}\n"
                f"    password: {password}\n"
                "  This password is shown only once; change it under Admin > Users.\n"
            )
        )
