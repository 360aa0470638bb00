"""Scripted faults (prompt keywords) and random faults (`fault_rate`), and the answers they give.

Put a keyword anywhere in the prompt (`#fail`, `#rate-1302`, ...). "First attempt" faults hit
only the first create attempt for that `external_task_id` (for creates without one: for that
exact prompt text); the retry then goes through. "Always" faults hit every attempt.

| Keyword | Hits | Effect |
|---|---|---|
| `#fail-moderation` | task | ends `failed`, msg "content moderation did not pass" (HTTP 200) |
| `#fail` | task | ends `failed`, msg "video generation failed, please try again" |
| `#stall` | task | reaches `processing` and stays there forever |
| `#expire` | video | the task succeeds but its video URL answers 403 at once |
| `#poll-flaky` | queries | the 1st, 3rd, 5th... query of the task answers 500/5000 |
| `#poll-no-task` | queries | the 1st, 3rd, 5th... query answers a 200 success with `data: null` |
| `#poll-rate-1302` | queries | the 1st, 3rd, 5th... query answers 429/1302 + `Retry-After` |
| `#reject-1301` | every create | 400/1301 content-safety rejection; nothing created |
| `#rate-1302` | first create | 429/1302 + `Retry-After: 1`; nothing created |
| `#busy-1303` | first create | 429/1303 + `Retry-After: 1`; nothing created |
| `#error-5000` | first create | 500/5000; nothing created |
| `#unavailable-5001` | first create | 503/5001 + `Retry-After: 1`; nothing created |
| `#ambiguous-504` | first create | the task IS created, then 504/5002 is returned |
| `#create-no-task` | first create | the task IS created, then a 200 success with `data: null` |
| `#malformed` | first create | 200 with a truncated JSON body; nothing created |
| `#slow` | first create | the task is created; the answer comes after `slow_seconds` |
| `#comet-invalid-request` | every create | 500 Comet envelope, code invalid_request; nothing made |
| `#comet-524` | first create | 524 Comet envelope; nothing created |
| `#html-301` | every create | 301 with an HTML body and a `Location` header; nothing created |

A retry of an ambiguous or slow create with the same `external_task_id` gets 400/1201
(duplicate): reconcile by querying the external id instead.

Random faults: with `fault_rate` > 0 each API request (create, query, list, video download;
never /_sim/stats or /_sim/config) gets, with that probability, one of: 500/5000, 429/1302 +
Retry-After, a slow answer (`slow_seconds`), a 200 with malformed JSON, or on creates only an
ambiguous 504/5002 after the task was created. Video downloads only get 500, 429 or slow.
`seed` makes the sequence repeatable.
"""

from __future__ import annotations

import re

from .wire import Response, comet_error, kling_error, ok

FAIL_MESSAGES = {
    "fail-moderation": "content moderation did not pass",
    "fail": "video generation failed, please try again",
}

# Create-time faults in the order they win when a prompt carries several.
SUBMIT_FAULTS = (
    "html-301",
    "comet-invalid-request",
    "reject-1301",
    "rate-1302",
    "busy-1303",
    "error-5000",
    "unavailable-5001",
    "comet-524",
    "malformed",
    "ambiguous-504",
    "create-no-task",
    "slow",
)
ALWAYS = frozenset({"html-301", "comet-invalid-request", "reject-1301"})
# These make the task before answering, which is what makes them ambiguous for the client.
CREATES_TASK = frozenset({"ambiguous-504", "create-no-task", "slow"})

RANDOM_CREATE = ("error-5000", "rate-1302", "slow", "malformed", "ambiguous-504")
RANDOM_QUERY = ("error-5000", "rate-1302", "slow", "malformed")
RANDOM_VIDEO = ("error-5000", "rate-1302", "slow")

_KEYWORD = re.compile(r"#([a-z0-9][a-z0-9-]*)")

MALFORMED_BODY = b'{"code": 0, "message": "SUCCEED", "data": {"task_id": "8800'

HTML_301 = (
    "<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n"
    "<center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def keywords(prompt: str) -> frozenset[str]:
    """The `#keywords` in a prompt, lower-cased; `#fail` and `#fail-moderation` are distinct."""
    return frozenset(_KEYWORD.findall(prompt.lower()))


def submit_fault(words: frozenset[str], attempt: int) -> str:
    """The create-time fault for this attempt (1-based), or "" for none."""
    for name in SUBMIT_FAULTS:
        if name in words and (name in ALWAYS or attempt == 1):
            return name
    return ""


def outcome(words: frozenset[str]) -> tuple[str, str]:
    """The final status a prompt's task reaches and its `task_status_msg`."""
    if "stall" in words:
        return "stall", ""
    for name, message in FAIL_MESSAGES.items():
        if name in words:
            return "failed", message
    return "succeed", ""


def response(kind: str, retry_after: int) -> Response:
    """The answer a fault gives (for the creating faults: the answer after the task exists)."""
    if kind == "html-301":
        return Response(
            301,
            HTML_301.encode(),
            "text/html",
            (("Location", "https://www.cometapi.com/"),),
        )
    if kind == "comet-invalid-request":
        return comet_error(500, "invalid request", "invalid_request")
    if kind == "comet-524":
        return comet_error(524, "upstream request timed out", "")
    if kind == "reject-1301":
        return kling_error(400, 1301, "Content security policy triggered: the prompt was rejected")
    if kind in ("rate-1302", "poll-rate-1302"):
        return kling_error(429, 1302, "request too fast, please slow down", retry_after)
    if kind == "busy-1303":
        return kling_error(429, 1303, "parallel task over resource pack limit", retry_after)
    if kind == "error-5000":
        return kling_error(500, 5000, "server internal error")
    if kind == "unavailable-5001":
        return kling_error(503, 5001, "service temporarily unavailable", retry_after)
    if kind == "ambiguous-504":
        return kling_error(504, 5002, "server internal timeout, please try again later")
    if kind == "malformed":
        return Response(200, MALFORMED_BODY, "application/json")
    if kind in ("create-no-task", "poll-no-task"):
        # A success in a shape the client does not know (docs/upstream.md §15: gateways wrap
        # or drop the task object).
        return ok(None)
    raise ValueError(f"no canned answer for fault {kind!r}")
