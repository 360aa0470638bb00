"""The suite's guard against unnoticed 500s (tests/conftest.py no_server_errors): a view
that raises, or answers 500, fails the test it ran in unless the test is marked."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.urls import include, path

from tests.conftest import ServerErrors

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def boom(request: HttpRequest) -> HttpResponse:
    raise ZeroDivisionError("boom")


def plain_500(request: HttpRequest) -> HttpResponse:
    return HttpResponseServerError("broken")


def busy(request: HttpRequest) -> HttpResponse:
    return HttpResponse("busy", status=503)


urlpatterns = [
    path("boom/", boom),
    path("plain-500/", plain_500),
    path("busy/", busy),
    path("", include("studio.urls")),  # sign-in and the rest, for the login middleware
]


def test_every_test_runs_under_the_guard(request) -> None:
    assert "no_server_errors" in request.fixturenames


@pytest.mark.server_error
def test_a_view_that_raises_fails_the_test(client, owner, no_server_errors: ServerErrors) -> None:
    client.raise_request_exception = False
    with ServerErrors() as errors:
        answer = client.get("/boom/")
    assert answer.status_code == 500
    with pytest.raises(pytest.fail.Exception, match=r"GET /boom/ raised ZeroDivisionError"):
        errors.check()
    assert no_server_errors.seen  # the autouse guard saw it too; the mark lets it pass


@pytest.mark.server_error
def test_a_raise_the_test_client_hands_to_the_test_is_seen_too(client, owner) -> None:
    with ServerErrors() as errors, pytest.raises(ZeroDivisionError):
        client.get("/boom/")  # a test could catch it and go on
    with pytest.raises(pytest.fail.Exception):
        errors.check()


@pytest.mark.server_error
def test_a_500_response_fails_the_test(client, owner) -> None:
    with ServerErrors() as errors:
        assert client.get("/plain-500/").status_code == 500
    with pytest.raises(pytest.fail.Exception, match="Internal Server Error: /plain-500/"):
        errors.check()
    errors.check(allowed=True)  # what the mark does


def test_other_answers_pass(client, owner, no_server_errors: ServerErrors) -> None:
    with ServerErrors() as errors:
        assert client.get("/busy/").status_code == 503
        assert client.get("/nowhere/").status_code == 404
    errors.check()
    assert errors.seen == [] and no_server_errors.seen == []


INNER = """
import pytest
from django.http import HttpResponseServerError
from django.urls import include, path

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def broken(request):
    return HttpResponseServerError("broken")


urlpatterns = [path("broken/", broken), path("", include("studio.urls"))]


def test_that_looks_only_at_something_else(client, owner):
    client.get("/broken/")


@pytest.mark.server_error
def test_that_says_it_means_it(client, owner):
    client.get("/broken/")
"""


def test_the_guard_fails_an_unmarked_test_in_a_real_run(pytester, monkeypatch) -> None:
    root = Path(__file__).resolve().parent.parent
    monkeypatch.setenv("PYTHONPATH", str(root))
    monkeypatch.delenv("DATABASE_URL", raising=False)  # its own SQLite file, not our database
    pytester.makeconftest("from tests.conftest import *  # noqa: F403")
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("--ds=studio.settings", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)  # the first passed its body, then its guard
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_that_looks_only_at_something_else*"])
    result.stdout.fnmatch_lines(["*The studio answered 500 during this test:*"])
