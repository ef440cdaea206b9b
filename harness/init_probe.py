"""INIT, timed in a fresh interpreter: `import app.lambda_handler`, then the first invoke.

One probe for the two places that time it: the package gate (scripts/package_lambda.py,
on the unpacked zip with the Lambda Python) and `make bench` (bench/cold.py, on copies of
app/ and its libraries with and without .pyc). The probe is Python source run with
`python -c`, the event written into it: the process imports nothing but what a Lambda INIT
imports.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.events import http_v2


class ProbeError(RuntimeError):
    pass


def source(path: str, host: str, *, setup: str = "", extra: str = "extra = {}") -> str:
    """Source that times `import app.lambda_handler` and one GET of `path`, then prints one
    JSON line: first_invoke_ms, init_ms (import and first invoke: what Lambda bills before
    the first response) and status, plus the dict `extra` builds.

    `setup` runs before the clock starts; `extra` after it stops, and assigns `extra`.
    """
    return f"""
import json, sys, time
{setup}
started = time.perf_counter()
import app.lambda_handler
imported = time.perf_counter()
reply = app.lambda_handler.handler({http_v2("GET", path, domain=host)!r}, None)
done = time.perf_counter()
{extra}
print(json.dumps({{
    "first_invoke_ms": (done - imported) * 1000,
    "init_ms": (done - started) * 1000,
    "status": reply["statusCode"],
    **extra,
}}))
"""


def run(
    command: Sequence[str],
    code: str,
    *args: str,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`command -c code args...` in `cwd`; a failure raises with the end of its stderr."""
    result = subprocess.run(
        [*command, "-c", code, *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise ProbeError(f"INIT probe failed in {cwd}:\n{result.stderr[-3000:]}")
    return result


def last_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The probe's report: the last line it printed (the app may print EMF lines before)."""
    loaded: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def median_init(
    runs: int, probe: Callable[[], dict[str, Any]]
) -> tuple[float, list[dict[str, Any]]]:
    """Median init_ms of `runs` fresh processes, and every report."""
    reports = [probe() for _ in range(runs)]
    return statistics.median(float(r["init_ms"]) for r in reports), reports


# Run by the target Python inside the tree (the unpacked zip, the Lambda image's /var/task)
# before the clock starts: count modules the import system had to compile from source
# (importlib's source_to_code), not other compile() calls such as anyio parsing its own
# source into an AST. sys.argv[1] is the tree.
COUNT_COMPILES = """
compiled = []
def audit(event, args):
    if event == "compile" and isinstance(args[1], str) and args[1].startswith(sys.argv[1]):
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_name != "source_to_code":
            frame = frame.f_back
        if frame is not None:
            compiled.append(args[1])
sys.addaudithook(audit)
"""
PACKAGE_PROBE = source(
    "/health",
    "package-check.local",
    setup=COUNT_COMPILES,
    # The process's resident memory once INIT is done (Linux; what Lambda's "Max Memory
    # Used" reports, as a peak).
    extra='rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS:")]\n'
    "try:\n    from app.kit.secrets import database as secret\n"
    "except ImportError:  # a zip from before secrets by reference\n    secret = None\n"
    'extra = {"health": json.loads(reply["body"]), "compiled": compiled,'
    ' "rss_kib": int(rss[0].split()[1]) if rss else None,'
    ' "secret": secret and {"reads": secret.reads, "import_ms": secret.import_ms,'
    ' "read_ms": secret.read_ms}}',
)
