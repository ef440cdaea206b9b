"""An emulator of the AWS Lambda Runtime API, to run the handler under AWS's own runtime client.

`RuntimeEmulator` serves the Runtime API (2018-06-01) on 127.0.0.1. `spawn()` starts
`python -m awslambdaric app.lambda_handler.handler` against it in a new process, the bootstrap
of Lambda's Python runtime: INIT once, then one invoke at a time, each fetched with a blocking
`GET .../invocation/next`. `invoke()` queues an event and waits for the function's answer.

`RuntimeEmulator(max_concurrency=N)` is a Lambda Managed Instances (LMI) environment instead:
the function sees AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances and
AWS_LAMBDA_MAX_CONCURRENCY=N, so awslambdaric's main process forks N worker processes, each
with its own INIT, globals and polling loop. It is ready once all N poll `/next` at once, and
`invoke()` may be called from several threads: concurrent invokes run on different workers.
As on LMI, each worker sends its stdout and stderr to a socket of the runtime's
(`_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET`), so its output is kept apart
(`RuntimeProcess.workers`). Which worker fetched an invocation is read from its connection
(Linux /proc), and `invoke(..., worker=pid)` hands an event to that worker only: a test hook,
Lambda has none.

`python -m harness.lambda_runtime` (`make lambda`) also opens an HTTP front door: every plain HTTP
request becomes an API Gateway HTTP API (payload 2.0) event, invoked through the runtime.

Standard library only (plus `harness.events` and `harness.leaks`, themselves standard library only).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, cast

from harness import leaks
from harness.events import ACCOUNT, http_v2
from harness.processes import terminate

REPO = Path(__file__).resolve().parent.parent
HANDLER = "app.lambda_handler.handler"
HOST = "127.0.0.1"
RUNTIME = "/2018-06-01/runtime"
MANAGED_INSTANCES = "lambda-managed-instances"  # AWS_LAMBDA_INITIALIZATION_TYPE on LMI
_RESULT_PATH = re.compile(rf"^{RUNTIME}/invocation/([^/]+)/(response|error)$")
# Inherited from the caller's environment; everything else a Lambda function sees is set here.
_PASSTHROUGH = ("PATH", "TMPDIR", "SYSTEMROOT")
_UCRED = struct.Struct("3i")  # SO_PEERCRED: pid, uid, gid
# The role credentials every function process gets, as Lambda sets them (fakes).
SESSION_SECRET_KEY = "emulated-secret-access-key-" + uuid.uuid4().hex
SESSION_TOKEN = "emulated-session-token-" + uuid.uuid4().hex
leaks.register("the function's AWS credentials", SESSION_SECRET_KEY, SESSION_TOKEN)


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
    worker: int | None = None  # only this worker may fetch it (None: any)
    done: threading.Event = field(default_factory=threading.Event)
    abandoned: bool = False  # timed out: not handed out any more, a late answer is dropped
    served_by: int | None = None  # the worker that fetched it (None: not yet, or not known)
    handed_out: bool = False
    outcome: str = ""  # "response" or "error"
    body: bytes = b""


@dataclass(frozen=True)
class Served:
    """An invocation's answer (a JSON object) and the PID of the worker that produced it."""

    worker: int | None  # None if its connection could not be traced to a process
    document: dict[str, Any]


def alive(pid: int) -> bool:
    """Process `pid` exists and is not a zombie (Linux /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def rss_kib(pid: int) -> int | None:
    """Resident set size of process `pid` in KiB (VmRSS in /proc/<pid>/status), if running."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def _port(address: str) -> int:
    return int(address.rpartition(":")[2], 16)  # /proc/net/tcp: "0100007F:2329"


def _socket_owner(local_port: int, remote_port: int, pids: Iterable[int]) -> int | None:
    """The process among `pids` holding the TCP socket from `local_port` to `remote_port`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if _port(fields[1]) == local_port and _port(fields[2]) == remote_port:
                    inodes.add(f"socket:[{fields[9]}]")
    for pid in pids if inodes else ():
        with contextlib.suppress(OSError):  # gone, or a descriptor closed while we look
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        return pid
    return None


class _Output:
    """The lines a process wrote, as they arrive."""

    def __init__(self, max_lines: int) -> None:
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._changed = threading.Condition()
        self._eof = False

    def _append(self, line: str) -> None:
        leaks.check(line, "a function process's output")
        with self._changed:
            self._lines.append(line)
            self._changed.notify_all()

    def _close(self) -> None:
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    def lines(self) -> list[str]:
        """Everything written to stdout and stderr so far, one entry per line."""
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
                        f" ({'output closed' if self._eof else 'still running'})"
                    )
                self._changed.wait(remaining)


class Worker(_Output):
    """A process that polls for invocations: on managed instances, one of the N workers (its
    own INIT, globals and output); on demand, the environment's one process."""

    def __init__(self, pid: int, max_lines: int) -> None:
        super().__init__(max_lines)
        self.pid = pid
        self.ready_at: float | None = None  # its first GET .../next: its INIT is over
        self.served = 0  # invocations it fetched
        self._streams = 0  # its open output sockets (stdout, stderr)

    def alive(self) -> bool:
        return alive(self.pid)

    def rss_kib(self) -> int | None:
        return rss_kib(self.pid)


class RuntimeProcess(_Output):
    """One `python -m awslambdaric` process: an execution environment. Its output is kept,
    and on managed instances its workers' too: `lines()` has all of it, in arrival order
    (a worker's stdout and stderr are two streams: their order between them is not kept)."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        echo: IO[str] | None,
        max_lines: int,
        max_concurrency: int | None = None,
    ) -> None:
        super().__init__(max_lines)
        self.popen = popen
        self.max_concurrency = max_concurrency
        self.started_at = time.perf_counter()
        self.ready_at: float | None = None  # every worker polls for an invocation: INIT is over
        self.workers: dict[int, Worker] = {}  # by PID, as each shows up
        self._echo = echo
        self._max_lines = max_lines
        self._workers_lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        sinks: list[_Output] = [self]
        if max_concurrency is None:
            sinks.append(self._worker(popen.pid))
        assert popen.stdout is not None
        self._read_in_background(popen.stdout, sinks, self._close, f"awslambdaric-{popen.pid}")

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def init_ms(self) -> float | None:
        """From spawn to every worker polling for an invocation: interpreter start, imports,
        INIT (of all of them, on managed instances)."""
        if self.ready_at is None:
            return None
        return (self.ready_at - self.started_at) * 1000

    def poll(self) -> int | None:
        return self.popen.poll()

    def children(self) -> list[int]:
        """PIDs of this process's running children (Linux /proc): on managed instances, its
        workers."""
        pids: set[int] = set()
        for children in Path(f"/proc/{self.pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                pids.update(int(pid) for pid in children.read_text().split())
        return sorted(pid for pid in pids if alive(pid))

    def worker_pids(self) -> list[int]:
        """The running processes that poll for invocations: the workers, or this process."""
        return self.children() if self.max_concurrency is not None else [self.pid]

    def rss_kib(self) -> int | None:
        return rss_kib(self.pid)

    def _worker(self, pid: int) -> Worker:
        with self._workers_lock:
            worker = self.workers.get(pid)
            if worker is None:
                worker = self.workers[pid] = Worker(pid, self._max_lines)
            return worker

    def _read_in_background(
        self, stream: IO[bytes], sinks: list[_Output], at_end: Callable[[], None], name: str
    ) -> None:
        reader = threading.Thread(
            target=self._read, args=(stream, sinks, at_end), name=f"{name}-output", daemon=True
        )
        self._readers.append(reader)
        reader.start()

    def _read(self, stream: IO[bytes], sinks: list[_Output], at_end: Callable[[], None]) -> None:
        try:
            # Split on "\n" only: awslambdaric joins the lines of an error report with "\r".
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                for sink in sinks:
                    sink._append(line)
                if self._echo is not None:
                    self._echo.write(line.replace("\r", "\n") + "\n")
                    self._echo.flush()
        except (OSError, ValueError):
            pass  # closed under us by stop()
        finally:
            at_end()

    def _attach_stream(self, pid: int, connection: socket.socket) -> None:
        """A worker connected to the telemetry socket: one of its output streams."""
        worker = self._worker(pid)
        with worker._changed:
            worker._streams += 1

        stream = connection.makefile("rb")

        def at_end() -> None:
            stream.close()
            connection.close()
            with worker._changed:
                worker._streams -= 1
                if worker._streams == 0:
                    worker._close()

        self._read_in_background(stream, [self, worker], at_end, f"worker-{pid}")

    def stop(self, timeout: float = 5.0) -> int:
        """Stop the environment and every process of it; the main process's exit code.

        Workers first (SIGTERM by PID: they are the main process's children), so the main
        process joins them and exits, leaving no zombie. What still runs after `timeout` is
        killed with its process group (started with start_new_session=True: the main process
        leads it, and is not reaped yet, so the group is this environment's). Then the main
        process: SIGTERM, SIGKILL after `timeout`."""
        workers = self.children()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if workers:
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
        terminate(self.popen, timeout)
        # Workers that outlived the main process (it died first): still in its group.
        for pid in set(self.workers) | set(workers):
            with contextlib.suppress(OSError):
                if pid != self.pid and alive(pid) and os.getpgid(pid) == self.pid:
                    os.kill(pid, signal.SIGKILL)
        for reader in self._readers:
            reader.join(timeout)
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
    """The Runtime API endpoints a runtime client calls; the work is done by the emulator.

    One instance per connection; a runtime client (a worker) keeps one connection alive."""

    protocol_version = "HTTP/1.1"  # the runtime client keeps one connection alive
    # Headers and body leave in two writes: with Nagle on, each answer waits for a delayed
    # ACK, which would make every emulated invoke slower than the function it serves.
    disable_nagle_algorithm = True
    _traced = False
    _worker: int | None = None  # the PID at the other end of this connection, if found

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
        if not self._traced:
            self._worker = self.emulator._worker_at(self.client_address[1])
            self._traced = True
        invocation = self.emulator._next_invocation(self._worker)
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
    """The Lambda Runtime API on 127.0.0.1, and the function process that polls it.

    ```
    with RuntimeEmulator() as runtime:  # or RuntimeEmulator(max_concurrency=4): LMI
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
        initialization_type: str | None = None,
        max_concurrency: int | None = None,
        max_output_lines: int = 100_000,
    ) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be 1 or more, not {max_concurrency}")
        self.port = port
        self.function_name = function_name
        self.region = region
        self.memory_mb = memory_mb
        self.timeout_seconds = timeout_seconds  # the function's timeout: Deadline-Ms
        # Managed instances: N worker processes (PerExecutionEnvironmentMaxConcurrency).
        self.max_concurrency = max_concurrency
        # "snap-start": awslambdaric runs the before-snapshot hooks, then the after-restore
        # ones (this emulator restores at once, in the same process).
        default_type = "on-demand" if max_concurrency is None else MANAGED_INSTANCES
        self.initialization_type = initialization_type or default_type
        self.max_output_lines = max_output_lines
        self.function_arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{function_name}"
        self.init_errors: list[dict[str, Any]] = []
        self.process: RuntimeProcess | None = None
        self.peak_in_flight = 0  # the most invocations being handled at once (one per worker)
        self._server: _RuntimeServer | None = None
        self._thread: threading.Thread | None = None
        self._telemetry: socket.socket | None = None
        self._telemetry_dir: str | None = None
        self._telemetry_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # an invocation was queued
        self._pending: deque[_Invocation] = deque()
        self._invocations: dict[str, _Invocation] = {}
        self._pollers: list[tuple[RuntimeProcess | None, int | None]] = []  # blocked in /next
        self._in_flight = 0
        self._ready = threading.Event()

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        return f"{HOST}:{self.port}"

    @property
    def telemetry_socket(self) -> str | None:
        """Where managed-instances workers send their output (a Unix socket), once started."""
        if self._telemetry_dir is None:
            return None
        return os.path.join(self._telemetry_dir, "fd.sock")

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
        if self.max_concurrency is not None:
            self._start_telemetry()
        return self

    def _start_telemetry(self) -> None:
        self._telemetry_dir = tempfile.mkdtemp(prefix="lambda-telemetry-")
        listener = self._telemetry = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(cast(str, self.telemetry_socket))
        listener.listen(64)
        listener.settimeout(0.1)
        self._telemetry_thread = threading.Thread(
            target=self._accept_streams, args=(listener,), name="lambda-telemetry", daemon=True
        )
        self._telemetry_thread.start()

    def _accept_streams(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by stop()
            connection.setblocking(True)
            pid = _UCRED.unpack(
                connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            )[0]
            process = self.process
            if process is None:
                connection.close()
            else:
                process._attach_stream(pid, connection)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the function's processes (by PID), then the server. Safe to call twice."""
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
        if self._telemetry is not None:
            self._telemetry.close()
            self._telemetry = None
        if self._telemetry_thread is not None:
            self._telemetry_thread.join(timeout)
            self._telemetry_thread = None
        if self._telemetry_dir is not None:
            shutil.rmtree(self._telemetry_dir, ignore_errors=True)
            self._telemetry_dir = None

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
        environment = {
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
            # The execution role's temporary credentials (fakes; registered as secrets).
            "AWS_ACCESS_KEY_ID": "ASIAREFDATAEMULATOR0",
            "AWS_SECRET_ACCESS_KEY": SESSION_SECRET_KEY,
            "AWS_SESSION_TOKEN": SESSION_TOKEN,
            "TZ": ":UTC",
            "LANG": "C.UTF-8",  # Lambda has en_US.UTF-8; C.UTF-8 exists on every glibc
        }
        if self.max_concurrency is not None:
            # awslambdaric forks this many workers when the variable is set (any value).
            environment["AWS_LAMBDA_MAX_CONCURRENCY"] = str(self.max_concurrency)
            if self.telemetry_socket is not None:
                environment["_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET"] = self.telemetry_socket
        return environment

    def spawn(
        self,
        handler: str = HANDLER,
        env: dict[str, str] | None = None,
        echo: IO[str] | None = None,
        *,
        argv: list[str] | None = None,
    ) -> RuntimeProcess:
        """Start `python -m awslambdaric <handler>` from the repo root against this API (or
        `argv`: a container image's, say, which takes Lambda's variables from it).

        Its environment is Lambda's (see `lambda_environment`) plus `env`, not the caller's.
        Its stdout and stderr (and its workers') are kept in the returned process and copied
        to `echo` if given.
        """
        if self._server is None:
            raise RuntimeError("start() the emulator before spawning a function")
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"a function process is already running (pid {self.process.pid})")
        if argv is None and importlib.util.find_spec("awslambdaric") is None:
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
                    argv or [sys.executable, "-m", "awslambdaric", handler],
                    cwd=REPO,
                    env=environment,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C reaches the emulator, which stops it
                ),
                echo,
                self.max_output_lines,
                self.max_concurrency,
            )
            return self.process

    def wait_ready(self, timeout: float) -> RuntimeProcess:
        """Wait until the function finished INIT and polls for its first invocation: on
        managed instances, until all `max_concurrency` workers poll at once."""
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

    def invoke(
        self, event: dict[str, Any], timeout: float | None = None, *, worker: int | None = None
    ) -> dict[str, Any]:
        """Queue `event`, wait for the function's response and return it (a JSON object).

        FunctionError if the handler raised (its error document is `.payload`), INIT failed or
        the process died; FunctionTimeout after `timeout` (default: the function's timeout).
        With `worker` (a PID from `RuntimeProcess.worker_pids()`), only that worker gets it.
        Thread-safe: on managed instances, concurrent invokes run on different workers.
        """
        return self.invoke_served(event, timeout, worker=worker).document

    def invoke_served(
        self, event: dict[str, Any], timeout: float | None = None, *, worker: int | None = None
    ) -> Served:
        """`invoke()`, and which worker (PID) fetched the invocation and answered it."""
        wait = self.timeout_seconds if timeout is None else timeout
        if worker is not None:
            process = self.process
            if process is None or worker not in process.worker_pids():
                raise ValueError(f"no worker with PID {worker} polls this API")
        invocation = _Invocation(str(uuid.uuid4()), json.dumps(event).encode(), worker)
        with self._changed:
            self._invocations[invocation.request_id] = invocation
            self._pending.append(invocation)
            self._changed.notify_all()
        deadline = time.monotonic() + wait
        try:
            while not invocation.done.wait(max(0.0, min(0.05, deadline - time.monotonic()))):
                self._check_alive()
                if worker is not None and not alive(worker):
                    raise FunctionError(f"worker {worker} exited before answering")
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
        leaks.check(invocation.body, "a function's reply")
        return Served(invocation.served_by, document)

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

    def _worker_at(self, client_port: int) -> int | None:
        """The PID of the worker whose connection comes from `client_port`, if found."""
        process = self.process
        if process is None:
            return None
        return _socket_owner(client_port, self.port, [*process.children(), process.pid])

    def _next_invocation(self, worker: int | None) -> _Invocation | None:
        """Block until an invocation for `worker` is queued; None when shutting down or
        when the function process this connection belongs to was replaced."""
        with self._changed:
            process = self.process
            if process is not None and worker is not None:
                polling = process._worker(worker)
                if polling.ready_at is None:
                    polling.ready_at = time.perf_counter()
            poller = (process, worker)
            self._pollers.append(poller)
            try:
                current = [w for p, w in self._pollers if p is process]
                if len({w for w in current if w is not None}) + current.count(None) >= (
                    self.max_concurrency or 1
                ):
                    if process is not None and process.ready_at is None:
                        process.ready_at = time.perf_counter()
                    self._ready.set()
                while not self._stopping.is_set() and self.process is process:
                    invocation = self._take(worker)
                    if invocation is not None:
                        invocation.handed_out, invocation.served_by = True, worker
                        self._in_flight += 1
                        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
                        if process is not None and worker is not None:
                            process._worker(worker).served += 1
                        return invocation
                    self._changed.wait(0.1)
            finally:
                self._pollers.remove(poller)
        return None

    def _take(self, worker: int | None) -> _Invocation | None:
        """The oldest queued invocation `worker` may fetch (the lock is held)."""
        for invocation in list(self._pending):
            if invocation.abandoned:  # its caller gave up
                self._pending.remove(invocation)
                del self._invocations[invocation.request_id]
            elif invocation.worker is None or invocation.worker == worker:
                self._pending.remove(invocation)
                return invocation
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
            if invocation.handed_out:
                invocation.handed_out = False  # answered: no longer in flight
                self._in_flight -= 1
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
        prog="python -m harness.lambda_runtime",
        description="Run the Lambda handler under awslambdaric on an emulated Runtime API,"
        " with a local HTTP front door. REFDATA_* variables are passed to the function.",
    )
    parser.add_argument("--port", type=int, default=9001, help="Runtime API port (0: any)")
    parser.add_argument("--http-port", type=int, default=3000, help="HTTP front door port")
    parser.add_argument("--handler", default=HANDLER)
    parser.add_argument("--timeout", type=float, default=30.0, help="function timeout, seconds")
    parser.add_argument("--init-timeout", type=float, default=60.0, help="seconds")
    parser.add_argument(
        "--max-concurrency",
        type=int,
        metavar="N",
        help="a Lambda Managed Instances environment: N worker processes",
    )
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
    runtime = RuntimeEmulator(
        args.port, timeout_seconds=args.timeout, max_concurrency=args.max_concurrency
    )
    front: ThreadingHTTPServer | None = None
    try:
        runtime.start()
        process = runtime.spawn(args.handler, env, echo=sys.stderr)
        runtime.wait_ready(args.init_timeout)
        front = serve_front_door(runtime, args.http_port)
        http_port = front.server_address[1]
        workers = ", ".join(map(str, process.children())) if args.max_concurrency else ""
        print(
            f"Lambda Runtime API  http://{runtime.address}{RUNTIME}/invocation/next\n"
            f"function            {args.handler} (awslambdaric, pid {process.pid}),"
            f" ready {process.init_ms:.0f} ms after spawn\n"
            + (f"workers             {args.max_concurrency}: pids {workers}\n" if workers else "")
            + f"HTTP front door     http://{HOST}:{http_port}"
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
