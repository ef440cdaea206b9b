"""Execution environments as subprocesses, a keep-alive HTTP client, and the connections an
environment holds on the database server.

`Uvicorn` serves `app.main:app` on a free loopback port; `LambdaEnvironment` runs the handler
under AWS's runtime client (tests/lambda_runtime.py). Both are stopped by PID. Their JSON log
(one `"message": "request"` line per request, with `sql_statements`) is kept for checking.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tests.events import http_v2
from tests.lambda_runtime import RuntimeEmulator, RuntimeProcess
from tests.pg import PostgresServer, free_port, libpq_dsn, start_server
from tests.processes import terminate
from tests.support import ADMIN_KEY, REPO, Database, Reply, migrate, reply

HOST = "127.0.0.1"
JSON = {"content-type": "application/json"}


def child_environment(env: dict[str, str]) -> dict[str, str]:
    """The caller's environment without its REFDATA_* variables, plus `env`: what the
    environment is configured with is exactly what the caller says."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("REFDATA_")}
    return {**inherited, **env}


def request_lines(lines: list[str]) -> list[dict[str, Any]]:
    """The per-request entries of the app's JSON log."""
    entries = []
    for line in lines:
        if '"message":"request"' in line:
            with contextlib.suppress(ValueError):
                entries.append(json.loads(line))
    return entries


class HttpClient:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1; every request is timed."""

    def __init__(self, port: int, timeout: float = 30) -> None:
        self._connection = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[Reply, float]:
        started = time.perf_counter()
        try:
            self._connection.request(method, path, body, headers or {})
            response = self._connection.getresponse()
            data = response.read()
        except BaseException:
            self._connection.close()  # the next request opens a new connection
            raise
        seconds = time.perf_counter() - started
        headers_read = {name.lower(): value for name, value in response.getheaders()}
        return Reply(response.status, headers_read, data), seconds

    def close(self) -> None:
        self._connection.close()


class Uvicorn:
    """`uvicorn app.main:app` (or another ASGI app) on a free 127.0.0.1 port; its stderr
    (the app's log) in a file. Ready once `probe` answers."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        asgi: str = "app.main:app",
        probe: str = "/health",
    ) -> None:
        self.env = {"REFDATA_LOG_LEVEL": "INFO", **env}
        self.log_path = log_path
        self.asgi = asgi
        self.probe = probe
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("uvicorn is not started")
        return self._process.pid

    def start(self, timeout: float = 60) -> Uvicorn:
        command = [
            sys.executable, "-m", "uvicorn", self.asgi, "--host", HOST,
            "--port", str(self.port), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(  # noqa: S603 -- our interpreter, our arguments
                command,
                cwd=REPO,
                env=child_environment(self.env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while True:
            client = HttpClient(self.port, timeout=2)
            try:
                client.request("GET", self.probe)
                return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"uvicorn ({self.asgi}) did not start:\n{self.log()[-3000:]}"
                    ) from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after 10 s."""
        if self._process is not None:
            terminate(self._process)

    def __enter__(self) -> Uvicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, timeout: float = 30) -> HttpClient:
        return HttpClient(self.port, timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def requests(self) -> list[dict[str, Any]]:
        return request_lines(self.log().splitlines())


@dataclass
class LambdaEnvironment:
    """One execution environment: an awslambdaric process on an emulated Runtime API."""

    runtime: RuntimeEmulator
    process: RuntimeProcess

    @classmethod
    def start(cls, env: dict[str, str], init_timeout: float = 90) -> LambdaEnvironment:
        """INIT a new environment with Lambda's variables plus `env` (not the caller's)."""
        runtime = RuntimeEmulator().start()
        try:
            process = runtime.spawn(env={"REFDATA_LOG_LEVEL": "INFO", **env})
            runtime.wait_ready(init_timeout)
        except BaseException:
            runtime.stop()
            raise
        return cls(runtime, process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.runtime.stop()

    def invoke(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 30,
    ) -> Reply:
        """One invoke through the runtime; FunctionTimeout after `timeout` (the bound)."""
        return reply(self.runtime.invoke(http_v2(method, path, headers, body), timeout))

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.invoke("GET", path, headers)

    def put(self, path: str, body: dict[str, Any], key: str = ADMIN_KEY) -> Reply:
        headers = {"authorization": f"Bearer {key}", **JSON}
        return self.invoke("PUT", path, headers, json.dumps(body).encode())

    def requests(self) -> list[dict[str, Any]]:
        return request_lines(self.process.lines())

    def last_request(self, count: int) -> dict[str, Any]:
        """The `count`-th request log entry, once it is written."""
        self.process.wait_for_output(
            lambda lines: sum('"message":"request"' in line for line in lines) >= count, 10
        )
        return self.requests()[count - 1]


def local_ports(pid: int) -> set[int]:
    """The local TCP ports of process `pid`'s sockets (Linux /proc): its client connections."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed while we look
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def app_connections(admin_url: str, pid: int) -> list[int]:
    """Server backends (their PIDs) serving the app's connections from process `pid`.

    PostgreSQL's own view (pg_stat_activity, application_name 'refdata'), narrowed to the
    client ports that process holds open, so other environments on the server do not count.
    """
    ports = sorted(local_ports(pid))
    with psycopg.connect(libpq_dsn(admin_url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = 'refdata' AND client_port = ANY(%s)",
            (ports,),
        ).fetchall()
    return sorted(row[0] for row in rows)


@contextlib.contextmanager
def throwaway_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of our own (tests/pg.py), destroyed afterwards."""
    server = start_server()
    try:
        yield server
    finally:
        server.destroy()


@contextlib.contextmanager
def throwaway_database(kind: str) -> Iterator[Database]:
    """A migrated database of `kind` ("sqlite" or "postgresql") that nothing else uses."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="refdata-reliability-") as tmp:
            url = f"sqlite:///{tmp}/refdata.db"
            migrate(url)
            yield Database("sqlite", url, None)
        return
    with throwaway_server() as server:
        url = server.url("postgres")
        migrate(url)
        yield Database("postgresql", url, url)
