"""Prompt text: `{variables}` in templates, filling them, and word-level diffs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from django.conf import settings

# A variable is a short identifier in single braces: "{subject}", "{time_of_day}".
VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,39})\}")
TOKEN = re.compile(r"\s+|[^\s]+")


def variables(text: str) -> list[str]:
    """The variable names in `text`, in the order they first appear."""
    return list(dict.fromkeys(VARIABLE.findall(text or "")))


def fill(text: str, values: dict[str, str]) -> str:
    """`text` with each `{name}` replaced by values[name]; unknown names stay as they are."""
    return VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def too_many_variables(text: str) -> str | None:
    """The sentence refusing `text` as a template when it has more distinct variables than
    STUDIO_TEMPLATE_MAX_VARIABLES allows; None when it is within the limit."""
    names = variables(text)
    limit = settings.STUDIO_TEMPLATE_MAX_VARIABLES
    if len(names) <= limit:
        return None
    return f"The text has {len(names)} variables; the limit is {limit}."


def matches(template: str, text: str) -> bool:
    """Whether `text` is `template` itself or `template` with each variable filled in with
    at least one character (values may contain any text, the template's own words too).

    Linear in len(text): each literal piece between variables is searched for once, from
    where the previous one ended. Taking the earliest place for each piece is safe: it
    leaves the most text for the pieces after it, so if any way of filling the variables
    gives `text`, this one does. (The regex it replaces, one `(.+?)` per variable, tried
    every split and took seconds on eight variables and 60 characters.)"""
    if text == template:
        return True
    # split() alternates literal text and variable names: pieces[0], name, pieces[1], ...
    pieces = VARIABLE.split(template)[::2]
    if len(pieces) == 1:
        return False
    first, *middle, last = pieces
    if not (text.startswith(first) and text.endswith(last)):
        return False
    end = len(first)  # where the text not yet accounted for starts
    for piece in middle:
        found = text.find(piece, end + 1)  # + 1: the variable before it is not empty
        if found == -1:
            return False
        end = found + len(piece)
    return len(text) - len(last) > end


@dataclass(frozen=True)
class Piece:
    """One run of a word diff: `op` is "same", "added" or "removed"."""

    op: str
    text: str


def word_diff(old: str, new: str) -> list[Piece]:
    """The word-level changes from `old` to `new` (whitespace kept, so the text reads as is).
    Two changes with only a space between them read as one: "in thick fog" -> "at dusk"."""
    a, b = TOKEN.findall(old or ""), TOKEN.findall(new or "")
    runs: list[list[str]] = []  # [op, old text, new text], op "same" or "changed"
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        run = ["same" if op == "equal" else "changed", "".join(a[i1:i2]), "".join(b[j1:j2])]
        spaced = len(runs) >= 2 and runs[-1][0] == "same" and not runs[-1][1].strip()
        if run[0] == "changed" and spaced and runs[-2][0] == "changed":
            space = runs.pop()[1]
            runs[-1][1] += space + run[1]
            runs[-1][2] += space + run[2]
        else:
            runs.append(run)
    pieces: list[Piece] = []
    for op, removed, added in runs:
        if op == "same":
            pieces.append(Piece("same", removed))
            continue
        if removed:
            pieces.append(Piece("removed", removed))
        if added:
            pieces.append(Piece("added", added))
    return pieces
