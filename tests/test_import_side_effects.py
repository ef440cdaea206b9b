"""One module builds; the rest define (docs/architecture.md): importing any module of `app`
other than app.init and the entry points opens no socket, builds no engine or cache, parses
no settings and logs nothing. Each is imported in a fresh interpreter with the database
unreachable and a log level no settings parse accepts, so a module that built anything
would connect, fail, or complain."""

from __future__ import annotations

import json
import pkgutil
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import app
from harness.processes import run_python

# What may build at import: INIT itself, and the entry points that import it.
BUILDERS = {"app.init", "app.main", "app.lambda_handler", "app.migrate"}
MODULES = sorted(
    info.name for info in pkgutil.walk_packages(app.__path__, "app.") if info.name not in BUILDERS
)

PROBE = """
import gc, importlib, json, logging, sys
seen = []
def audit(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.bind", "sqlite3.connect"):
        seen.append(event)
sys.addaudithook(audit)
importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else MODULE)
built = [type(o).__name__ for o in gc.get_objects()
         if type(o).__name__ in ("Engine", "ReferenceCache", "Settings", "Database")]
print(json.dumps({
    "events": seen,
    "built": sorted(built),
    "logger_configured": bool(logging.getLogger("refdata").handlers),
}))
"""


class Listener:
    """A port where the database should be: it counts who connects, then hangs up."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self.socket.close()

    def env(self) -> dict[str, str]:
        """The database here (it answers nobody), and settings that cannot be parsed."""
        return {
            "REFDATA_DATABASE_URL": f"postgresql+psycopg://refdata@127.0.0.1:{self.port}/refdata",
            "REFDATA_LOG_LEVEL": "NOT-A-LEVEL",
            "REFDATA_DB_CONNECT_TIMEOUT_SECONDS": "1",
        }


@pytest.fixture(scope="module")
def database_port() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


def imported(module: str, env: dict[str, str]) -> tuple[dict[str, Any], str]:
    result = run_python(PROBE.replace("MODULE", repr(module)), env)
    assert result.returncode == 0, f"import {module}: {result.stderr[-2000:]}"
    return json.loads(result.stdout.splitlines()[-1]), result.stderr


def test_every_module_is_checked() -> None:
    assert len(MODULES) >= 20
    assert {"app.problems", "app.snapshot.cache", "app.kit.db", "app.routes.orders"} <= set(MODULES)


@pytest.fixture(scope="module")
def imports(database_port: Listener) -> dict[str, tuple[dict[str, Any], str]]:
    env = database_port.env()
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = dict(zip(MODULES, pool.map(lambda name: imported(name, env), MODULES), strict=True))
    assert database_port.connections == 0, "a module connected to the database at import"
    return found


@pytest.mark.parametrize("module", MODULES)
def test_importing_a_module_builds_nothing(
    imports: dict[str, tuple[dict[str, Any], str]], module: str
) -> None:
    report, stderr = imports[module]
    assert report == {"events": [], "built": [], "logger_configured": False}
    assert stderr == ""  # nothing logged, nothing warned


def test_the_probe_sees_what_init_builds(database_port: Listener) -> None:
    """The same probe on app.init: settings, engine and cache built, the logger configured,
    the database called (and its failure logged)."""
    before = database_port.connections
    report, stderr = imported("app.init", {**database_port.env(), "REFDATA_LOG_LEVEL": "INFO"})
    assert {"Settings", "Engine", "ReferenceCache", "Database"} <= set(report["built"])
    assert database_port.connections > before
    assert report["logger_configured"] is True
    assert "reference cache refresh failed" in stderr
