"""The load client: concurrent keep-alive connections to a server on 127.0.0.1, each a
thread with its own `HttpClient`, bounded in time by the caller's work; and a `Poller` that
times one route meanwhile from a process of its own."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness import REPO
from harness.http import HttpClient
from harness.stats import percentile


def run_clients(clients: int, work: Callable[[HttpClient], None], port: int) -> float:
    """`clients` threads, each with its own keep-alive connection, running `work` once;
    returns the wall time."""

    def client() -> None:
        connection = HttpClient(port)
        try:
            work(connection)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, name=f"client-{i}") for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


@dataclass(frozen=True)
class LoadResult:
    tool: str
    seconds: float
    connections: int
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int  # answers other than 200, and requests that failed


def get_for(port: int, path: str, seconds: float, connections: int) -> LoadResult:
    """GET `path` over `connections` keep-alive connections for `seconds`."""
    timings: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def work(connection: HttpClient) -> None:
        mine: list[float] = []
        failed = 0
        while time.perf_counter() < deadline:
            try:
                answer, took = connection.request("GET", path)
            except (OSError, http.client.HTTPException):
                failed += 1
                continue
            mine.append(took)
            failed += answer.status != 200
        with lock:
            timings.extend(mine)
            errors[0] += failed

    elapsed = run_clients(connections, work, port)
    return LoadResult(
        tool="harness.load (threads, http.client keep-alive)",
        seconds=elapsed,
        connections=connections,
        requests=len(timings),
        requests_per_second=len(timings) / elapsed,
        p50_ms=percentile(timings, 50) * 1000,
        p99_ms=percentile(timings, 99) * 1000,
        errors=errors[0],
    )


@dataclass
class Poller:
    """GET `path` again and again while a load runs, from a process of its own: the load's
    client threads share this interpreter (and its GIL), so a poller among them would time
    them as well as the server. `replies`: (status, or None for no answer; seconds) of each
    request, once the block has ended.

        with Poller(port, "/health") as health:
            run_clients(...)
        health.replies
    """

    port: int
    path: str
    pause: float = 0.005  # between two requests: the poller watches, it is not the load
    replies: list[tuple[int | None, float]] = field(default_factory=list)
    _process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Poller:
        code = "from harness.load import poll; poll()"
        self._process = subprocess.Popen(
            [sys.executable, "-c", code, str(self.port), self.path, str(self.pause)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != b"ready":  # the first reply is in
            self._process.kill()
            self._process.communicate(timeout=10)
            raise RuntimeError(f"the poller of {self.path} did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None
        try:
            output, _ = self._process.communicate(b"", timeout=60)  # stdin closed: it stops
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate(timeout=10)
            raise
        self.replies = [(status, seconds) for status, seconds in json.loads(output)]


def poll() -> None:
    """The poller's process (`Poller`): argv is port, path, pause; it says `ready` after the
    first reply, stops when its stdin closes, then prints every reply as JSON."""
    port, path, pause = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    stop = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.buffer.read()
        stop.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    client = HttpClient(port)
    replies: list[tuple[int | None, float]] = []
    while not stop.is_set():
        started = time.perf_counter()
        try:
            answer, took = client.request("GET", path)
            replies.append((answer.status, took))
        except (OSError, http.client.HTTPException):
            replies.append((None, time.perf_counter() - started))
        if len(replies) == 1:
            print("ready", flush=True)
        stop.wait(pause)
    client.close()
    print(json.dumps(replies), flush=True)
