"""The Lambda package installs exactly the versions the test suite ran against."""

from __future__ import annotations

import re
import tomllib

from harness import REPO

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)")


def pins(filename: str) -> dict[str, str]:
    found = {}
    for line in (REPO / filename).read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[match[1].lower().replace("_", "-")] = match[2]
    return found


def test_every_runtime_pin_matches_constraints() -> None:
    runtime, constraints = pins("requirements.txt"), pins("constraints.txt")
    assert runtime
    assert {name: constraints.get(name) for name in runtime} == runtime


def test_every_direct_dependency_is_pinned_for_the_package() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    direct = {
        re.split(r"[<>=\[;\s]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]
    }
    assert direct <= set(pins("requirements.txt"))


def test_dev_tools_stay_out_of_the_package() -> None:
    runtime = set(pins("requirements.txt"))
    assert not runtime & {"uvicorn", "pytest", "mypy", "ruff", "cfn-lint", "awslambdaric"}
