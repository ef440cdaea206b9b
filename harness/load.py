"""The load client: concurrent keep-alive connections to a server on 127.0.0.1, each a
thread with its own `HttpClient`, bounded in time by the caller's work."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

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
