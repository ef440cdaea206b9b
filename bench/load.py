"""Under uvicorn: requests/s and latency percentiles for a fixed duration, on 127.0.0.1 only.

wrk when it is installed (`apt-get install wrk`), otherwise a keep-alive asyncio client in
this process. The servers are reliability.environments.Uvicorn: a subprocess on a free
loopback port, stopped by PID.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from dataclasses import dataclass

from bench.stats import percentile

HOST = "127.0.0.1"


@dataclass(frozen=True)
class LoadResult:
    tool: str
    seconds: float
    connections: int
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def parse_wrk(output: str, seconds: float, connections: int) -> LoadResult:
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    requests = re.search(r"(\d+) requests in", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if not (requests and rate and "50" in percentiles and "99" in percentiles):
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    errors = int(non_2xx[1]) if non_2xx else 0
    if socket:
        errors += sum(int(n) for n in socket.groups())
    return LoadResult(
        tool="wrk",
        seconds=seconds,
        connections=connections,
        requests=int(requests[1]),
        requests_per_second=float(rate[1]),
        p50_ms=_ms(percentiles["50"]),
        p99_ms=_ms(percentiles["99"]),
        errors=errors,
    )


def run_wrk(url: str, seconds: float, connections: int) -> LoadResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise FileNotFoundError("wrk")
    duration = max(1, round(seconds))
    result = subprocess.run(  # noqa: S603 -- wrk from PATH, our arguments
        [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s", url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    )
    return parse_wrk(result.stdout, duration, connections)


async def _connection(
    port: int, request: bytes, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    clock = time.perf_counter
    try:
        while clock() < deadline:
            started = clock()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            await reader.readexactly(int(length[1]) if length else 0)
            latencies.append(clock() - started)
            if head[9:12] != b"200":
                errors[0] += 1
    finally:
        writer.close()


def run_python_client(url: str, seconds: float, connections: int) -> LoadResult:
    """Keep-alive HTTP/1.1 GETs from `connections` concurrent connections for `seconds`."""
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/.*)", url)
    if match is None:
        raise ValueError("the load generator only targets http://127.0.0.1")
    port, path = int(match[1]), match[2]
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    latencies: list[float] = []
    errors = [0]

    async def main() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(_connection(port, request, deadline, latencies, errors) for _ in range(connections))
        )

    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return LoadResult(
        tool="python asyncio client",
        seconds=elapsed,
        connections=connections,
        requests=len(ordered),
        requests_per_second=len(ordered) / elapsed,
        p50_ms=percentile(ordered, 50) * 1000,
        p99_ms=percentile(ordered, 99) * 1000,
        errors=errors[0],
    )


def load(url: str, seconds: float, connections: int) -> LoadResult:
    if shutil.which("wrk") and seconds >= 1:
        return run_wrk(url, seconds, connections)
    return run_python_client(url, seconds, connections)
