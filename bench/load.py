"""Under uvicorn: requests/s and latency percentiles for a fixed duration, on 127.0.0.1 only.

wrk when it is installed (`apt-get install wrk`), otherwise the load client of harness/load.py
in this process. The servers are harness.servers.Uvicorn: a subprocess on a free loopback
port, stopped by PID.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from harness.load import LoadResult, get_for

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


def run_python_client(url: str, seconds: float, connections: int) -> LoadResult:
    """Keep-alive GETs from `connections` concurrent connections for `seconds`."""
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/.*)", url)
    if match is None:
        raise ValueError("the load generator only targets http://127.0.0.1")
    return get_for(int(match[1]), match[2], seconds, connections)


def load(url: str, seconds: float, connections: int) -> LoadResult:
    if shutil.which("wrk") and seconds >= 1:
        return run_wrk(url, seconds, connections)
    return run_python_client(url, seconds, connections)
