"""The sign-in backend reads permissions in one query and gives Django's answers."""

from __future__ import annotations

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from studio.accounts.backends import StudioModelBackend
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def fresh(user):
    return type(user).objects.get(pk=user.pk)  # no permission cache


@pytest.fixture
def people():
    perms = list(Permission.objects.order_by("pk")[:6])
    group, other = Group.objects.create(name="g1"), Group.objects.create(name="g2")
    group.permissions.add(perms[0], perms[1])
    other.permissions.add(perms[1], perms[2])
    both = make_user("both")
    both.groups.add(group, other)
    both.user_permissions.add(perms[3], perms[0])
    direct = make_user("direct")
    direct.user_permissions.add(perms[4])
    return {
        "groups and direct": both,
        "direct only": direct,
        "nothing": make_user("plain"),
        "inactive": make_user("gone", is_active=False),
        "superuser": make_user("root", is_superuser=True),
    }


@pytest.mark.parametrize(
    "who", ["groups and direct", "direct only", "nothing", "inactive", "superuser"]
)
def test_the_permissions_are_the_ones_django_reads(people, who):
    user = people[who]
    assert StudioModelBackend().get_all_permissions(fresh(user)) == (
        ModelBackend().get_all_permissions(fresh(user))
    )


def test_a_permission_check_costs_one_query(people):
    user = fresh(people["groups and direct"])
    some = next(iter(ModelBackend().get_all_permissions(fresh(user))))
    with CaptureQueriesContext(connection) as queries:
        assert user.has_perm(some)
        assert not user.has_perm("nope.nothing")
    assert len(queries) == 1


def test_signing_in_uses_it(client, people):
    people["nothing"].set_password("a-long-test-password")
    people["nothing"].save()
    response = client.post("/login/", {"username": "plain", "password": "a-long-test-password"})
    assert response.status_code == 302
    assert client.session["_auth_user_backend"] == "studio.accounts.backends.StudioModelBackend"
