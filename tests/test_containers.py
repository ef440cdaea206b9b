"""The Docker images and the compose stack, built from their files and run, with podman.

No registry is reachable here: the base images are stand-ins made from Debian's packages
(harness/containers.py; where each differs from the real one: docs/containers.md). The
images are built as a user builds them. The uvicorn image migrates the suite's PostgreSQL
and serves it; the Lambda image runs under AWS's runtime interface client against the
project's Runtime API emulator; compose.yaml's services come up, answer and go.

In the PostgreSQL session only (the images reach the suite's server). Without podman the
tests are skipped, except under CI=true.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness import REPO
from harness.containers import (
    CA_BUNDLE,
    CONF,
    Built,
    Container,
    build,
    ensure_standins,
    missing,
    podman,
    probe_lambda_image,
    run,
)
from harness.databases import Database, migrate
from harness.events import http_v2
from harness.http import reply
from harness.lambda_runtime import RuntimeEmulator, RuntimeProcess
from harness.postgres import free_port
from harness.servers import request_lines
from tests.conftest import Backend

UVICORN_IMAGE = "localhost/refdata:local"  # compose.yaml's name for it
LAMBDA_IMAGE = "localhost/refdata-lambda:local"
# A network of the container's own whose host loopback is 10.0.2.2: the image runs its own
# CMD (listening on 0.0.0.0 inside), published on 127.0.0.1 only, and reaches the suite's
# PostgreSQL, which listens on 127.0.0.1.
OWN_NETWORK = "slirp4netns:allow_host_loopback=true"
HOST_LOOPBACK = "10.0.2.2"


@pytest.fixture(scope="module")
def images(database: Database) -> dict[str, Built]:
    """Both images, built (the stand-ins first, made once and reused)."""
    if database.kind != "postgresql":
        pytest.skip("runs in the --db=postgresql session")
    why = missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires podman and mmdebstrap: {why}")
        pytest.skip(why)
    ensure_standins()
    built = {
        "uvicorn": build("Dockerfile", UVICORN_IMAGE),
        "lambda": build("Dockerfile.lambda", LAMBDA_IMAGE),
    }
    for name, image in built.items():
        print(f"\n  {name} image: built in {image.seconds:.1f} s, {image.size_bytes / 1e6:.0f} MB")
    return built


def seen_from_a_container(url: str) -> str:
    return url.replace("@127.0.0.1:", f"@{HOST_LOOPBACK}:")


def fetch(port: int, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.headers["content-type"], answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["content-type"], error.read()


def answering(port: int, path: str = "/health", timeout: float = 60) -> int:
    """The first status `path` answers with on 127.0.0.1:`port`, once it answers at all."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fetch(port, path)[0]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class UvicornImage(Container):
    """The uvicorn image with its own CMD, on a network of its own, published on a free
    127.0.0.1 port, against `database`."""

    def __init__(self, database: Database) -> None:
        self.port = free_port()
        super().__init__(
            UVICORN_IMAGE,
            env={"REFDATA_DATABASE_URL": seen_from_a_container(database.url)},
            network=OWN_NETWORK,
            publish=f"127.0.0.1:{self.port}:8000",
        )


def migrated_by_the_image(backend: Backend) -> Database:
    """A new database, migrated by the image's `alembic upgrade head` (as compose does)."""
    database = backend.new_database()
    done = run(
        UVICORN_IMAGE, "alembic", "upgrade", "head",
        env={"REFDATA_DATABASE_URL": seen_from_a_container(database.url)}, network=OWN_NETWORK,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return database


def test_the_uvicorn_image_migrates_serves_as_its_user_and_stops_on_sigterm(
    images: dict[str, Built], backend: Backend
) -> None:
    database = migrated_by_the_image(backend)
    with UvicornImage(database) as server:
        assert answering(server.port) == 200
        status, kind, body = fetch(server.port, "/countries/VN")
        assert (status, kind) == (200, "application/json")
        assert json.loads(body)["alpha_3"] == "VNM"
        status, kind, body = fetch(server.port, "/docs")
        assert status == 200
        assert kind.startswith("text/html")
        assert server.exec("id", "-u").stdout.strip() == "10001"
        assert server.healthcheck() == 0  # the image's HEALTHCHECK command, inside it
        seconds = server.stop(timeout=10)
        assert server.state("ExitCode") == "0"  # not 137: SIGTERM ended it, not SIGKILL
        assert seconds < 10
        assert "Finished server process" in server.logs()


def test_the_uvicorn_images_healthcheck_fails_while_the_data_is_unavailable(
    images: dict[str, Built], backend: Backend
) -> None:
    with UvicornImage(backend.new_database()) as server:  # never migrated: nothing to load
        assert answering(server.port) == 503
        assert server.healthcheck() != 0


def lambda_argv(image: str, names: list[str], handler: str | None = None) -> list[str]:
    """`podman run` of a Lambda image as Lambda runs it: the handler (its CMD, or `handler`)
    under the runtime interface client, Lambda's variables passed in by name."""
    flags = [f"-e{name}" for name in names]
    return [
        "podman", "run", "--rm", "--network=host", *flags, image, *([handler] if handler else []),
    ]  # fmt: skip


def lambda_image(
    runtime: RuntimeEmulator, database: Database, handler: str | None = None
) -> RuntimeProcess:
    env = {
        "REFDATA_DATABASE_URL": database.url,
        "REFDATA_LOG_LEVEL": "INFO",
        "CONTAINERS_CONF": str(CONF),
    }
    lambda_env = runtime.lambda_environment()
    names = [
        name
        for name in {**lambda_env, **env}
        if name not in ("LAMBDA_TASK_ROOT", "CONTAINERS_CONF")
    ]
    process = runtime.spawn(env=env, argv=lambda_argv(LAMBDA_IMAGE, names, handler))
    runtime.wait_ready(120)
    return process


def test_the_lambda_image_migrates_and_serves_under_the_runtime_client(
    images: dict[str, Built], backend: Backend
) -> None:
    database = backend.new_database()
    with RuntimeEmulator() as runtime:
        lambda_image(runtime, database, "app.migrate.handler")
        migrated = runtime.invoke({}, 120)
        assert migrated["changed"] is True, migrated
    with RuntimeEmulator() as runtime:
        process = lambda_image(runtime, database)
        answers = [
            reply(runtime.invoke(http_v2("GET", path), 30))
            for path in ["/health", *["/countries/VN"] * 5]
        ]
        assert [answer.status for answer in answers] == [200] * 6
        deadline = time.monotonic() + 10
        while len(request_lines(process.lines())) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = process.lines()
    assert sum('"message":"init complete"' in line for line in lines) == 1  # one INIT
    requests = request_lines(lines)
    assert [entry["sql_statements"] for entry in requests[1:]] == [0] * 5  # warm: no SQL
    assert requests[0]["cold_start"] is True


def test_the_lambda_image_imports_its_handler_without_compiling_and_serves(
    images: dict[str, Built], backend: Backend
) -> None:
    # The zip's gate (scripts/package_lambda.py), on the image: a read-only root, every
    # module from its .pyc, /health answered.
    database = backend.new_database()
    migrate(database.url)
    report = probe_lambda_image(LAMBDA_IMAGE, database.url)
    assert report["status"] == 200
    assert report["health"]["status"] == "ok"
    assert report["compiled"] == []
    print(f"\n  Lambda image: INIT {report['init_ms']:.0f} ms (import + first invoke)")


# compose.yaml's project name, and the service names it makes of it.
PROJECT = "refdata"


def compose(*args: str, timeout: float = 600) -> str:
    """`podman-compose -f docker/compose.yaml ARGS`; its output."""
    env = {**os.environ, "CONTAINERS_CONF": str(CONF)}
    command = [
        str(Path(sys.executable).parent / "podman-compose"),
        "-f", str(REPO / "docker" / "compose.yaml"),
        "--podman-build-args", f"--network=host -v {CA_BUNDLE}:{CA_BUNDLE}:ro --format docker",
        *args,
    ]  # fmt: skip
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout + done.stderr


def left_of_the_project() -> list[str]:
    containers = podman(
        "ps",
        "-a",
        "--filter",
        f"label=io.podman.compose.project={PROJECT}",
        "--format",
        "{{.Names}}",
    ).stdout.split()
    volumes = podman(
        "volume",
        "ls",
        "--filter",
        f"label=io.podman.compose.project={PROJECT}",
        "--format",
        "{{.Name}}",
    ).stdout.split()
    return containers + volumes


def test_the_compose_stack_comes_up_answers_and_leaves_nothing(images: dict[str, Built]) -> None:
    with socket.socket() as probe:  # compose.yaml publishes 127.0.0.1:8000
        assert probe.connect_ex(("127.0.0.1", 8000)) != 0, "port 8000 is taken: compose needs it"
    compose("build")
    try:
        compose("up", "-d", "db")
        # podman 4.3 runs no healthcheck by itself without systemd, so compose's
        # `service_healthy` cannot be waited for: the database's own healthcheck, run here.
        deadline = time.monotonic() + 120
        while podman("healthcheck", "run", f"{PROJECT}_db_1", check=False).returncode != 0:
            assert time.monotonic() < deadline, "the database never became healthy"
            time.sleep(1)
        compose("up", "-d", "--no-deps", "migrate")
        exited = podman("wait", f"{PROJECT}_migrate_1").stdout.strip()
        assert exited == "0"  # service_completed_successfully
        compose("up", "-d", "--no-deps", "api")
        assert answering(8000) == 200
        status, _, body = fetch(8000, "/countries/VN")
        assert status == 200
        assert json.loads(body)["alpha_2"] == "VN"
    finally:
        compose("down", "-v")
    assert left_of_the_project() == []
