"""INIT of the artifact users deploy, for each Lambda Python: the zip `npx serverless package`
builds, unpacked read-only and imported by that Python as Lambda runs it.

For each version (`--param=python=3.12`, then the default 3.13), the zip is built for this
machine's architecture through the packaging a user runs (deploy/bytecode.js included), and
the package gate's probe (scripts/package_lambda.py) times `import app.lambda_handler` plus
the first invoke in fresh `python -I -B` processes, counting the modules compiled from
source on the way. The same tree without its .pyc files is the reference: what every cold
start would compile without bytecode. Runs of every kind are interleaved.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts import package_lambda

VERSIONS = ("3.12", package_lambda.TARGET_VERSION)
# The last commit before the old Vietnamese units joined the snapshot (issue 13): its zip,
# built and probed the same way on the same database, is "before".
BEFORE = "67ad95b"


def _before_checkout(root: Path) -> Path:
    """A worktree of BEFORE, sharing this checkout's node_modules."""
    checkout = root / f"refdata-{BEFORE}"
    git = ["git", "-C", str(package_lambda.REPO)]
    subprocess.run(  # noqa: S603 -- git, with our own paths
        [*git, "worktree", "remove", "--force", str(checkout)], capture_output=True, check=False
    )
    subprocess.run(  # noqa: S603
        [*git, "worktree", "add", "--detach", str(checkout), BEFORE],
        capture_output=True,
        check=True,
    )
    (checkout / "node_modules").symlink_to(package_lambda.REPO / "node_modules")
    return checkout


def _remove_checkout(checkout: Path) -> None:
    git = ["git", "-C", str(package_lambda.REPO)]
    subprocess.run(  # noqa: S603 -- git, with our own paths
        [*git, "worktree", "remove", "--force", str(checkout)], capture_output=True, check=False
    )


def _python(version: str) -> str:
    found = subprocess.run(  # noqa: S603 -- our own script
        [str(package_lambda.REPO / "deploy" / "find-python"), version],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()


def _unpack(artifact: Path, root: Path) -> tuple[Path, Path]:
    tree, bare = root / "task", root / "task-without-pyc"
    with zipfile.ZipFile(artifact) as archive:
        archive.extractall(tree)
    shutil.copytree(tree, bare, ignore=shutil.ignore_patterns("__pycache__"))
    for path in (tree, bare):
        package_lambda.read_only(path)
    return tree, bare


def measure(
    database_url: str, root: Path, runs: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    arch = package_lambda.HOST_ARCH or "x86_64"
    trees: dict[str, tuple[str, Path, Path, float]] = {}
    for version in VERSIONS:
        progress(f"artifact: npx serverless package --param=python={version} ({arch})")
        directory = package_lambda.build(arch, root / "build", f"python={version}")
        artifact = directory / "refdata.zip"
        size_mb = artifact.stat().st_size / 1e6
        tree, bare = _unpack(artifact, root / f"python{version}")
        trees[version] = (_python(version), tree, bare, size_mb)
    version = package_lambda.TARGET_VERSION
    progress(f"artifact: the zip of {BEFORE}, before the old units (python {version})")
    checkout = _before_checkout(root)
    try:
        directory = package_lambda.build(arch, root / "build-before", repo=checkout)
    finally:
        _remove_checkout(checkout)
    before, _ = _unpack(directory / "refdata.zip", root / "before")
    probes: list[tuple[str, str, Path]] = []
    for v, (python, tree, bare, _) in trees.items():
        probes += [(f"{v}/pyc", python, tree), (f"{v}/nopyc", python, bare)]
    probes.append(("before", trees[version][0], before))
    samples: dict[str, list[float]] = {}
    loads: dict[str, list[float]] = {}
    rss: dict[str, list[float]] = {}
    compiled: dict[str, int] = {}
    for run in range(runs):
        progress(f"artifact INIT run {run + 1}/{runs} ({len(probes)} fresh processes)")
        for key, python, path in probes:
            probe = package_lambda.probe_init(python, path, database_url)
            if probe["status"] != 200:
                raise RuntimeError(f"{key}: /health {probe['status']}")
            samples.setdefault(key, []).append(float(probe["init_ms"]))
            loads.setdefault(key, []).append(float(probe["health"]["load_ms"]))
            rss.setdefault(key, []).append(probe["rss_kib"] / 1024)
            compiled[key] = len(probe["compiled"])
    return {
        "before": BEFORE,
        "load_ms": {key: statistics.median(values) for key, values in loads.items()},
        "rss_mib": {key: statistics.median(values) for key, values in rss.items()},
        "rows": {
            "before": sum(probe_rows(trees[version][0], before, database_url).values()),
            "after": sum(probe_rows(trees[version][0], trees[version][1], database_url).values()),
        },
        "runs": runs,
        "arch": arch,
        "versions": list(VERSIONS),
        "size_mb": {version: trees[version][3] for version in VERSIONS},
        "medians_ms": {key: statistics.median(values) for key, values in samples.items()},
        "samples_ms": samples,
        "compiled": compiled,
    }


def probe_rows(python: str, tree: Path, database_url: str) -> dict[str, int]:
    """The row counts the zip's /health reports: what its snapshot holds."""
    counts: dict[str, int] = package_lambda.probe_init(python, tree, database_url)["health"][
        "row_counts"
    ]
    return counts
