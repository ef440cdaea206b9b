"""An emulator of the AWS Lambda Runtime API, to run the handler under AWS's own runtime client.

`RuntimeEmulator` serves the Runtime API (2018-06-01) on 127.0.0.1. `spawn()` starts
`python -m awslambdaric app.lambda_handler.handler` against it in a new process, the bootstrap
of Lambda's Python runtime: INIT once, then one invoke at a time, each fetched with a blocking
`GET .../invocation/next`. `invoke()` queues an event and waits for the function's answer.

`python -m tests.lambda_runtime` (`make lambda`) also opens an HTTP front door: every plain HTTP
request becomes an API Gateway HTTP API (payload 2.0) event, invoked through the runtime.

Standard library only (plus `tests.events`, itself standard library only).
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, cast

from tests.events import ACCOUNT, http_v2
from tests.processes import terminate

REPO = Path(__file__).resolve().parent.parent
HANDLER = "app.lambda_handler.handler"
HOST = "127.0.0.1"
RUNTIME = "/2018-06-01/runtime"
_RESULT_PATH = re.compile(rf"^{RUNTIME}/invocation/([^/]+)/(response|error)$")
# Inherited from the caller's environment; everything else a Lambda function sees is set here.
_PASSTHROUGH = ("PATH", "TMPDIR", "SYSTEMROOT")


class FunctionError(RuntimeError):
    """The function failed: its handler raised, its INIT failed, or its process died."""

    def __init__(self, message: str, payload: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.payload = payload or {}


class FunctionTimeout(TimeoutError):
    """The function did not answer (or did not finish INIT) in time."""


@dataclass(eq=False)
class _Invocation:
    request_id: str
    event: bytes
    done: threading.Event = field(default_factory=threading.Event)
    abandoned: bool = False  # timed out: not handed out any more, a late answer is dropped
    outcome: str = ""  # "response" or "error"
    body: bytes = b""


class RuntimeProcess:
    """One `python -m awslambdaric` process: an execution environment. Its output is kept."""

    def __init__(
        self, popen: subprocess.Popen[bytes], echo: IO[str] | None, max_lines: int
    ) -> None:
        self.popen = popen
        self.started_at = time.perf_counter()
        self.ready_at: float | None = None  # its first GET .../next: INIT is over
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._changed = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(
            target=self._read, args=(echo,), name=f"awslambdaric-{popen.pid}-output", daemon=True
        )
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def init_ms(self) -> float | None:
        """From spawn to the first poll for an invocation: interpreter start, imports, INIT."""
        if self.ready_at is None:
            return None
        return (self.ready_at - self.started_at) * 1000

    def poll(self) -> int | None:
        return self.popen.poll()

    def _read(self, echo: IO[str] | None) -> None:
        assert self.popen.stdout is not None
        # Split on "\n" only: awslambdaric joins the lines of an error report with "\r".
        for raw in self.popen.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
            if echo is not None:
                echo.write(line.replace("\r", "\n") + "\n")
                echo.flush()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def lines(self) -> list[str]:
        """Everything the process wrote to stdout and stderr so far, one entry per line."""
        with self._changed:
            return list(self._lines)

    def output(self) -> str:
        return "\n".join(self.lines())

    def json_lines(self) -> list[dict[str, Any]]:
        """The lines that are JSON objects (the app's log), parsed."""
        entries = []
        for line in self.lines():
            if line.startswith("{"):
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict):
                    entries.append(entry)
        return entries

    def wait_for_output(self, predicate: Callable[[list[str]], bool], timeout: float) -> None:
        """Wait until `predicate(lines)` holds; FunctionTimeout after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(list(self._lines)):
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    raise FunctionTimeout(
                        f"the expected output did not appear within {timeout} s"
                        f" (process {'exited' if self._eof else 'still running'})"
                    )
                self._changed.wait(remaining)

    def stop(self, timeout: float = 5.0) -> int:
        """Terminate this process (SIGTERM, then SIGKILL after `timeout`); its exit code."""
        terminate(self.popen, timeout)
        self._reader.join(timeout)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return self.popen.returncode


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        try:
            super().server_bind()
        except OSError as error:
            host, port = self.server_address[:2]
            message = f"cannot listen on {host!s}:{port}: {error.strerror}"
            raise OSError(error.errno, message) from None

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a stopped client: expected
            super().handle_error(request, client_address)


class _RuntimeServer(_Server):
    def __init__(self, port: int, emulator: RuntimeEmulator) -> None:
        super().__init__((HOST, port), _RuntimeAPI)
        self.emulator = emulator


class _RuntimeAPI(BaseHTTPRequestHandler):
    """The Runtime API endpoints a runtime client calls; the work is done by the emulator."""

    protocol_version = "HTTP/1.1"  # the runtime client keeps one connection alive
    # Headers and body leave in two writes: with Nagle on, each answer waits for a delayed
    # ACK (measured: ~88 ms per invoke instead of ~1 ms).
    disable_nagle_algorithm = True

    @property
    def emulator(self) -> RuntimeEmulator:
        return cast(_RuntimeServer, self.server).emulator

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per poll and per answer is noise

    def do_GET(self) -> None:
        if self.path == f"{RUNTIME}/restore/next":  # SnapStart: "restored" at once
            self._reply(200, {})
            return
        if self.path != f"{RUNTIME}/invocation/next":
            self._reply(404, {"errorType": "NotFound", "errorMessage": self.path})
            return
        invocation = self.emulator._next_invocation()
        if invocation is None:  # shutting down: close without an answer
            self.close_connection = True
            return
        headers = self.emulator._invocation_headers(invocation)
        try:
            self._send(200, invocation.event, headers)
        except OSError:
            self.emulator._complete(invocation.request_id, "error", b'{"errorType":"Lost"}')

    def do_POST(self) -> None:
        body = self._body()
        match = _RESULT_PATH.match(self.path)
        if self.path in (f"{RUNTIME}/init/error", f"{RUNTIME}/restore/error"):
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type", "")
            self.emulator._init_error(body, error_type)
            self._reply(202, {"status": "OK"})
        elif match is None:
            self._reply(404, {"errorType": "NotFound", "errorMessage": self.path})
        elif self.emulator._complete(match[1], match[2], body):
            self._reply(202, {"status": "OK"})
        else:
            message = f"unknown request id {match[1]}"
            self._reply(400, {"errorType": "InvalidRequestID", "errorMessage": message})

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, document: dict[str, str]) -> None:
        self._send(status, json.dumps(document).encode(), {"Content-Type": "application/json"})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()


class RuntimeEmulator:
    """The Lambda Runtime API on 127.0.0.1, and the one function process that polls it.

    ```
    with RuntimeEmulator() as runtime:
        runtime.spawn(env={"REFDATA_DATABASE_URL": url})
        runtime.wait_ready(timeout=60)
        reply = runtime.invoke(http_v2("GET", "/health"), timeout=10)
    ```
    """

    def __init__(
        self,
        port: int = 0,
        *,
        function_name: str = "refdata-api",
        region: str = "eu-west-1",
        memory_mb: int = 512,
        timeout_seconds: float = 30.0,
        initialization_type: str = "on-demand",
        max_output_lines: int = 100_000,
    ) -> None:
        self.port = port
        self.function_name = function_name
        self.region = region
        self.memory_mb = memory_mb
        self.timeout_seconds = timeout_seconds  # the function's timeout: Deadline-Ms
        # "snap-start": awslambdaric runs the before-snapshot hooks, then the after-restore
        # ones (this emulator restores at once, in the same process).
        self.initialization_type = initialization_type
        self.max_output_lines = max_output_lines
        self.function_arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{function_name}"
        self.init_errors: list[dict[str, Any]] = []
        self.process: RuntimeProcess | None = None
        self._server: _RuntimeServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._pending: queue.Queue[_Invocation] = queue.Queue()
        self._invocations: dict[str, _Invocation] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        return f"{HOST}:{self.port}"

    def start(self) -> RuntimeEmulator:
        self._stopping.clear()
        self._server = _RuntimeServer(self.port, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="lambda-runtime-api",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the function process (by PID), then the server. Safe to call twice."""
        if self.process is not None:
            self.process.stop(timeout)
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> RuntimeEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def lambda_environment(self, handler: str = HANDLER) -> dict[str, str]:
        """The variables Lambda's Python runtime sets for a function."""
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        today = datetime.now(UTC).strftime("%Y/%m/%d")
        return {
            "AWS_LAMBDA_RUNTIME_API": self.address,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(REPO),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{python}",
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_INITIALIZATION_TYPE": self.initialization_type,
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{today}/[$LATEST]{uuid.uuid4().hex}",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "TZ": ":UTC",
            "LANG": "C.UTF-8",  # Lambda has en_US.UTF-8; C.UTF-8 exists on every glibc
        }

    def spawn(
        self,
        handler: str = HANDLER,
        env: dict[str, str] | None = None,
        echo: IO[str] | None = None,
    ) -> RuntimeProcess:
        """Start `python -m awslambdaric <handler>` from the repo root against this API.

        Its environment is Lambda's (see `lambda_environment`) plus `env`, not the caller's.
        Its stdout and stderr are kept in the returned process and copied to `echo` if given.
        """
        if self._server is None:
            raise RuntimeError("start() the emulator before spawning a function")
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"a function process is already running (pid {self.process.pid})")
        if importlib.util.find_spec("awslambdaric") is None:
            raise RuntimeError(
                f"awslambdaric is not installed for {sys.executable}; it is a dev dependency:"
                " pip install -e '.[dev]'"
            )
        environment = {name: os.environ[name] for name in _PASSTHROUGH if name in os.environ}
        environment |= self.lambda_environment(handler) | (env or {})
        with self._lock:
            self._ready = threading.Event()
            self.init_errors = []  # those of the environment this process starts
            self.process = RuntimeProcess(
                subprocess.Popen(
                    [sys.executable, "-m", "awslambdaric", handler],
                    cwd=REPO,
                    env=environment,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C reaches the emulator, which stops it
                ),
                echo,
                self.max_output_lines,
            )
            return self.process

    def wait_ready(self, timeout: float) -> RuntimeProcess:
        """Wait until the function finished INIT and polls for its first invocation."""
        process = self.process
        if process is None:
            raise RuntimeError("no function process: spawn() one first")
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            self._check_alive()
            if time.monotonic() > deadline:
                raise FunctionTimeout(
                    f"the function did not finish INIT within {timeout} s:\n{process.output()}"
                )
        return process

    def invoke(self, event: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Queue `event`, wait for the function's response and return it (a JSON object).

        FunctionError if the handler raised (its error document is `.payload`), INIT failed or
        the process died; FunctionTimeout after `timeout` (default: the function's timeout).
        """
        wait = self.timeout_seconds if timeout is None else timeout
        invocation = _Invocation(str(uuid.uuid4()), json.dumps(event).encode())
        with self._lock:
            self._invocations[invocation.request_id] = invocation
        self._pending.put(invocation)
        deadline = time.monotonic() + wait
        try:
            while not invocation.done.wait(max(0.0, min(0.05, deadline - time.monotonic()))):
                self._check_alive()
                if time.monotonic() >= deadline:
                    raise FunctionTimeout(
                        f"invocation {invocation.request_id} got no answer within {wait} s"
                    )
        finally:
            with self._lock:
                invocation.abandoned = not invocation.done.is_set()
                if not invocation.abandoned:
                    del self._invocations[invocation.request_id]
        try:
            document = json.loads(invocation.body)
        except ValueError:
            document = None
        if invocation.outcome == "error":
            payload = document if isinstance(document, dict) else {}
            trace = "".join(payload.get("stackTrace") or [])
            raise FunctionError(
                f"the handler failed: {payload.get('errorType')}: {payload.get('errorMessage')}"
                + (f"\n{trace}" if trace else ""),
                payload,
            )
        if not isinstance(document, dict):
            raise FunctionError(f"the handler returned {invocation.body[:200]!r}, not an object")
        return document

    def _check_alive(self) -> None:
        """FunctionError if this environment's INIT failed or its process is gone."""
        process = self.process
        exit_code = None if process is None else process.poll()
        if exit_code is None and not self.init_errors:
            return
        error = self.init_errors[-1] if self.init_errors else None
        reason = (
            f"INIT failed: {error.get('errorType')}: {error.get('errorMessage')}"
            if error
            else "it died"
        )
        if process is None:
            raise FunctionError(reason, error)
        if exit_code is None:
            return  # it reported an INIT error and is about to exit: report that exit
        tail = "\n".join(process.lines()[-30:]).replace("\r", "\n")
        raise FunctionError(
            f"the function process (pid {process.pid}) exited with code {exit_code}; {reason}"
            f"\n{tail}",
            error,
        )

    # Called by the HTTP handler threads.

    def _next_invocation(self) -> _Invocation | None:
        with self._lock:
            process = self.process
            if process is not None and process.ready_at is None:
                process.ready_at = time.perf_counter()
            self._ready.set()
        while not self._stopping.is_set():
            try:
                invocation = self._pending.get(timeout=0.1)
            except queue.Empty:
                continue
            with self._lock:
                if not invocation.abandoned:
                    return invocation
                del self._invocations[invocation.request_id]  # its caller gave up
        return None

    def _invocation_headers(self, invocation: _Invocation) -> dict[str, str]:
        now = time.time()
        trace = f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]}"
        return {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int((now + self.timeout_seconds) * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Lambda-Runtime-Trace-Id": f"{trace};Sampled=0",
        }

    def _complete(self, request_id: str, outcome: str, body: bytes) -> bool:
        with self._lock:
            invocation = self._invocations.get(request_id)
            if invocation is None:
                return False
            if invocation.abandoned:  # answered after its caller gave up: dropped
                del self._invocations[request_id]
                return True
            invocation.outcome, invocation.body = outcome, body
            invocation.done.set()
            return True

    def _init_error(self, body: bytes, error_type: str) -> None:
        try:
            document = json.loads(body)
        except ValueError:
            document = {"errorMessage": body.decode("utf-8", "replace")}
        if not isinstance(document, dict):
            document = {"errorMessage": document}
        self.init_errors.append({"errorType": error_type, **document})


class _FrontDoorServer(_Server):
    def __init__(self, port: int, runtime: RuntimeEmulator) -> None:
        super().__init__((HOST, port), _FrontDoor)
        self.runtime = runtime


# Not forwarded to the function, as API Gateway does not; or recomputed for the client.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
_JSON = [("content-type", "application/json")]


class _FrontDoor(BaseHTTPRequestHandler):
    """Plain HTTP in, an HTTP API (2.0) event through the runtime, the proxy response out."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._forward()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"front door: {format % args}\n")

    def _forward(self) -> None:
        runtime = cast(_FrontDoorServer, self.server).runtime
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                key = name.lower()
                headers[key] = f"{headers[key]},{value}" if key in headers else value
        event = http_v2(self.command, self.path, headers, body)
        started = time.perf_counter()
        try:
            result = runtime.invoke(event)
        except FunctionTimeout as error:
            self._send(504, _JSON, b'{"message":"Endpoint request timed out"}', str(error))
            return
        except FunctionError as error:  # API Gateway hides the function's error too
            self._send(502, _JSON, b'{"message":"Internal Server Error"}', str(error))
            return
        elapsed = (time.perf_counter() - started) * 1000
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        pairs = [
            (name, str(value))
            for name, value in (result.get("headers") or {}).items()
            if name.lower() not in _HOP_BY_HOP
        ]
        for name, values in (result.get("multiValueHeaders") or {}).items():
            if name.lower() not in _HOP_BY_HOP:
                pairs += [(name, str(value)) for value in values]
        pairs += [("set-cookie", cookie) for cookie in result.get("cookies") or []]
        self._send(int(result["statusCode"]), pairs, payload, f"invoke {elapsed:.1f} ms")

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, note: str) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        sys.stderr.write(f"front door: {self.command} {self.path} -> {status} ({note})\n")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _send writes one line per request, with the invoke's duration


def serve_front_door(runtime: RuntimeEmulator, port: int) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:`port` that invokes the function for each request."""
    server = _FrontDoorServer(port, runtime)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="front-door", daemon=True
    ).start()
    return server


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.lambda_runtime",
        description="Run the Lambda handler under awslambdaric on an emulated Runtime API,"
        " with a local HTTP front door. REFDATA_* variables are passed to the function.",
    )
    parser.add_argument("--port", type=int, default=9001, help="Runtime API port (0: any)")
    parser.add_argument("--http-port", type=int, default=3000, help="HTTP front door port")
    parser.add_argument("--handler", default=HANDLER)
    parser.add_argument("--timeout", type=float, default=30.0, help="function timeout, seconds")
    parser.add_argument("--init-timeout", type=float, default=60.0, help="seconds")
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="for the function"
    )
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k.startswith("REFDATA_")}
    for pair in args.env:
        key, sep, value = pair.partition("=")
        if not sep:
            parser.error(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value

    # `kill <pid>` stops as cleanly as Ctrl-C, and so does SIGINT when started in background.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    runtime = RuntimeEmulator(args.port, timeout_seconds=args.timeout)
    front: ThreadingHTTPServer | None = None
    try:
        runtime.start()
        process = runtime.spawn(args.handler, env, echo=sys.stderr)
        runtime.wait_ready(args.init_timeout)
        front = serve_front_door(runtime, args.http_port)
        http_port = front.server_address[1]
        print(
            f"Lambda Runtime API  http://{runtime.address}{RUNTIME}/invocation/next\n"
            f"function            {args.handler} (awslambdaric, pid {process.pid}),"
            f" ready {process.init_ms:.0f} ms after spawn\n"
            f"HTTP front door     http://{HOST}:{http_port}"
            f"  (try: curl http://{HOST}:{http_port}/countries/VN)\n"
            "Ctrl-C to stop.",
            flush=True,
        )
        while process.poll() is None:
            time.sleep(0.2)
        print(f"the function process exited with code {process.poll()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
        return 0
    except (FunctionError, FunctionTimeout, OSError) as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)  # output is above
        return 1
    finally:
        # A second Ctrl-C must not cut the cleanup short (it is bounded: terminate, then kill).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if front is not None:
            front.shutdown()
            front.server_close()
        runtime.stop()


if __name__ == "__main__":
    sys.exit(main())
