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

import contextlib
import json
import shutil
import statistics
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

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
    probes: list[Probe] = []
    for v, (python, tree, bare, _) in trees.items():
        probes += [Probe(f"{v}/pyc", python, tree), Probe(f"{v}/nopyc", python, bare)]
    probes.append(Probe("before", trees[version][0], before))
    samples: dict[str, list[float]] = {}
    loads: dict[str, list[float]] = {}
    rss: dict[str, list[float]] = {}
    compiled: dict[str, int] = {}
    secret_costs: dict[str, dict[str, list[float]]] = {}
    with secret_probes(database_url, trees[version][0], trees[version][1], root) as extra:
        probes += extra
        for run in range(runs):
            progress(f"artifact INIT run {run + 1}/{runs} ({len(probes)} fresh processes)")
            for p in probes:
                probe = package_lambda.probe_init(
                    p.python, p.tree, database_url, env=p.env, runtime_path=p.runtime_path
                )
                if probe["status"] != 200:
                    raise RuntimeError(f"{p.key}: /health {probe['status']}")
                samples.setdefault(p.key, []).append(float(probe["init_ms"]))
                loads.setdefault(p.key, []).append(float(probe["health"]["load_ms"]))
                rss.setdefault(p.key, []).append(probe["rss_kib"] / 1024)
                compiled[p.key] = len(probe["compiled"])
                if probe["secret"] is not None:
                    costs = secret_costs.setdefault(p.key, {})
                    for name in ("import_ms", "read_ms", "reads"):
                        costs.setdefault(name, []).append(float(probe["secret"][name]))
    return {
        "secrets": {
            key: {name: statistics.median(values) for name, values in costs.items()}
            for key, costs in secret_costs.items()
        },
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


@dataclass(frozen=True)
class Probe:
    key: str
    python: str
    tree: Path
    env: dict[str, str] | None = None
    runtime_path: Path | None = None


# What Lambda's Python runtime carries outside the function's zip, on sys.path after it.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def _runtime_path(root: Path) -> Path:
    """boto3 and its dependencies, with their bytecode, as the Lambda runtime provides them
    (its /var/runtime): the SDK client's imports come from here."""
    import importlib.util  # noqa: PLC0415 -- only for this measurement

    runtime = root / "runtime"
    shutil.rmtree(runtime, ignore_errors=True)
    runtime.mkdir(parents=True)
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"{name} is not installed: pip install -e '.[dev]'")
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, runtime / name)
        else:
            shutil.copy2(origin, runtime / origin.name)
    package_lambda.read_only(runtime)
    return runtime


@contextlib.contextmanager
def secret_probes(database_url: str, python: str, tree: Path, root: Path) -> Iterator[list[Probe]]:
    """INIT of the same zip with the database credentials by reference (issue 14): read
    through the Parameters and Secrets extension (a double of its HTTP protocol, its cache
    off as serverless.yml sets it) and through Powertools Parameters on boto3, both from
    moto's Secrets Manager on 127.0.0.1. Against "3.13/pyc" (the URL in the environment),
    the difference is what each choice adds to INIT. None on SQLite: secrets are
    PostgreSQL's credentials."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        yield []
        return
    from harness.lambda_runtime import SESSION_TOKEN  # noqa: PLC0415 -- bench-only parts
    from harness.secrets_double import ExtensionDouble, LocalAws  # noqa: PLC0415

    aws = LocalAws().start()
    extension = ExtensionDouble(aws, SESSION_TOKEN, cache_enabled=False).start()
    try:
        secret = {
            "engine": "postgres",
            "username": url.username,
            "password": "bench-password-not-checked",  # the bench server trusts 127.0.0.1
            "host": url.host,
            "port": url.port,
            "dbname": url.database,
        }
        arn = aws.create_secret("refdata/bench/database", json.dumps(secret))
        by_reference = {"REFDATA_DATABASE_URL": "", "REFDATA_DATABASE_SECRET": arn}
        yield [
            Probe("secret/extension", python, tree, by_reference | extension.env()),
            Probe(
                "secret/sdk",
                python,
                tree,
                by_reference | aws.sdk_env() | {"REFDATA_SECRETS_CLIENT": "sdk"},
                _runtime_path(root),
            ),
        ]
    finally:
        extension.stop()
        aws.stop()


def probe_rows(python: str, tree: Path, database_url: str) -> dict[str, int]:
    """The row counts the zip's /health reports: what its snapshot holds."""
    counts: dict[str, int] = package_lambda.probe_init(python, tree, database_url)["health"][
        "row_counts"
    ]
    return counts
