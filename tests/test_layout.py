"""The tooling's imports run one way: harness/ is imported by tests/, bench/, reliability/ and
scripts/, and imports none of them; bench/, reliability/ and scripts/ do not import tests/;
tests/ holds only tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness import REPO

TOOLING = ("tests", "bench", "reliability", "scripts")


def imported_packages(path: Path) -> set[str]:
    """The top-level packages a module imports, at its top or inside a function; imports
    inside code strings left out (those run elsewhere)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def modules(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", ["harness", "bench", "reliability", "scripts"])
def test_the_tooling_imports_run_one_way(folder: str) -> None:
    forbidden = set(TOOLING) - {folder}
    if folder != "harness":
        forbidden = {"tests"}
    imports = {str(path.relative_to(REPO)): imported_packages(path) for path in modules(folder)}
    # The rule reads real imports: each folder uses the service (harness) or the harness.
    assert set().union(*imports.values()) >= {"harness" if folder != "harness" else "app"}
    wrong = {path: sorted(names & forbidden) for path, names in imports.items()}
    assert {path: names for path, names in wrong.items() if names} == {}


def test_tests_holds_only_tests() -> None:
    others = [
        path.name
        for path in modules("tests")
        if not path.name.startswith("test_") and path.name not in ("conftest.py", "__init__.py")
    ]
    assert others == []
