"""The project's docs stay true to the code: the tests docs/reliability.md names exist, every
section a code comment cites is in docs/, and the README runs gunicorn as `make run` does."""

from __future__ import annotations

import re
from pathlib import Path

from studio.run import web_command

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SOURCES = ("studio", "tests", "benchmarks")
TEST_REF = re.compile(r"\b(tests/[\w/]+\.py)::(\w+)")
# "§9.1" cites docs/upstream.md; RFC sections are someone else's.
SECTION_REF = re.compile(r"(?<!RFC \d{4} )§(\d+(?:\.\d+)?)")
GUARANTEE_REF = re.compile(r"\bR(\d+)\b")


def docs_text() -> str:
    return "\n".join(path.read_text() for path in sorted(DOCS.glob("*.md")))


def source_files() -> list[Path]:
    return [path for top in SOURCES for path in sorted((ROOT / top).rglob("*.py"))]


def headings(name: str, pattern: str) -> set[str]:
    text = (DOCS / name).read_text()
    return set(re.findall(pattern, text, re.MULTILINE))


def test_every_test_the_docs_name_exists() -> None:
    named = set(TEST_REF.findall(docs_text()))
    assert len(named) > 100  # docs/reliability.md names its proof for most guarantees
    missing = [
        f"{path}::{name}"
        for path, name in sorted(named)
        if not (ROOT / path).is_file()
        or not re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.MULTILINE)
    ]
    assert missing == []


def test_every_section_a_comment_cites_is_in_the_docs() -> None:
    sections = headings("upstream.md", r"^#{2,3} (\d+(?:\.\d+)?)[. ]")
    guarantees = headings("reliability.md", r"^### R(\d+)\. ")
    assert sections >= {str(n) for n in range(16)}
    assert guarantees >= {str(n) for n in range(1, 46)}
    unknown = []
    for path in source_files():
        text = path.read_text()
        where = path.relative_to(ROOT)
        unknown += [f"{where}: §{s}" for s in SECTION_REF.findall(text) if s not in sections]
        unknown += [f"{where}: R{r}" for r in GUARANTEE_REF.findall(text) if r not in guarantees]
    assert unknown == []


def test_no_comment_points_outside_the_repository() -> None:
    """The contract, design and reliability notes we started from live outside this
    repository; a comment citing them by those names sends a newcomer nowhere."""
    outside = re.compile(r"\b(?:RELIABILITY|DESIGN|STYLE)\.md\b|(?<!docs/)kling-api\.md")
    files = source_files() + [
        path for top in ("templates", "static") for path in sorted((ROOT / top).rglob("*.*"))
    ]
    cited = [
        f"{path.relative_to(ROOT)}: {found}"
        for path in files
        if path.suffix in {".py", ".html", ".js", ".css"}
        for found in outside.findall(path.read_text())
    ]
    assert cited == []


def test_the_readme_runs_gunicorn_as_make_run_does() -> None:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"\(`studio\.run\.web_command`\):\s*```sh\n(.*?)```", readme, re.DOTALL)
    assert found, "the README's Running for a team shows the web command"
    command = ["python", *web_command("0.0.0.0", 8000, 3)[1:]]
    assert found[1].replace("\\\n", " ").split() == command


def test_every_doc_the_readme_and_docs_point_at_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in ("architecture.md", "upstream.md", "reliability.md"):
        assert f"docs/{name}" in readme
    pointed = set(re.findall(r"\b((?:docs|tests)/[\w/.-]+\.(?:md|png|py))\b", readme + docs_text()))
    assert [path for path in sorted(pointed) if not (ROOT / path).is_file()] == []


def test_every_page_is_in_the_architecture_table() -> None:
    """docs/architecture.md takes a newcomer from a page to its code: every named URL of
    the studio's own apps has a row (URL name and view) in its table."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def named(patterns) -> set[tuple[str, str]]:
        found = set()
        for entry in patterns:
            if isinstance(entry, URLResolver):
                found |= named(entry.url_patterns)
            elif isinstance(entry, URLPattern) and entry.name:
                view = getattr(entry.callback, "__wrapped__", entry.callback)
                if view.__module__.startswith("studio."):
                    found.add((entry.name, view.__module__.removeprefix("studio.")))
        return found

    table = (DOCS / "architecture.md").read_text().split("## Page → URL name", 1)[1]
    pages = named(get_resolver().url_patterns)
    assert len(pages) > 30
    missing = [
        f"{name} ({module})"
        for name, module in sorted(pages)
        if f"`{name}`" not in table or module not in table
    ]
    assert missing == []
