"""The layout docs/architecture.md draws, held by the code: apps import only apps below them,
no function in studio/ runs over 50 lines and no view over 30."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDIO = ROOT / "studio"
# Each app may import those on lower floors (docs/architecture.md, "The apps and the arrows").
FLOORS = {
    "kling": 0,
    "accounts": 1,
    "generations": 2,
    "library": 3,
    "review": 3,
    "composer": 4,
    "ops": 4,
}


def modules() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text()))
        for path in sorted(STUDIO.rglob("*.py"))
        if "migrations" not in path.parts
    ]


def app_of(path: Path) -> str | None:
    parts = path.relative_to(STUDIO).parts
    return parts[0] if len(parts) > 1 and parts[0] in FLOORS else None


def imported_apps(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {name.split(".")[1] for name in names if name.startswith("studio.") and "." in name}


def test_apps_import_only_apps_below_them() -> None:
    upward = []
    for path, tree in modules():
        app = app_of(path)
        if app is None:
            continue
        for other in imported_apps(tree) & FLOORS.keys():
            if other != app and FLOORS[other] >= FLOORS[app]:
                upward.append(f"{path.relative_to(ROOT)} imports studio.{other}")
    assert upward == []


def test_the_kling_package_imports_no_django_app() -> None:
    found = [
        f"{path.relative_to(ROOT)} imports studio.{other}"
        for path, tree in modules()
        if app_of(path) == "kling"
        for other in imported_apps(tree) - {"kling"}
    ]
    assert found == []


def test_no_function_over_50_lines_and_no_view_over_30() -> None:
    long = []
    for path, tree in modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            lines = node.end_lineno - node.lineno + 1
            first = node.args.args[0].arg if node.args.args else ""
            view = path.name.endswith("views.py") and first == "request"
            if lines > (30 if view else 50):
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} {lines}")
    assert long == []
