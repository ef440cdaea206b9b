"""Execution environments as subprocesses.

`Uvicorn` serves `app.main:app` on a free loopback port; `LambdaEnvironment` runs the handler
under AWS's runtime client (harness/lambda_runtime.py). Both are stopped by PID. Their JSON log
(one `"message": "request"` line per request, with `sql_statements`) is kept for checking.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import ADMIN_KEY, ORDERS_KEY, REPO
from harness.events import http_v2
from harness.http import HOST, JSON, HttpClient, Reply, as_orders_client, reply
from harness.lambda_runtime import RuntimeEmulator, RuntimeProcess
from harness.postgres import free_port
from harness.processes import child_environment, terminate


def request_lines(lines: list[str]) -> list[dict[str, Any]]:
    """The per-request entries of the app's JSON log."""
    entries = []
    for line in lines:
        if '"message":"request"' in line:
            with contextlib.suppress(ValueError):
                entries.append(json.loads(line))
    return entries


REFDATA = "app.main:app"
# What every server and environment here is configured with, unless the caller says otherwise.
SERVED = {"REFDATA_LOG_LEVEL": "INFO", "REFDATA_ORDERS_API_KEY": ORDERS_KEY}


class Uvicorn:
    """refdata (`python -m app`, as `make run` serves it) or another ASGI app under uvicorn, on
    a free 127.0.0.1 port; everything it writes (the app's log on stderr, uvicorn's own lines)
    in a file. Ready once `probe` answers. uvicorn's own level is `warning` unless
    `uvicorn_log_level` says otherwise (`info`: what `make run` writes)."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        asgi: str = REFDATA,
        probe: str = "/health",
        uvicorn_log_level: str = "warning",
    ) -> None:
        self.env = {**SERVED, **env}
        self.uvicorn_log_level = uvicorn_log_level
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
        where = ["--host", HOST, "--port", str(self.port), "--log-level", self.uvicorn_log_level]
        if self.asgi == REFDATA:  # as `make run` and the Docker image serve it
            command = [sys.executable, "-m", "app", *where]
        else:
            command = [sys.executable, "-m", "uvicorn", self.asgi, *where, "--no-access-log"]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                cwd=REPO,
                env=child_environment(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
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
            process = runtime.spawn(env={**SERVED, **env})
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
        *,
        authorize: bool = True,
    ) -> Reply:
        """One invoke through the runtime (with the orders key, for /orders, if `authorize`);
        FunctionTimeout after `timeout` (the bound)."""
        if authorize:
            headers = as_orders_client(path, headers)
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
