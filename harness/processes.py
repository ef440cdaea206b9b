"""Child processes: a fresh interpreter, an environment that says exactly what it is
configured with, and stopping what this code started, by its PID, never by name."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from harness import REPO, leaks


def child_environment(env: dict[str, str]) -> dict[str, str]:
    """The caller's environment without its REFDATA_* variables, plus `env`: what the
    environment is configured with is exactly what the caller says."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("REFDATA_")}
    return {**inherited, **env}


def terminate(process: subprocess.Popen[Any], timeout: float = 10) -> int:
    """SIGTERM, then SIGKILL if it has not exited after `timeout` s; its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return process.returncode


def rss(pid: int) -> int:
    """The resident memory of process `pid`, in bytes."""
    import psutil  # type: ignore[import-untyped]  # a dev dependency: tooling only

    return int(psutil.Process(pid).memory_info().rss)


def run_python(
    code: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (a new execution environment) from the repo root;
    what it prints is checked for secrets (harness/leaks.py)."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    leaks.check(result.stdout + result.stderr, "a fresh interpreter's output")
    return result
