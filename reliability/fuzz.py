"""The long fuzzing run: tests/test_fuzz.py with many more generated cases, on each backend.

python -m reliability.fuzz --examples 1000 --json out.json

Each backend is one pytest process (`tests/test_fuzz.py --db=…`, so the conftest makes its
own throwaway database exactly as `make test` does) with FUZZ_EXAMPLES and FUZZ_SEED set;
the test module writes what it sent and saw to FUZZ_SUMMARY. The summary here adds how
the run ended and, for every check, whether it held on every backend.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import REPO
from reliability.measure import failed_checks, write_json

BACKENDS = ("sqlite", "postgresql")
DEFAULT_SEED = 20261126
# What each check of tests/test_fuzz.py means, in the words the report uses.
CHECKS = {
    "not_a_server_error": "no 5xx from any operation",
    "status_code_conformance": "every status is documented for its operation",
    "content_type_conformance": "every Content-Type is documented for its operation",
    "response_schema_conformance": "every body matches its documented schema",
    "no_leaks": "no traceback, SQL, file path or secret in any body",
    "security_headers": "nosniff and a CSP on every response",
}
_FAILED_TEST = re.compile(r"^FAILED (\S+)", re.MULTILINE)
_OUTCOME = re.compile(r"^=*\s*(\d+ (?:passed|failed|skipped|error).*?)\s*=*$", re.MULTILINE)


def run_backend(backend: str, examples: int, seed: int, timeout: float) -> dict[str, Any]:
    """tests/test_fuzz.py on one backend; its summary plus how the pytest run ended."""
    with tempfile.TemporaryDirectory(prefix="refdata-fuzz-") as tmp:
        summary_path = Path(tmp) / "summary.json"
        env = {
            **os.environ,
            "FUZZ_EXAMPLES": str(examples),
            "FUZZ_SEED": str(seed),
            "FUZZ_SUMMARY": str(summary_path),
        }
        command = [sys.executable, "-m", "pytest", "tests/test_fuzz.py", f"--db={backend}"]
        command += ["-q", "-p", "no:cacheprovider"]
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 -- our own interpreter and test module
            command,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
            exit_code = process.returncode
        except subprocess.TimeoutExpired:
            # SIGINT, not SIGKILL: pytest tears down, so the PostgreSQL server it started stops.
            process.send_signal(signal.SIGINT)
            try:
                output, _ = process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                output, _ = process.communicate()
            exit_code, output = -1, f"timed out after {timeout:.0f} s:\n{output}"
        seconds = round(time.perf_counter() - started, 1)
        part: dict[str, Any] = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    outcomes = _OUTCOME.findall(output)
    return {
        "backend": backend,
        "pytest_exit": exit_code,
        "outcome": outcomes[-1] if outcomes else (output.strip().splitlines() or [""])[-1],
        "failed_tests": _FAILED_TEST.findall(output),
        "seconds": seconds,
        **part,
    }


def summarize(parts: Sequence[dict[str, Any]], examples: int, seed: int) -> dict[str, Any]:
    """One summary for the report: per backend what ran, and whether each check held."""
    ran = [part for part in parts if part.get("operations")]
    failed = {failure["check"] for part in parts for failure in part.get("failures", [])}
    checks = {
        words: bool(ran) and len(ran) == len(parts) and name not in failed
        for name, words in CHECKS.items()
    }
    checks["every fuzz test passed (admin refuses without the key; settings restored)"] = all(
        part["pytest_exit"] == 0 for part in parts
    )
    return {
        "part": "fuzzing",
        "what": "schemathesis against /openapi.json through the ASGI app: every operation, "
        "documented examples, coverage cases and generated cases (valid and invalid)",
        "examples_per_operation": examples,
        "seed": seed,
        "requests": sum(op["requests"] for part in ran for op in part["operations"]),
        "checks": checks,
        "backends": list(parts),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="generated cases per operation")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--db", choices=BACKENDS, action="append", help="default: both")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per backend")
    parser.add_argument("--json", type=Path, help="write the summary here (default: stdout)")
    args = parser.parse_args(argv)
    parts = [
        run_backend(backend, args.examples, args.seed, args.timeout)
        for backend in args.db or BACKENDS
    ]
    summary = summarize(parts, args.examples, args.seed)
    write_json(summary, args.json)
    for name in failed_checks(summary):
        print(f"did not hold: {name}", file=sys.stderr)
    return 1 if failed_checks(summary) else 0


if __name__ == "__main__":
    sys.exit(main())
