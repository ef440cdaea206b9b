"""Cold start: INIT of fresh processes, with and without bytecode, against the libraries alone.

INIT is what Lambda bills before the first response: `import app.lambda_handler` plus the
first invoke. To see the app's own share, the same is timed for a process that imports only
libraries: every module outside `app` that a real INIT loads, in the order it loads them
("all libraries"), and the five the issue names (fastapi, mangum, sqlalchemy, pydantic,
psycopg). INIT minus "all libraries" is the app's own work: its modules, settings, the
engine and first connection, reading and encoding the snapshot, building the FastAPI app,
and the first invoke.

Every process runs `python -S -B` on a private copy of the code it imports (app/ and the
site-packages it uses): one copy keeps the `.pyc` files, the other has none, as a zip
without bytecode would on Lambda's read-only filesystem. The standard library keeps its own
bytecode in both, as in the Lambda runtime. Runs of each kind are interleaved so a busy
machine slows them alike.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import REPO, init_probe

NAMED_LIBRARIES = ("fastapi", "mangum", "sqlalchemy", "pydantic", "psycopg")
FIRST_PATH = "/countries"

APP_PROBE = init_probe.source(
    FIRST_PATH,
    "bench.local",
    setup="before = set(sys.modules)",
    extra="""
from app.init import cache
extra = {
    "cache_load_ms": cache.current.load_ms if cache.current else None,
    "modules": [m for m in list(sys.modules) if m not in before],
}
""",
)

_PRINT_MODULE_FILES = """
print(json.dumps({m: getattr(sys.modules[m], "__file__", None) for m in list(sys.modules)}))
"""

LIBRARY_PROBE = """
import sys, time, importlib
names = sys.argv[1].split(",")
started = time.perf_counter()
failed = []
for name in names:
    if name in sys.modules:
        continue
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name)
done = time.perf_counter()
import json
print(json.dumps({"init_ms": (done - started) * 1000, "failed": failed}))
"""


@dataclass
class ImportCost:
    name: str
    self_us: int
    cumulative_us: int
    depth: int
    parent: int | None = None


@dataclass
class ColdResult:
    runs: int
    backend: str
    medians_ms: dict[str, float]  # "<kind>/<pyc|nopyc>" -> median ms
    samples_ms: dict[str, list[float]]
    first_invoke_ms: dict[str, float]
    cache_load_ms: float | None
    libraries: int  # modules in "all libraries"
    library_failures: list[str]
    importtime_runs: int
    top_imports: list[dict[str, Any]]
    app_modules: list[dict[str, Any]]


def _site_packages() -> list[Path]:
    paths = sysconfig.get_paths()
    return sorted({Path(paths["purelib"]).resolve(), Path(paths["platlib"]).resolve()})


def _is_app(name: str) -> bool:
    return name == "app" or name.startswith("app.")


def _run(
    tree: Path, code: str, env: dict[str, str], *args: str, importtime: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-S", "-B"]
    if importtime:
        command += ["-X", "importtime"]
    return init_probe.run(command, code, *args, cwd=tree, env={**env, "PYTHONPATH": str(tree)})


def _site_entries_used(env: dict[str, str]) -> set[str]:
    """The top-level site-packages entries whose modules a real INIT loads."""
    discovery = init_probe.run(
        [sys.executable],
        APP_PROBE + _PRINT_MODULE_FILES,
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
    )
    files: dict[str, str | None] = init_probe.last_json(discovery)
    # The named libraries are copied even where this backend's INIT does not load them
    # (psycopg on SQLite).
    for name in (*NAMED_LIBRARIES, "psycopg_binary"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None:
            files[name] = spec.origin
    paths = [Path(f).resolve() for f in files.values() if f]
    tops = {
        path.relative_to(site).parts[0]
        for path in paths
        for site in _site_packages()
        if path.is_relative_to(site)
    }
    # The editable install's import hook and setuptools' shim are the venv's, not the app's.
    return {t for t in tops if not t.startswith(("__editable__", "_distutils_hack"))}


def _copy(tree: Path, tops: set[str], keep_bytecode: bool) -> None:
    ignore = shutil.ignore_patterns() if keep_bytecode else shutil.ignore_patterns("__pycache__")
    tree.mkdir(parents=True)
    shutil.copytree(REPO / "app", tree / "app", ignore=ignore)
    for site in _site_packages():
        for entry in site.iterdir():
            # Metadata of every distribution (entry points, versions); bundled .libs.
            wanted = (
                entry.name in tops
                or entry.name.endswith(".dist-info")
                or (entry.name.endswith(".libs") and entry.name.removesuffix(".libs") in tops)
            )
            if not wanted or (tree / entry.name).exists():
                continue
            if entry.is_dir():
                shutil.copytree(entry, tree / entry.name, ignore=ignore)
            else:
                shutil.copy2(entry, tree / entry.name)


def build_trees(root: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """Copies of app/ and the site-packages INIT uses: with their .pyc, and without any."""
    tops = _site_entries_used(env)
    with_pyc, without_pyc = root / "with-pyc", root / "without-pyc"
    _copy(with_pyc, tops, keep_bytecode=True)
    _copy(without_pyc, tops, keep_bytecode=False)
    # Write whatever bytecode the copy lacks (stale app/ files, say) before anything is timed.
    subprocess.run(  # noqa: S603 -- our own interpreter and code
        [sys.executable, "-S", "-c", APP_PROBE],
        cwd=with_pyc,
        env={**env, "PYTHONPATH": str(with_pyc)},
        capture_output=True,
        timeout=300,
        check=True,
    )
    return with_pyc, without_pyc


def parse_importtime(stderr: str) -> list[ImportCost]:
    """`-X importtime` lines, in the order printed (children before their parent)."""
    nodes: list[ImportCost] = []
    open_children: list[int] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        parts = line.split("|")
        self_us, cumulative_us, label = parts[0].split(":")[1], parts[1], parts[2]
        name = label[1:]
        depth = (len(name) - len(name.lstrip(" "))) // 2
        node = ImportCost(name.strip(), int(self_us), int(cumulative_us), depth)
        index = len(nodes)
        nodes.append(node)
        while open_children and nodes[open_children[-1]].depth > depth:
            nodes[open_children.pop()].parent = index
        open_children.append(index)
    return nodes


def median_importtime(runs: Sequence[list[ImportCost]]) -> list[ImportCost]:
    """The first run's tree, each module's times the median over the runs that imported it."""
    by_name: dict[str, list[ImportCost]] = {}
    for nodes in runs:
        for node in nodes:
            by_name.setdefault(node.name, []).append(node)
    return [
        ImportCost(
            node.name,
            round(statistics.median(n.self_us for n in by_name[node.name])),
            round(statistics.median(n.cumulative_us for n in by_name[node.name])),
            node.depth,
            node.parent,
        )
        for node in runs[0]
    ]


def top_imports(nodes: Sequence[ImportCost], count: int = 10) -> list[ImportCost]:
    """The costliest imports outside app/, none inside another one listed."""

    def ancestors(i: int) -> set[int]:
        found = set()
        parent = nodes[i].parent
        while parent is not None:
            found.add(parent)
            parent = nodes[parent].parent
        return found

    chosen: list[int] = []
    for i in sorted(range(len(nodes)), key=lambda i: -nodes[i].cumulative_us):
        if _is_app(nodes[i].name):
            continue
        mine = ancestors(i)
        if any(c in mine or i in ancestors(c) for c in chosen):
            continue
        chosen.append(i)
        if len(chosen) == count:
            break
    return [nodes[i] for i in chosen]


def measure(
    database_url: str,
    backend: str,
    root: Path,
    runs: int,
    progress: Callable[[str], None],
) -> ColdResult:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "REFDATA_DATABASE_URL": database_url,
        "REFDATA_LOG_LEVEL": "INFO",
        "AWS_LAMBDA_FUNCTION_NAME": "refdata-api",
        "PYTHONHASHSEED": "0",
    }
    progress("copying app/ and its site-packages, with and without .pyc")
    with_pyc, without_pyc = build_trees(root, env)
    discovered = init_probe.last_json(_run(with_pyc, APP_PROBE, env))
    libraries = [m for m in discovered["modules"] if not _is_app(m) and m != "__main__"]
    kinds: dict[str, tuple[str, tuple[str, ...]]] = {
        "app": (APP_PROBE, ()),
        "libraries": (LIBRARY_PROBE, (",".join(libraries),)),
        "named": (LIBRARY_PROBE, (",".join(NAMED_LIBRARIES),)),
    }
    samples: dict[str, list[float]] = {}
    first_invoke: dict[str, list[float]] = {}
    cache_load: list[float] = []
    failures: set[str] = set()
    for run in range(runs):
        progress(f"INIT run {run + 1}/{runs} (6 fresh processes)")
        for kind, (code, args) in kinds.items():
            for label, tree in (("pyc", with_pyc), ("nopyc", without_pyc)):
                out = init_probe.last_json(_run(tree, code, env, *args))
                samples.setdefault(f"{kind}/{label}", []).append(out["init_ms"])
                if kind == "app":
                    first_invoke.setdefault(label, []).append(out["first_invoke_ms"])
                    if out["cache_load_ms"] is not None:
                        cache_load.append(out["cache_load_ms"])
                    if out["status"] != 200:
                        raise RuntimeError(f"the first invoke answered {out['status']}")
                else:
                    failures.update(out["failed"])
    traces = min(3, runs)
    progress(f"-X importtime ({traces} run(s))")
    nodes = median_importtime(
        [
            parse_importtime(_run(with_pyc, APP_PROBE, env, importtime=True).stderr)
            for _ in range(traces)
        ]
    )
    app_modules = sorted((n for n in nodes if _is_app(n.name)), key=lambda n: -n.self_us)
    return ColdResult(
        runs=runs,
        backend=backend,
        medians_ms={k: statistics.median(v) for k, v in samples.items()},
        samples_ms=samples,
        first_invoke_ms={k: statistics.median(v) for k, v in first_invoke.items()},
        cache_load_ms=statistics.median(cache_load) if cache_load else None,
        libraries=len(libraries),
        library_failures=sorted(failures),
        importtime_runs=traces,
        top_imports=[vars(n) for n in top_imports(nodes)],
        app_modules=[vars(n) for n in app_modules[:8]],
    )
