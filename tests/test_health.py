"""`/healthz`: 200 "ok" when the database answers, 503 when it does not; no sign-in."""

from __future__ import annotations

import pytest
from django.db import DatabaseError
from django.test import Client

pytestmark = pytest.mark.django_db


def test_it_answers_ok_without_a_sign_in_and_is_not_cached():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]


def test_it_says_503_when_the_database_does_not_answer(monkeypatch, caplog):
    from studio import health

    class Broken:
        def cursor(self):
            raise DatabaseError("connection refused")

    monkeypatch.setattr(health, "connection", Broken())
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert b"connection refused" not in response.content  # nothing about the database shown
    assert "did not answer" in caplog.text


def test_it_only_reads():
    assert Client().post("/healthz").status_code in (403, 405)
