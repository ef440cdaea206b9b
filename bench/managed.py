"""Lambda Managed Instances: one environment of N worker processes, what each one costs.

AWS's runtime client in its multi-process mode (AWS_LAMBDA_MAX_CONCURRENCY=N forks N
workers, each with its own INIT) against the emulated Runtime API (harness/lambda_runtime.py)
and the benchmark's database. After INIT and a warm-up on every worker: each worker's RSS,
the awslambdaric main process's, and on PostgreSQL the app's connections as the server
lists them (pg_stat_activity), which the sizing in the README multiplies out.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import psycopg

from bench.databases import BenchDatabase
from harness.events import http_v2
from harness.lambda_runtime import RuntimeEmulator, rss_kib
from harness.postgres import libpq_dsn

WORKERS = 4
INIT_TIMEOUT = 120.0  # seconds: a bound, not an expectation
INVOKE_TIMEOUT = 15.0
PATHS = ("/countries", "/countries/VN", "/health")


def _connections(database: BenchDatabase) -> int | None:
    if database.admin_url is None:
        return None
    with psycopg.connect(libpq_dsn(database.admin_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND usename = %s"
            " AND backend_type = 'client backend'",
            (database.name, database.role),
        ).fetchone()
    return int(row[0]) if row else 0


def measure(
    database: BenchDatabase, invokes: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    progress(f"managed instances: {WORKERS} awslambdaric workers on {database.kind}")
    before = _connections(database)
    with RuntimeEmulator(max_concurrency=WORKERS) as runtime:
        process = runtime.spawn(
            env={
                "REFDATA_DATABASE_URL": database.url,
                "REFDATA_LOG_LEVEL": "WARNING",
                "REFDATA_DB_POOL_SIZE": "1",
                "REFDATA_DB_MAX_OVERFLOW": "0",
            }
        )
        runtime.wait_ready(INIT_TIMEOUT)
        workers = process.children()
        round_trips: list[float] = []
        for pid in workers:
            for number in range(invokes):
                path = PATHS[number % len(PATHS)]
                started = time.perf_counter()
                answer = runtime.invoke(http_v2("GET", path), INVOKE_TIMEOUT, worker=pid)
                if number:  # the worker's first invoke is not a warm one
                    round_trips.append((time.perf_counter() - started) * 1e6)
                if answer.get("statusCode") != 200:
                    raise RuntimeError(f"worker {pid}: {path} answered {answer.get('statusCode')}")
        rss = [rss_kib(pid) or 0 for pid in workers]
        connections = _connections(database)
        result = {
            "workers": len(workers),
            "backend": database.kind,
            "init_all_ms": process.init_ms,
            "worker_rss_kib": rss,
            "main_rss_kib": process.rss_kib(),
            "connections": None if connections is None else connections - (before or 0),
            "invokes_per_worker": invokes,
            "round_trip_median_us": statistics.median(round_trips) if round_trips else None,
        }
    progress(
        f"    RSS per worker {', '.join(f'{kib / 1024:.1f}' for kib in rss)} MiB, "
        f"connections {result['connections']}"
    )
    return result
