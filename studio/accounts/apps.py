"""App config for accounts: login, the first admin, the layout's shared context."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "studio.accounts"
    verbose_name = "Accounts"
