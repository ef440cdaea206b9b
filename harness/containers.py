"""The Docker images, built and run with podman on a machine that reaches no image registry.

The base images the Dockerfiles and compose.yaml name are stood in by images made here from
Debian's packages (mmdebstrap), once, and reused while their recipe is unchanged (a label
holds its digest):

- `python:3.13-slim` (docker/Dockerfile): Debian trixie's Python 3.13 with venv and CA
  certificates;
- `public.ecr.aws/lambda/python:3.13` (docker/Dockerfile.lambda): that Python in /var/lang,
  awslambdaric from PyPI in /var/runtime, the AWS image's entrypoint protocol
  (docker/standins/lambda-python.Containerfile);
- `postgres:16-alpine` (compose.yaml): Debian trixie's PostgreSQL 17 with an entrypoint that
  does what the official image's does for compose.yaml (docker/standins/postgres.*).

Every podman command runs with docker/standins/containers.conf (runc; no default rlimits).

    python -m harness.containers      # make the stand-ins now (what `make docker` starts with)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from harness import REPO
from harness.init_probe import PACKAGE_PROBE, last_json

STANDINS = REPO / "docker" / "standins"
CONF = STANDINS / "containers.conf"
LABEL = "refdata.standin"
DEBIAN = "trixie"

PYTHON = "docker.io/library/python:3.13-slim"
LAMBDA_PYTHON = "public.ecr.aws/lambda/python:3.13"
POSTGRES = "docker.io/library/postgres:16-alpine"
POSTGRES_ROOTFS = "localhost/refdata-standin-rootfs:postgres"

# Builds reach PyPI through the host's network and its CA bundle (no proxy of their own).
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BUILD_NETWORK = ["--network=host", "-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]


def missing() -> str | None:
    """Why containers cannot be built here, or None."""
    absent = [tool for tool in ("podman", "mmdebstrap") if shutil.which(tool) is None]
    return f"not installed: {', '.join(absent)}" if absent else None


def podman(
    *args: str, timeout: float = 600, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`podman ARGS`, with this project's containers.conf; output captured."""
    env = {**os.environ, "CONTAINERS_CONF": str(CONF)}
    result = subprocess.run(
        ["podman", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: {result.returncode}\n{result.stderr[-3000:]}")
    return result


def label_of(image: str) -> str | None:
    """The stand-in digest an image carries; None if there is no such image."""
    found = podman(
        "image", "inspect", "--format", '{{ index .Labels "' + LABEL + '" }}', image, check=False
    )
    return found.stdout.strip() if found.returncode == 0 else None


def _digest(*parts: str | bytes) -> str:
    hashed = hashlib.sha256()
    for part in parts:
        hashed.update(part.encode() if isinstance(part, str) else part)
        hashed.update(b"\0")
    return hashed.hexdigest()[:16]


def _pin(name: str) -> str:
    """A package's version in constraints.txt."""
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(name.lower() + "=="):
            return line.split("==", 1)[1]
    raise LookupError(f"{name} is not pinned in constraints.txt")


def _rootfs(image: str, packages: str, changes: list[str], digest: str) -> None:
    """A Debian root filesystem with `packages`, imported as `image`."""
    with tempfile.TemporaryDirectory(prefix="refdata-rootfs-") as tmp:
        tar = Path(tmp) / "rootfs.tar"
        subprocess.run(
            ["mmdebstrap", "--variant=minbase", f"--include={packages}", DEBIAN, str(tar)],
            check=True,
            capture_output=True,
            timeout=900,
        )
        flags = [
            flag
            for change in [*changes, f"LABEL {LABEL}={digest}"]
            for flag in ("--change", change)
        ]
        podman("import", *flags, str(tar), image)


def _build(image: str, containerfile: Path, digest: str, *args: str) -> None:
    podman(
        "build", *BUILD_NETWORK, "--pull=never", "--format", "docker",
        "--label", f"{LABEL}={digest}", "-f", str(containerfile), "-t", image, *args,
        str(STANDINS),
    )  # fmt: skip


def ensure_standins() -> list[str]:
    """Make each stand-in whose recipe changed or that is not there; the names made."""
    made = []
    python_packages = "ca-certificates,python3,python3-venv,python-is-python3"
    digest = _digest(DEBIAN, python_packages)
    if label_of(PYTHON) != digest:
        changes = ["ENV LANG=C.UTF-8", 'CMD ["python3"]']
        _rootfs(PYTHON, python_packages, changes, digest)
        made.append(PYTHON)

    recipe = STANDINS / "lambda-python.Containerfile"
    awslambdaric = _pin("awslambdaric")
    lambda_digest = _digest(
        digest, recipe.read_bytes(), (STANDINS / "lambda-entrypoint.sh").read_bytes(), awslambdaric
    )
    if label_of(LAMBDA_PYTHON) != lambda_digest:
        _build(LAMBDA_PYTHON, recipe, lambda_digest, "--build-arg", f"AWSLAMBDARIC={awslambdaric}")
        made.append(LAMBDA_PYTHON)

    postgres_packages = "ca-certificates,postgresql-17"
    rootfs_digest = _digest(DEBIAN, postgres_packages)
    if label_of(POSTGRES_ROOTFS) != rootfs_digest:
        _rootfs(POSTGRES_ROOTFS, postgres_packages, [], rootfs_digest)
        made.append(POSTGRES_ROOTFS)
    recipe = STANDINS / "postgres.Containerfile"
    postgres_digest = _digest(
        rootfs_digest, recipe.read_bytes(), (STANDINS / "postgres-entrypoint.sh").read_bytes()
    )
    if label_of(POSTGRES) != postgres_digest:
        _build(POSTGRES, recipe, postgres_digest)
        made.append(POSTGRES)
    return made


@dataclass(frozen=True)
class Built:
    image: str
    seconds: float
    size_bytes: int


def build(dockerfile: str, image: str, *, no_cache: bool = False) -> Built:
    """`podman build -f docker/DOCKERFILE` from the repo root, as a user builds it (with the
    host's network and CA bundle for pip, and `--format docker` so HEALTHCHECK is kept);
    `no_cache` builds every layer again, pip's downloads included."""
    started = time.perf_counter()
    podman(
        "build", *BUILD_NETWORK, "--pull=never", "--format", "docker",
        *(["--no-cache"] if no_cache else []),
        "-f", str(REPO / "docker" / dockerfile), "-t", image, str(REPO),
        timeout=900,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    size = podman("image", "inspect", "--format", "{{.Size}}", image).stdout.strip()
    return Built(image, seconds, int(size))


def env_flags(env: Mapping[str, str]) -> list[str]:
    return [flag for name, value in env.items() for flag in ("-e", f"{name}={value}")]


def run_flags(
    *,
    env: Mapping[str, str] | None = None,
    network: str = "host",
    publish: str | None = None,
    volumes: Sequence[str] = (),
    entrypoint: str | None = None,
    read_only: bool = False,
) -> list[str]:
    """`podman run`'s options: the network (the host's by default: it reaches the suite's
    PostgreSQL on 127.0.0.1 and answers there), a published port (`127.0.0.1:HOST:CONTAINER`),
    volumes, the environment, another entrypoint, a read-only root."""
    flags = [f"--network={network}", *env_flags(env or {})]
    flags += ["-p", publish] if publish else []
    flags += [flag for volume in volumes for flag in ("-v", volume)]
    flags += ["--entrypoint", entrypoint] if entrypoint else []
    flags += ["--read-only"] if read_only else []
    return flags


class Container:
    """`podman run -d IMAGE ARGS` (options as `run_flags` takes them), removed when the
    block ends."""

    def __init__(self, image: str, *args: str, **options: Any) -> None:
        self.image = image
        self.args = args
        self.flags = run_flags(**options)
        self.name = f"refdata-test-{uuid.uuid4().hex[:12]}"

    def __enter__(self) -> Self:
        podman("run", "-d", "--name", self.name, *self.flags, self.image, *self.args)
        return self

    def __exit__(self, *exc: object) -> None:
        podman("rm", "-f", "-t", "10", self.name, check=False)

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *command, check=False)

    def healthcheck(self) -> int:
        """The image's HEALTHCHECK command, run now: its exit status (0 healthy)."""
        return podman("healthcheck", "run", self.name, check=False).returncode

    def logs(self) -> str:
        found = podman("logs", self.name, check=False)
        return found.stdout + found.stderr

    def state(self, field: str) -> str:
        return podman("inspect", "--format", "{{.State." + field + "}}", self.name).stdout.strip()

    def stop(self, timeout: int = 10) -> float:
        """SIGTERM (the image's stop signal), SIGKILL after `timeout` s; the seconds it took."""
        started = time.perf_counter()
        podman("stop", "-t", str(timeout), self.name)
        return time.perf_counter() - started


def run(image: str, *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """`podman run --rm IMAGE ARGS` to completion (options as `run_flags` takes them)."""
    return podman("run", "--rm", *run_flags(**options), image, *args, check=False)


def probe_lambda_image(image: str, database_url: str, **options: Any) -> dict[str, Any]:
    """The package gate's INIT probe (harness/init_probe.py) in a fresh container of the
    Lambda image, on a read-only root: its report (status, health, compiled, init_ms)."""
    code = "import sys; sys.path.insert(0, '/var/task')\n" + PACKAGE_PROBE
    env = {
        "REFDATA_DATABASE_URL": database_url,
        "REFDATA_LOG_LEVEL": "WARNING",
        "AWS_LAMBDA_FUNCTION_NAME": "refdata-api",
    }
    done = run(
        image, "-I", "-B", "-c", code, "/var/task",
        env=env, entrypoint="/var/lang/bin/python3", read_only=True, **options,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the probe failed in {image}: {done.stderr[-2000:]}")
    return last_json(done)


def prepared(prog: str) -> tuple[list[str], float]:
    """For a command line: the stand-ins made if need be (the names made, the seconds it
    took); exits 1 saying why where containers cannot be built."""
    why = missing()
    if why:
        print(f"{prog}: {why}", file=sys.stderr)
        raise SystemExit(1)
    started = time.perf_counter()
    made = ensure_standins()
    return made, time.perf_counter() - started


def main() -> int:
    made, seconds = prepared("containers")
    print(f"stand-ins: {', '.join(made) or 'all up to date'} ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
