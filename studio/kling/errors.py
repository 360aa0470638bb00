"""The one error-code table: for each code, whether a retry can help, the sentence for the
person who asked for the video, and the hint of what they can do about it.

The client reads `retryable` and `maybe_created` (docs/upstream.md §9, §12.6), the pipeline
and the poller write `explain(...)` or `sentence(...)` into a failed row, and the generation
page shows `hint(...)`. Codes are strings: Kling's numbers ("1301"), CometAPI's and new-api's
words ("invalid_request"), and the studio's own ("timeout").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from studio.kling.types import KlingError


@dataclass(frozen=True)
class Code:
    retryable: bool  # the same call may work later (the studio retries it by itself)
    # A format string over {detail} (the upstream's message) or the step's own facts.
    # "" means the plain sentence for the HTTP status (see `explain`).
    sentence: str = ""
    hint: str = ""  # what the person can do; "" when the sentence already says it
    maybe_created: bool = False  # a create answered with this may still have made a task


def final(sentence: str = "", hint: str = "") -> Code:
    return Code(retryable=False, sentence=sentence, hint=hint)


def transient(hint: str = "", *, maybe_created: bool = False) -> Code:
    return Code(retryable=True, hint=hint, maybe_created=maybe_created)


MODERATION = (
    "Content moderation refused this request. Rephrase the prompt (and the negative "
    "prompt), then use Remix to send the edited version."
)
CREDIT = (
    "The API account is out of credit. Top up the CometAPI balance (or the Kling "
    "resource pack), then use Run again."
)
BUSY = (
    "The upstream was busy (rate or concurrency limit). The studio retries these by "
    "itself with a growing pause; if it still failed, use Run again a little later."
)
TIMEOUT = (
    "The upstream never finished this task. Run again; if it keeps happening, try a "
    "shorter duration or std mode."
)
EXPIRED = "The finished video's link expired before it could be copied. Run again."

KEY_REFUSED = "The studio's API key was refused; an admin needs to check it."
REJECTED = "The request was rejected: {detail}."
REFUSED = "The API refused the request: {detail}."

# docs/upstream.md §9.1: Kling's business codes (HTTP status in the comment).
KLING: dict[str, Code] = {
    "1000": final(KEY_REFUSED),  # 401 authentication failed
    "1001": final(KEY_REFUSED),  # 401 Authorization header empty
    "1002": final(KEY_REFUSED),  # 401 Authorization invalid
    "1003": final(KEY_REFUSED),  # 401 token not yet valid
    "1004": final(KEY_REFUSED),  # 401 token expired
    "1100": final(hint=CREDIT),  # 429 account exception
    "1101": final("The API account is in arrears; an admin needs to top it up.", CREDIT),
    # 429, yet a used-up resource pack is not transient.
    "1102": final("The API account has no credit left; an admin needs to buy more.", CREDIT),
    "1103": final("The API account may not use this model."),  # 403
    "1200": final(REJECTED),  # 400 invalid request parameters
    "1201": final(REJECTED),  # 400 invalid parameter; capability violations land here
    "1202": final(),  # 404 invalid request method
    "1203": final("This model is not available through the API ({detail})."),  # 404
    "1300": final(
        "The request was blocked by the platform policy. Change the prompt and try again.",
        MODERATION,
    ),
    "1301": final(
        "The prompt was blocked by the content-safety policy. Change the prompt and try again.",
        MODERATION,
    ),
    "1302": transient(BUSY),  # 429 requests too fast
    "1303": transient(BUSY),  # 429 concurrency over the resource-pack limit
    "1304": final("The API refused this server's address (IP whitelist)."),  # 429
    # §11: a create answered with these may have made a task anyway.
    "5000": transient(maybe_created=True),  # 500 internal error
    "5001": transient(maybe_created=True),  # 503 maintenance
    "5002": transient(maybe_created=True),  # 504 internal timeout
}

# §9.2: CometAPI's own envelope. Its other codes (often "") leave it to the HTTP status.
COMET: dict[str, Code] = {
    "invalid_request": final(),  # a malformed request, even when it comes as a 500
}

# Codes the client makes up for answers that carry none.
CLIENT: dict[str, Code] = {
    # §9.2: a redirect means a wrong base URL or path; following it never helps.
    "redirect": final("The API address is misconfigured; an admin needs to check it."),
    # A 2xx body that is not a Kling answer: the call may have worked, asking again can help.
    "malformed": transient(maybe_created=True),
}

# The studio's own steps, when they give up on a generation.
STUDIO: dict[str, Code] = {
    "submit_attempts": final(
        "The studio could not submit this video after {attempts} attempts. Last error: {last_error}"
    ),
    "no_task_id": final("The upstream task id was lost."),
    "timeout": final(
        "The video was still not ready after {minutes} minutes, so the studio stopped "
        "waiting for it.",
        TIMEOUT,
    ),
    "expired": final("The video link expired before it could be saved", EXPIRED),
    "download": final("The video could not be saved: {detail}"),
    "download_attempts": final("The video could not be saved after {attempts} attempts: {detail}"),
    "image_missing": final("The picture this video starts from is no longer in storage."),
    # docs/reliability.md R57: the row waits for an admin, nothing is sent meanwhile.
    "unreconciled": final(
        "The studio could not find out whether this video was created upstream: {detail} "
        "It is not sent again on a guess.",
        "Nothing more is sent or charged while it waits. An admin decides: retry it (the "
        "studio looks it up once more, then sends it with the same id) or mark it failed.",
    ),
    "attention_failed": final(
        "Marked failed by an admin: whether it was created upstream stayed unknown.",
        "If it was made and charged, the upstream account's task list shows it. Use Run "
        "again to make it anew.",
    ),
}
UNRECONCILED_EMPTY = (
    "{lookups} lookups by its id found nothing after an unclear answer ({last_error})."
)
UNRECONCILED_FAILED = "{lookups} lookups by its id failed ({last_error})."

CODES: dict[str, Code] = {**KLING, **COMET, **CLIENT, **STUDIO}
# What the client can be told or make: an upstream code never means a studio step.
_WIRE: dict[str, Code] = {**KLING, **COMET, **CLIENT}

# §9.2: statuses where the same call may work later, for codes the table does not know.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504, 524})

# Failure reasons without a known code (a failed task's task_status_msg, §9.4, or an
# error's text): words that tell which hint fits, tried in this order.
_WORDS = (
    (MODERATION, r"moderation|content.safety|policy|sensitive"),
    (BUSY, r"rate limit|too (many|fast)|parallel task|concurren"),
    (CREDIT, r"balance|arrears|credit|resource pack|quota"),
    (TIMEOUT, r"still not ready"),
    (EXPIRED, r"expired"),
)


def _hint_pattern(hint: str, words: str) -> re.Pattern[str]:
    codes = "|".join(code for code, row in KLING.items() if row.hint == hint)
    return re.compile(rf"\b({codes})\b|{words}" if codes else words, re.I)


_HINTS = tuple((hint, _hint_pattern(hint, words)) for hint, words in _WORDS)


def retryable(code: str, http_status: int | None) -> bool:
    """Whether the same call may work later: by the code when the table knows it, else
    by the HTTP status (§9.2)."""
    row = _WIRE.get(code)
    if row is not None:
        return row.retryable
    return http_status in RETRYABLE_STATUSES


def maybe_created(code: str, http_status: int | None) -> bool:
    """Whether a create answered like this may still have made a task (§12.6): a 5xx or a
    server-side code, unless the code says the request was refused."""
    row = _WIRE.get(code)
    if row is not None and not row.retryable:
        return False
    return (http_status or 0) >= 500 or (row is not None and row.maybe_created)


def explain(error: KlingError) -> str:
    """The sentence for the person who asked, when the upstream refused their video."""
    row = _WIRE.get(error.code)
    template = row.sentence if row else ""
    if not template:
        template = {401: KEY_REFUSED, 400: REJECTED}.get(error.http_status or 0, REFUSED)
    return template.format(detail=error.message.strip().rstrip("."))


def sentence(code: str, **facts: object) -> str:
    """The sentence for one of the studio's own codes, filled in with the step's facts."""
    return STUDIO[code].sentence.format(**facts)


def hint(code: str, *reasons: str) -> str:
    """What to do about a failure: the code's hint when the table knows the code, else
    the first hint whose words match the code or a reason; "" when nothing fits."""
    row = CODES.get(code)
    if row is not None:
        return row.hint
    for text in (code, *reasons):
        for advice, pattern in _HINTS:
            if text and pattern.search(text):
                return advice
    return ""
