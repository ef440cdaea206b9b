"""Faults with a real PostgreSQL server, each with a bound and a check that nothing leaked.

- `server_restart`: `pg_ctl restart` between warm invokes of the Lambda handler (under
  awslambdaric). The next reference read and order succeed: the pool's pre-ping replaces the
  cut connection with exactly one new one.
- `statement_timeout`: the `customer_order` table locked by another session while uvicorn
  (REFDATA_DB_STATEMENT_TIMEOUT_MS=500) takes orders from several clients at once: 503
  problem+json with Retry-After, never a hang; reference reads keep answering from memory;
  once the lock is gone the same Idempotency-Keys place their orders.
- `database_down`: the server stopped under a warm environment — a reference read serves the
  last good snapshot (stale-if-error), a POST /orders is a 503, not a 500 — then started:
  the same key places the order. Then an environment INITed with the server down: 503
  until the server is back, then it loads.

After every fault the environment holds at most pool_size + max_overflow connections, as
PostgreSQL itself sees them (pg_stat_activity); after a restart — on a server of our own,
with log_connections on — it opened no more connections than the restart explains.

    python -m reliability.faults --restarts 20 --timeouts 10 --concurrent 8 --outages 5 \\
        --json faults.json
"""

from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from harness.databases import Database, migrate
from harness.events import ORDER
from harness.http import JSON, HttpClient, Reply
from harness.lambda_runtime import FunctionError, FunctionTimeout
from harness.postgres import PostgresServer, libpq_dsn, throwaway_server
from harness.servers import LambdaEnvironment, Uvicorn
from harness.sql import app_connections
from harness.stats import latencies
from reliability.measure import Sampler, failed_checks, write_json

PROBLEM = "application/problem+json"
# What a 503 must not carry: SQL, the table's name, the driver's words.
LEAKY_WORDS = (
    "customer_order", "insert", "select", "lock", "statement timeout", "canceling",
    "psycopg", "sqlalchemy", "connection refused", "127.0.0.1",
)  # fmt: skip
INVOKE_BOUND_SECONDS = 20.0  # a request that takes longer counts as hung


def new_key() -> str:
    return str(uuid.uuid4())


def is_problem(answer: Reply | None, status: int, kind: str) -> bool:
    """`answer` is a `status` problem document of type `kind`, with Retry-After on 503."""
    if answer is None or answer.status != status:
        return False
    if answer.headers.get("content-type") != PROBLEM:
        return False
    if status == 503 and not answer.headers.get("retry-after", "").isdigit():
        return False
    return bool(answer.json().get("type") == f"urn:refdata:problem:{kind}")


def says_nothing_inside(answer: Reply | None) -> bool:
    return answer is not None and not any(w in answer.body.decode().lower() for w in LEAKY_WORDS)


def created(answer: Reply | None) -> bool:
    """201, and stored by this request (not a replay of an earlier one)."""
    return (
        answer is not None
        and answer.status == 201
        and answer.headers.get("idempotent-replayed") != "true"
    )


def fresh(answer: Reply | None) -> bool:
    """200 from a snapshot that is not stale."""
    return answer is not None and answer.status == 200 and "warning" not in answer.headers


def bounded(call: Callable[[], Reply]) -> Reply | None:
    """`call()`, or None if it got no answer within its bound (or the environment died)."""
    try:
        return call()
    except (FunctionTimeout, FunctionError, OSError, http.client.HTTPException):
        return None


def read(env: LambdaEnvironment) -> Reply | None:
    return bounded(lambda: env.invoke("GET", "/countries/VN", timeout=INVOKE_BOUND_SECONDS))


def place(env: LambdaEnvironment | HttpClient, key: str) -> Reply | None:
    """POST /orders with `key` through an environment's runtime or over HTTP."""
    headers = {**JSON, "idempotency-key": key}
    if isinstance(env, HttpClient):
        return bounded(lambda: env.request("POST", "/orders", ORDER, headers)[0])
    return bounded(lambda: env.invoke("POST", "/orders", headers, ORDER, INVOKE_BOUND_SECONDS))


def enable_connection_log(server: PostgresServer) -> None:
    """Log every new connection, so the server can say how many an environment opened."""
    with psycopg.connect(libpq_dsn(server.url("postgres")), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET log_connections = on")
        conn.execute("SELECT pg_reload_conf()")


def connections_opened(server: PostgresServer) -> int:
    """New app connections so far, from the server's log (needs `enable_connection_log`)."""
    log = (server.root / "log").read_text(errors="replace")
    return sum(
        "connection authorized" in line and "application_name=refdata" in line
        for line in log.splitlines()
    )


def until(predicate: Callable[[], bool], bound: float, every: float = 0.2) -> float | None:
    """Seconds until `predicate()` held, or None if it did not within `bound`."""
    started = time.monotonic()
    while time.monotonic() - started < bound:
        if predicate():
            return round(time.monotonic() - started, 2)
        time.sleep(every)
    return None


def lambda_env(url: str, **settings: str) -> dict[str, str]:
    return {
        "REFDATA_DATABASE_URL": url,
        "REFDATA_DB_CONNECT_TIMEOUT_SECONDS": "1",
        **{f"REFDATA_{name.upper()}": value for name, value in settings.items()},
    }


def _result(
    scenario: str,
    environment: str,
    tried: dict[str, int],
    observed: dict[str, Any],
    checks: dict[str, bool],
) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "environment": environment,
        "tried": tried,
        "observed": observed,
        "checks": checks,
        "held": all(checks.values()),
    }


def server_restart(server: PostgresServer, url: str, restarts: int) -> dict[str, Any]:
    """`pg_ctl restart` between warm invokes; a TTL of 1 s makes the reference read after
    each restart revalidate, so both the read path and the order path meet a cut connection
    (alternately first)."""
    opened_before = connections_opened(server)
    env = LambdaEnvironment.start(lambda_env(url, cache_ttl_seconds="1"))
    after: list[tuple[Reply | None, Reply | None]] = []
    statements: list[int] = []
    largest = 0
    try:
        warm = (read(env), place(env, new_key()))
        largest = len(app_connections(url, env.pid))
        for restart in range(restarts):
            server.restart()
            time.sleep(1.1)  # past the TTL
            logged = len(env.requests())
            if restart % 2 == 0:
                got_read, got_order = read(env), place(env, new_key())
            else:
                got_order, got_read = place(env, new_key()), read(env)
            after.append((got_read, got_order))
            env.last_request(logged + 2)
            statements.append(sum(e["sql_statements"] for e in env.requests()[logged:]))
            largest = max(largest, len(app_connections(url, env.pid)))
    finally:
        env.stop()
    opened = connections_opened(server) - opened_before
    checks = {
        "warm invokes before the first restart succeeded": fresh(warm[0]) and created(warm[1]),
        "after every restart the next read (fresh, not stale) and order (201) succeeded": all(
            fresh(r) and created(o) for r, o in after
        ),
        "the environment opened 1 connection at INIT + exactly 1 per restart": (
            opened == 1 + restarts
        ),
        "the reconnect cost no statement: 1 version check + 1 INSERT per restart": all(
            n == 2 for n in statements
        ),
        "connections held ≤ pool_size + max_overflow (1 + 0)": 0 < largest <= 1,
    }
    return _result(
        "server-restart",
        "Lambda handler under awslambdaric, defaults (pool 1 + 0, pre-ping), TTL 1 s",
        {"restarts": restarts, "requests_after_a_restart": 2 * restarts},
        {
            "statuses_after_restarts": sorted(
                {f"{r.status if r else None}/{o.status if o else None}" for r, o in after}
            ),
            "connections_opened": opened,
            "sql_statements_per_restart": sorted(set(statements)),
            "largest_connections_held": largest,
        },
        checks,
    )


def _concurrently(
    port: int, requests: list[tuple[str, str, bytes | None, dict[str, str]]]
) -> list[tuple[Reply | None, float]]:
    """Send every request at once, each on its own connection; (reply or None, seconds)."""
    results: list[tuple[Reply | None, float]] = [(None, 0.0)] * len(requests)
    start = threading.Barrier(len(requests))

    def send(index: int) -> None:
        method, path, body, headers = requests[index]
        client = HttpClient(port, timeout=INVOKE_BOUND_SECONDS)
        start.wait()
        began = time.perf_counter()
        try:
            results[index] = client.request(method, path, body, headers)
        except (OSError, http.client.HTTPException):
            results[index] = (None, time.perf_counter() - began)
        finally:
            client.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def statement_timeout(
    database: Database, rounds: int, concurrent: int, workdir: Path
) -> dict[str, Any]:
    """While another session holds ACCESS EXCLUSIVE on customer_order, `concurrent` orders
    and an order read arrive at once at uvicorn (pool 2 + overflow 1, statement_timeout
    500 ms), with a reference read beside them."""
    admin_url = database.admin_url
    if admin_url is None:
        raise ValueError("statement_timeout needs a PostgreSQL database")
    pool, overflow = 2, 1
    env = {
        "REFDATA_DATABASE_URL": database.url,
        "REFDATA_DB_STATEMENT_TIMEOUT_MS": "500",
        "REFDATA_DB_POOL_SIZE": str(pool),
        "REFDATA_DB_MAX_OVERFLOW": str(overflow),
        "REFDATA_CACHE_TTL_SECONDS": "86400",
    }
    locked: list[tuple[str, Reply | None, float]] = []
    placed_after: list[Reply | None] = []
    read_after: list[Reply | None] = []
    largest = 0
    server = Uvicorn(env, workdir / "uvicorn-statement-timeout.log")

    def held() -> int:
        return len(app_connections(admin_url, server.pid))

    with server:
        client = server.client(timeout=INVOKE_BOUND_SECONDS)
        first = place(client, new_key())
        if first is None or first.status != 201:
            raise RuntimeError(f"the first order failed: {first}")
        order_path = f"/orders/{first.json()['id']}"
        for _ in range(rounds):
            keys = [new_key() for _ in range(concurrent)]
            requests: list[tuple[str, str, bytes | None, dict[str, str]]] = [
                ("POST", "/orders", ORDER, {**JSON, "idempotency-key": key}) for key in keys
            ]
            requests += [("GET", order_path, None, {}), ("GET", "/countries/VN", None, {})]
            watch = Sampler(held, interval=0.05)
            with psycopg.connect(libpq_dsn(admin_url)) as lock, watch:
                lock.execute("LOCK TABLE customer_order IN ACCESS EXCLUSIVE MODE")
                answers = _concurrently(server.port, requests)
                lock.rollback()
            largest = max(largest, watch.largest)
            locked += [
                (r[1], answer, took) for r, (answer, took) in zip(requests, answers, strict=True)
            ]
            placed_after += [place(client, key) for key in keys]
            read_after.append(bounded(lambda: client.request("GET", order_path)[0]))
            largest = max(largest, held())
        client.close()
    log = server.log()
    entries = server.requests()
    during = [(path, a, t) for path, a, t in locked if path.startswith("/orders")]
    reference = [(path, a, t) for path, a, t in locked if not path.startswith("/orders")]
    reference_statements = sum(e["sql_statements"] for e in entries if e["path"] == "/countries/VN")
    checks = {
        "every order and order read during the lock got an answer within the bound": all(
            a is not None for _, a, _ in during
        ),
        "each was a 503 database-unavailable problem+json with Retry-After": all(
            is_problem(a, 503, "database-unavailable") for _, a, _ in during
        ),
        "no SQL, table or driver text in any 503 body": all(
            says_nothing_inside(a) for _, a, _ in during
        ),
        "no SQL or table name in the server's log": "customer_order" not in log
        and "LOCK TABLE" not in log,
        "reference reads during the lock answered 200 from memory (0 SQL)": all(
            a is not None and a.status == 200 for _, a, _ in reference
        )
        and reference_statements == 0,
        "after the lock, the same keys created their orders (the 503s stored nothing)": (
            len(placed_after) == concurrent * rounds and all(created(a) for a in placed_after)
        ),
        "after the lock, the order read answered 200": all(
            a is not None and a.status == 200 for a in read_after
        ),
        f"connections held ≤ pool_size + max_overflow ({pool} + {overflow})": 0
        < largest
        <= pool + overflow,
    }
    return _result(
        "statement-timeout",
        f"uvicorn, pool {pool} + overflow {overflow}, REFDATA_DB_STATEMENT_TIMEOUT_MS=500",
        {
            "rounds": rounds,
            "requests_during_the_lock": len(locked),
            "orders_during_the_lock": concurrent * rounds,
        },
        {
            "statuses_during_the_lock": sorted(
                {f"{p} → {a.status if a else None}" for p, a, _ in locked}
            ),
            "seconds_to_the_503": latencies([t for _, _, t in during]),
            "largest_connections_held": largest,
        },
        checks,
    )


def database_down(server: PostgresServer, url: str, outages: int) -> dict[str, Any]:
    """The server stopped under a warm environment, `outages` times; then a cold INIT with
    the server down. Back-offs of 1 s, at most 2 s, keep recovery quick."""
    settings = lambda_env(
        url,
        cache_ttl_seconds="1",
        cache_max_stale_seconds="600",
        cache_retry_seconds="1",
        cache_retry_max_seconds="2",
    )
    warm_rounds: list[dict[str, Any]] = []
    largest = 0
    env = LambdaEnvironment.start(settings)
    try:
        for _ in range(outages):
            key = new_key()
            server.stop()
            time.sleep(1.1)  # past the TTL: the next read revalidates, and fails
            stale, refused = read(env), place(env, key)
            server.start()
            back = until(lambda: fresh(read(env)), 15)
            placed = place(env, key)
            warm_rounds.append(
                {"stale": stale, "refused": refused, "back_after": back, "placed": placed}
            )
            largest = max(largest, len(app_connections(url, env.pid)))
    finally:
        env.stop()

    server.stop()
    started = time.monotonic()
    cold = LambdaEnvironment.start(settings)
    try:
        init_seconds = round(time.monotonic() - started, 2)
        key = new_key()
        cold_read, cold_order = read(cold), place(cold, key)
        server.start()
        loaded_after = until(lambda: fresh(read(cold)), 15)
        cold_placed = place(cold, key)
        largest = max(largest, len(app_connections(url, cold.pid)))
    finally:
        cold.stop()

    checks = {
        "warm, down: a reference read served the last good snapshot (200 + Warning 111)": all(
            r["stale"] is not None
            and r["stale"].status == 200
            and r["stale"].headers.get("warning") == '111 - "Revalidation Failed"'
            for r in warm_rounds
        ),
        "warm, down: POST /orders answered 503 database-unavailable, not 500, no SQL text": all(
            is_problem(r["refused"], 503, "database-unavailable")
            and says_nothing_inside(r["refused"])
            for r in warm_rounds
        ),
        "warm, back up: fresh reads within 15 s, the same key created its order": all(
            r["back_after"] is not None and created(r["placed"]) for r in warm_rounds
        ),
        "cold INIT with the server down completed; reads and orders answered 503": (
            is_problem(cold_read, 503, "reference-data-unavailable")
            and cold_order is not None
            and cold_order.status == 503
            and cold_order.headers.get("content-type") == PROBLEM
        ),
        "cold, back up: loaded within 15 s, the same key created its order": (
            loaded_after is not None and created(cold_placed)
        ),
        "connections held ≤ pool_size + max_overflow (1 + 0)": 0 < largest <= 1,
    }
    return _result(
        "database-down",
        "Lambda handler under awslambdaric, defaults (pool 1 + 0), TTL 1 s, back-off 1 to 2 s",
        {"outages_under_a_warm_environment": outages, "cold_inits_with_the_server_down": 1},
        {
            "warm_seconds_until_fresh_again": [r["back_after"] for r in warm_rounds],
            "cold_init_seconds_with_the_server_down": init_seconds,
            "cold_seconds_until_loaded": loaded_after,
            "cold_order_problem_type": cold_order.json().get("type") if cold_order else None,
            "largest_connections_held": largest,
        },
        checks,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability.faults", description=__doc__)
    parser.add_argument("--restarts", type=int, default=20)
    parser.add_argument("--timeouts", type=int, default=10, help="statement-timeout rounds")
    parser.add_argument("--concurrent", type=int, default=8, help="orders at once per round")
    parser.add_argument("--outages", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the summary here (default: stdout)")
    args = parser.parse_args(argv)
    with throwaway_server() as server, tempfile.TemporaryDirectory() as tmp:
        url = server.url("postgres")
        migrate(url)
        enable_connection_log(server)
        database = Database("postgresql", url, url)
        runs = [
            server_restart(server, url, args.restarts),
            statement_timeout(database, args.timeouts, args.concurrent, Path(tmp)),
            database_down(server, url, args.outages),
        ]
    summary: dict[str, Any] = {
        "scenario": "faults",
        "backend": "postgresql",
        "runs": runs,
        "checks": {
            f"{run['scenario']}: {name}": held
            for run in runs
            for name, held in run["checks"].items()
        },
        "command": " ".join(["python -m reliability.faults", *(argv or sys.argv[1:])]),
    }
    summary["held"] = not failed_checks(summary)
    write_json(summary, args.json)
    for name, held in summary["checks"].items():
        print(f"{'held' if held else 'FAILED':6}  {name}", file=sys.stderr)
    return 0 if summary["held"] else 1


if __name__ == "__main__":
    sys.exit(main())
