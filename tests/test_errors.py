"""The error-code table: the upstream's codes as documented, and a sentence for each."""

from __future__ import annotations

import pytest

from studio.kling import errors
from studio.kling.types import KlingError

# docs/upstream.md §9.1, as Kling documents them.
KLING_RETRYABLE = {"1302", "1303", "5000", "5001", "5002"}
KLING_FINAL = {
    *("1000", "1001", "1002", "1003", "1004", "1100", "1101", "1102", "1103"),
    *("1200", "1201", "1202", "1203", "1300", "1301", "1304"),
}


def test_every_kling_code_is_in_the_table_with_the_documented_retry_answer() -> None:
    assert set(errors.KLING) == KLING_RETRYABLE | KLING_FINAL
    assert {code for code, row in errors.KLING.items() if row.retryable} == KLING_RETRYABLE
    assert errors.retryable("1102", 429) is False  # HTTP 429, but a used-up pack stays used up


@pytest.mark.parametrize("code", sorted(errors.KLING | errors.COMET | errors.CLIENT))
def test_every_upstream_code_has_a_sentence_that_names_no_placeholder(code: str) -> None:
    for status in (400, 401, 429, 500):
        sentence = errors.explain(KlingError("the detail.", http_status=status, code=code))
        assert sentence.endswith(".") and "{" not in sentence


@pytest.mark.parametrize(
    ("status", "sentence"),
    [
        (401, "The studio's API key was refused; an admin needs to check it."),
        (400, "The request was rejected: invalid model name."),
        (503, "The API refused the request: invalid model name."),
    ],
)
def test_a_code_the_table_does_not_know_is_explained_by_its_http_status(
    status: int, sentence: str
) -> None:
    error = KlingError("invalid model name.", http_status=status, code="task_failed")
    assert errors.explain(error) == sentence


def test_a_create_refused_by_a_final_code_made_no_task_even_on_a_5xx() -> None:
    assert errors.maybe_created("", 502) and errors.maybe_created("5002", 200)
    assert not errors.maybe_created("1201", 500)
    assert not errors.maybe_created("invalid_request", 500)
    assert not errors.maybe_created("1303", 429)


def test_the_studios_own_codes_never_decide_an_upstream_retry() -> None:
    # A gateway that says "timeout" means its own timeout, not the studio giving up.
    assert errors.retryable("timeout", 524) is True
    assert errors.sentence("timeout", minutes=20).startswith("The video was still not ready")
