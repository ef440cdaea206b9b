"""One Python version for Lambda, named once (serverless.yml) and used everywhere it matters.

The suite runs on the interpreter Lambda runs: `make test` builds .venv with it (the Makefile
finds it with deploy/find-python). A machine without it gets python3 for `make run`; under
CI=true the suite then fails here instead of passing on the wrong version.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from harness import REPO
from scripts.package_lambda import PYC_TAG, TARGET_VERSION

RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


def test_the_deployed_runtime_is_python_3_13_or_later() -> None:
    major, minor = (int(part) for part in TARGET_VERSION.split("."))
    # Lambda Managed Instances run python3.13 and later only.
    assert (major, minor) >= (3, 13)
    if RUNNING == TARGET_VERSION:  # the gate checks the zip's .pyc against this tag
        assert sys.implementation.cache_tag == PYC_TAG


def test_the_suite_runs_on_the_lambda_runtime_python() -> None:
    if RUNNING != TARGET_VERSION and os.environ.get("CI") != "true":
        pytest.skip(f"no Python {TARGET_VERSION} here; .venv runs {RUNNING} (fails under CI)")
    assert RUNNING == TARGET_VERSION, f"the suite must run on Python {TARGET_VERSION}"


def test_the_images_run_the_same_python() -> None:
    uvicorn_image = (REPO / "docker" / "Dockerfile").read_text()
    lambda_image = (REPO / "docker" / "Dockerfile.lambda").read_text()
    assert set(re.findall(r"^FROM python:(\d+\.\d+)-slim", uvicorn_image, re.M)) == {TARGET_VERSION}
    assert re.findall(r"^FROM public\.ecr\.aws/lambda/python:(\S+)", lambda_image, re.M) == [
        TARGET_VERSION
    ]


def test_the_makefile_builds_the_venv_with_the_runtime_python() -> None:
    found = subprocess.run(
        ["make", "-s", "--no-print-directory", "-f", "Makefile", "print-python"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert found[0] == TARGET_VERSION  # what the Makefile read from serverless.yml
    if RUNNING == TARGET_VERSION:
        assert found[1] == TARGET_VERSION  # the interpreter it makes .venv with


def planned(target: str) -> str:
    """What `make TARGET` would run from nothing (`-n -B`: every step printed, none run)."""
    return subprocess.run(
        ["make", "-n", "-B", "--no-print-directory", target],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_make_run_installs_only_what_serving_needs() -> None:
    run = planned("run")
    installs = [line for line in run.splitlines() if "pip install" in line]
    assert any(line.endswith("-e . uvicorn") for line in installs), installs
    assert "[dev]" not in run  # no test, lint or benchmark toolchain to serve an API
    assert "'.[dev]'" in planned("lint")  # the other targets get it


def find_python(version: str, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "deploy" / "find-python"), version],
        env={**os.environ, "REFDATA_TARGET_PYTHON": target},
        capture_output=True,
        text=True,
        check=False,
    )


def test_find_python_takes_the_named_interpreter_only_if_it_is_that_version() -> None:
    other = "3.11" if RUNNING != "3.11" else "3.12"
    refused = find_python(other, sys.executable)
    assert refused.returncode == 1
    assert f"is not a Python {other}" in refused.stderr
    chosen = find_python(RUNNING, sys.executable)
    assert chosen.returncode == 0
    assert chosen.stdout.strip() == sys.executable
