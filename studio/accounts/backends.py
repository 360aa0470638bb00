"""Sign-in backend: Django's ModelBackend, with a user's permissions read in one query.

Roles are groups (studio/accounts/roles.py) and the queue poll checks one on every request,
every 2 s for each open studio page. ModelBackend reads user and group permissions with
two ORM queries, and building them cost more than the rest of the poll; this reads the
same set with one plain SQL query (tests/test_auth_backend.py compares the two)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connections, router


def _permissions_sql() -> str:
    user_model = get_user_model()
    permission = Permission._meta.db_table
    content_type = ContentType._meta.db_table
    user_perms = user_model._meta.get_field("user_permissions").remote_field.through._meta
    user_groups = user_model._meta.get_field("groups").remote_field.through._meta
    group_perms = Group._meta.get_field("permissions").remote_field.through._meta
    return (
        f"SELECT ct.app_label, p.codename FROM {permission} p "
        f"JOIN {content_type} ct ON ct.id = p.content_type_id "
        f"WHERE p.id IN ("
        f"SELECT permission_id FROM {user_perms.db_table} WHERE user_id = %s "
        f"UNION SELECT gp.permission_id FROM {group_perms.db_table} gp "
        f"JOIN {user_groups.db_table} ug ON ug.group_id = gp.group_id WHERE ug.user_id = %s)"
    )


def _user_sql() -> str:
    user_model = get_user_model()
    quote = connections["default"].ops.quote_name
    columns = ", ".join(quote(field.column) for field in user_model._meta.concrete_fields)
    pk = user_model._meta.pk.column
    return f"SELECT {columns} FROM {user_model._meta.db_table} WHERE {pk} = %s"


class StudioModelBackend(ModelBackend):
    _sql: str | None = None
    _user_sql: str | None = None

    def get_user(self, user_id):
        """The session's user, as ModelBackend finds it (an active account with this
        primary key), read with a raw query: the same row and field conversions, without
        building an ORM query on every request."""
        user_model = get_user_model()
        try:
            pk = user_model._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        if StudioModelBackend._user_sql is None:
            StudioModelBackend._user_sql = _user_sql()
        found = list(user_model._default_manager.raw(StudioModelBackend._user_sql, [pk]))
        if not found:
            return None
        return found[0] if self.user_can_authenticate(found[0]) else None

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                return super().get_all_permissions(user_obj, obj)
            if StudioModelBackend._sql is None:
                StudioModelBackend._sql = _permissions_sql()
            connection = connections[router.db_for_read(Permission)]
            with connection.cursor() as cursor:
                cursor.execute(StudioModelBackend._sql, [user_obj.pk, user_obj.pk])
                user_obj._perm_cache = {f"{app}.{codename}" for app, codename in cursor}
        return user_obj._perm_cache
