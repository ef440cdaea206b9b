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
    samples: dict[str, list[float]] = {}
    compiled: dict[str, int] = {}
    for run in range(runs):
        progress(f"artifact INIT run {run + 1}/{runs} ({2 * len(VERSIONS)} fresh processes)")
        for version, (python, tree, bare, _) in trees.items():
            for label, path in (("pyc", tree), ("nopyc", bare)):
                probe = package_lambda.probe_init(python, path, database_url)
                if probe["status"] != 200:
                    raise RuntimeError(f"python{version} {label}: /health {probe['status']}")
                key = f"{version}/{label}"
                samples.setdefault(key, []).append(float(probe["init_ms"]))
                compiled[key] = len(probe["compiled"])
    return {
        "runs": runs,
        "arch": arch,
        "versions": list(VERSIONS),
        "size_mb": {version: trees[version][3] for version in VERSIONS},
        "medians_ms": {key: statistics.median(values) for key, values in samples.items()},
        "samples_ms": samples,
        "compiled": compiled,
    }
