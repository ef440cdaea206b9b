"""The README's "Converting old addresses" works as written: each command of its shell
block, run by bash against uvicorn, prints what the comment under it says.

A comment that is JSON must equal the output; one with `…` elisions must have each of its
pieces in the output, in order; plain lines must be the output's lines.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from harness import REPO, leaks
from harness.databases import Database
from harness.servers import Uvicorn

SECTION = "## Converting old addresses"


def examples() -> list[tuple[str, str]]:
    """(command, expected output) for each command of the section's first ```sh block."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(SECTION) :]
    block = section[section.index("```sh\n") + 6 : section.index("\n```", section.index("```sh"))]
    found: list[tuple[str, str]] = []
    command: list[str] = []
    expected: list[str] = []
    for line in [*block.splitlines(), ""]:
        if line.startswith("#") and command:
            expected.append(line[1:].removeprefix(" "))
        elif line.startswith("#") or not line.strip():
            if command and expected:
                found.append(("\n".join(command), "\n".join(expected)))
                command, expected = [], []
        else:
            if expected:
                found.append(("\n".join(command), "\n".join(expected)))
                command, expected = [], []
            command.append(line)
    return found


@pytest.fixture(scope="module")
def server(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    log_path = tmp_path_factory.mktemp("uvicorn") / "stderr.log"
    with Uvicorn({"REFDATA_DATABASE_URL": database.url}, log_path) as uvicorn:
        yield uvicorn.port


def test_the_section_has_its_three_examples() -> None:
    commands = [command for command, _ in examples()]
    assert len(commands) == 3
    assert "/successors" in commands[0]
    assert "/vn/convert" in commands[2]


@pytest.mark.parametrize(("command", "expected"), examples(), ids=["whole", "split", "batch"])
def test_each_command_prints_what_the_readme_says(command: str, expected: str, server: int) -> None:
    assert shutil.which("curl"), "the README's examples use curl"
    script = command.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{server}")
    ran = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    leaks.check(ran.stdout + ran.stderr, "the README's curl block against uvicorn")
    output = ran.stdout.strip()
    if "…" not in expected:
        try:
            wanted = json.loads(expected)
        except json.JSONDecodeError:
            assert output.splitlines() == expected.splitlines()
        else:
            assert json.loads(output) == wanted
        return
    # Elided: each piece, its line breaks undone, is in the output, in order.
    position = 0
    for piece in re.split(r"…", "".join(line.strip() for line in expected.splitlines())):
        if piece:
            found = output.find(piece, position)
            assert found >= 0, f"{piece!r} is not in {output[position : position + 400]!r}"
            position = found + len(piece)
