"""Load under uvicorn on 127.0.0.1, bounded in count and time: nothing lost, nothing doubled.

Phase 1: `orders` order creations from `clients` threads (keep-alive HTTP/1.1), each with its
own Idempotency-Key; `retried_share` of them are sent again, identical — half of those right
next to the first attempt (so two clients send them at once), half later. Then the database
must hold exactly one row per key, every attempt must have got that row's id, and
SUM(total_vnd) must equal what the clients were told.

Phase 2: `read_seconds` of mixed reads — reference routes (plain, conditional, not found),
quotes, and reads of the orders just placed. No errors; and, from the server's own
per-request log, 0 SQL statements for every reference read and quote.

    python -m reliability.load --db postgresql --orders 5000 --clients 32 --read-seconds 30 \\
        --json load-postgresql.json
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from harness.databases import Database, throwaway_database
from harness.http import JSON, HttpClient
from harness.load import run_clients
from harness.servers import Uvicorn
from harness.sql import app_connections
from harness.stats import latencies
from reliability.measure import Sampler, failed_checks, workdir, write_json

# (province, ward, street): the warehouse province (79) and three others, so every fee rule
# (same-province base, other base, free shipping from the threshold) is exercised.
ADDRESSES = [
    (79, 25747, "12 Lê Lợi"),
    (1, 4, "1 Tràng Tiền"),
    (8, 691, "5 Nguyễn Trãi"),
    (19, 1840, "9 Hùng Vương"),
]
SKUS = ["TEA-250G", "COFFEE-500G", "RICE-5KG", "BOOK", "PEN"]
REFERENCE_READS = [
    "/countries",
    "/countries/VN",
    "/countries/vnm",
    "/countries/704",
    "/countries/VN/subdivisions",
    "/countries?q=viet",
    "/currencies",
    "/currencies/VND",
    "/vn/provinces",
    "/vn/provinces?q=" + quote("ho chi minh"),
    "/vn/provinces/79",
    "/vn/provinces/79/wards",
    "/vn/wards/25747",
    "/settings",
    "/settings/max_order_total_vnd",
]


@dataclass(frozen=True)
class Plan:
    """How much load. The orders phase gives up (counting what was not sent as errors) after
    `orders_deadline_seconds`; the reads phase lasts `read_seconds`."""

    orders: int = 1000
    clients: int = 16
    retried_share: float = 0.5
    read_seconds: float = 5.0
    seed: int = 20261126
    orders_deadline_seconds: float = 300.0
    pool_size: int = 16


@dataclass(frozen=True)
class Attempt:
    key: str
    body: bytes
    retry: bool


@dataclass(frozen=True)
class Sent:
    """One POST /orders as the client saw it; `status` None: no response at all."""

    attempt: Attempt
    started: float
    seconds: float
    status: int | None
    order_id: str | None = None
    total_vnd: int | None = None
    replayed: bool = False
    error: str | None = None

    def overlaps(self, other: Sent) -> bool:
        return (
            self.started < other.started + other.seconds
            and other.started < self.started + self.seconds
        )


@dataclass(frozen=True)
class Read:
    group: str  # reference | conditional | not-found | quote | order
    method: str
    path: str
    expected: int
    body: bytes | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class ReadDone:
    read: Read
    status: int | None
    seconds: float


def order_body(rng: random.Random) -> bytes:
    province, ward, street = rng.choice(ADDRESSES)
    lines = [
        {"sku": sku, "quantity": rng.randint(1, 5), "unit_price_vnd": rng.randrange(5_000, 400_000)}
        for sku in rng.sample(SKUS, rng.randint(1, 3))
    ]
    order = {
        "address": {"province_code": province, "ward_code": ward, "street": street},
        "lines": lines,
        "weight_grams": rng.randint(100, 5_000),
    }
    return json.dumps(order, ensure_ascii=False).encode()


def schedule(plan: Plan) -> list[Attempt]:
    """Every order once, in order, and its retry (if any) either right behind it — the next
    free client sends it while the first is in flight — or some way further down the queue."""
    rng = random.Random(plan.seed)  # noqa: S311 -- a reproducible load, not a secret
    retried = set(rng.sample(range(plan.orders), round(plan.orders * plan.retried_share)))
    slots: list[tuple[float, Attempt]] = []
    for index in range(plan.orders):
        key = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        body = order_body(rng)
        slots.append((index, Attempt(key, body, retry=False)))
        if index in retried:
            later = index + rng.uniform(2 * plan.clients, plan.orders + 2 * plan.clients)
            slots.append((index + 0.5 if rng.random() < 0.5 else later, Attempt(key, body, True)))
    slots.sort(key=lambda slot: slot[0])
    return [attempt for _, attempt in slots]


def place(connection: HttpClient, attempt: Attempt) -> Sent:
    started = time.perf_counter()
    headers = {**JSON, "idempotency-key": attempt.key}
    try:
        reply, seconds = connection.request("POST", "/orders", attempt.body, headers)
    except (OSError, http.client.HTTPException) as exc:
        return Sent(attempt, started, time.perf_counter() - started, None, error=type(exc).__name__)
    if reply.status != 201:
        return Sent(attempt, started, seconds, reply.status, error=reply.body[:200].decode())
    body = reply.json()
    replayed = reply.headers.get("idempotent-replayed") == "true"
    return Sent(attempt, started, seconds, 201, body["id"], body["total_vnd"], replayed)


def place_orders(port: int, plan: Plan, attempts: list[Attempt]) -> tuple[list[Sent], float]:
    queue = iter(attempts)
    take = threading.Lock()
    sent: list[Sent] = []
    deadline = time.monotonic() + plan.orders_deadline_seconds

    def work(connection: HttpClient) -> None:
        while time.monotonic() < deadline:
            with take:
                attempt = next(queue, None)
            if attempt is None:
                return
            sent.append(place(connection, attempt))

    return sent, run_clients(plan.clients, work, port)


def read_mix(etag: str, order_ids: list[str], rng: random.Random) -> list[tuple[Read, int]]:
    """What a reader asks for, with weights: mostly reference data."""
    order = order_body(rng)
    reads = [(Read("reference", "GET", path, 200), 6) for path in REFERENCE_READS]
    reads += [
        (Read("conditional", "GET", "/countries/VN", 304, headers={"if-none-match": etag}), 6),
        (Read("not-found", "GET", "/countries/ZZ", 404), 3),
        (Read("quote", "POST", "/orders/quote", 200, order, JSON), 6),
        (Read("order", "GET", "/orders?limit=20", 200), 2),
    ]
    reads += [(Read("order", "GET", f"/orders/{i}", 200), 1) for i in order_ids[:8]]
    return reads


def read_load(port: int, plan: Plan, order_ids: list[str]) -> tuple[list[ReadDone], float]:
    probe = HttpClient(port)
    first, took = probe.request("GET", "/countries/VN")
    probe.close()
    etag = first.headers["etag"]
    done = [ReadDone(Read("reference", "GET", "/countries/VN", 200), first.status, took)]
    deadline = time.monotonic() + plan.read_seconds
    counter = iter(range(plan.clients))
    take = threading.Lock()

    def work(connection: HttpClient) -> None:
        with take:
            rng = random.Random(plan.seed + next(counter))  # noqa: S311 -- reproducible
        reads, weights = zip(*read_mix(etag, order_ids, rng), strict=True)
        while time.monotonic() < deadline:
            read = rng.choices(reads, weights)[0]
            started = time.perf_counter()
            try:
                reply, took = connection.request(read.method, read.path, read.body, read.headers)
                done.append(ReadDone(read, reply.status, took))
            except (OSError, http.client.HTTPException):
                done.append(ReadDone(read, None, time.perf_counter() - started))

    return done, run_clients(plan.clients, work, port)


def stored_orders(database: Database) -> dict[str, list[tuple[str, int]]]:
    """Every row of customer_order, as (id, total_vnd) per Idempotency-Key."""
    engine = create_engine(database.admin_url or database.url, poolclass=NullPool)
    rows: dict[str, list[tuple[str, int]]] = {}
    with engine.connect() as conn:
        result = conn.execute(text("SELECT idempotency_key, id, total_vnd FROM customer_order"))
        for key, order_id, total in result:
            as_uuid = order_id if isinstance(order_id, uuid.UUID) else uuid.UUID(str(order_id))
            rows.setdefault(key, []).append((str(as_uuid), int(total)))
    engine.dispose()
    return rows


def is_reference(entry: dict[str, Any]) -> bool:
    return entry["method"] == "GET" and not entry["path"].startswith(("/orders", "/health"))


def summarize_orders(
    attempts: list[Attempt], sent: list[Sent], seconds: float, stored: Any
) -> dict[str, Any]:
    answered = [s for s in sent if s.status == 201]
    by_key: dict[str, list[Sent]] = {}
    for s in sent:
        by_key.setdefault(s.attempt.key, []).append(s)
    keys = {a.key for a in attempts}
    retried = [k for k, tries in by_key.items() if len(tries) == 2]
    overlapping = sum(by_key[k][0].overlaps(by_key[k][1]) for k in retried)
    told = {s.order_id: s.total_vnd for s in answered}
    one_row = [k for k in keys if len(stored.get(k, [])) == 1]
    return {
        "attempts": len(attempts),
        "distinct_keys": len(keys),
        "retries": sum(a.retry for a in attempts),
        "retries_sent_while_the_first_was_in_flight": overlapping,
        "answered_201": len(answered),
        "created": sum(not s.replayed for s in answered),
        "replayed": sum(s.replayed for s in answered),
        "errors": len(attempts) - len(answered),
        "statuses": dict(Counter(str(s.status) for s in sent)),
        "error_samples": sorted({s.error for s in sent if s.error})[:5],
        "seconds": round(seconds, 2),
        "requests_per_second": round(len(sent) / seconds, 1) if seconds else 0.0,
        **latencies([s.seconds for s in sent]),
        "rows": sum(len(v) for v in stored.values()),
        "keys_with_exactly_one_row": len(one_row),
        "attempts_given_their_keys_row": sum(
            s.order_id == stored.get(s.attempt.key, [("", 0)])[0][0] for s in answered
        ),
        "keys_created_exactly_once": sum(
            sum(not s.replayed and s.status == 201 for s in tries) == 1 for tries in by_key.values()
        ),
        "sum_total_vnd_told": sum(t for t in told.values() if t is not None),
        "sum_total_vnd_stored": sum(total for v in stored.values() for _, total in v),
    }


def summarize_reads(done: list[ReadDone], seconds: float) -> dict[str, Any]:
    groups: dict[str, Any] = {}
    for group in sorted({d.read.group for d in done}):
        mine = [d for d in done if d.read.group == group]
        groups[group] = {
            "requests": len(mine),
            "errors": sum(d.status != d.read.expected for d in mine),
            **latencies([d.seconds for d in mine]),
        }
    return {
        "requests": len(done),
        "errors": sum(d.status != d.read.expected for d in done),
        "unexpected": dict(
            Counter(f"{d.read.path} → {d.status}" for d in done if d.status != d.read.expected)
        ),
        "seconds": round(seconds, 2),
        "requests_per_second": round(len(done) / seconds, 1) if seconds else 0.0,
        **latencies([d.seconds for d in done]),
        "by_group": groups,
    }


def summarize_log(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """What the server says it did: per-request `sql_statements` and cache outcomes."""
    posts = [e for e in entries if e["method"] == "POST" and e["path"] == "/orders"]
    reference = [e for e in entries if is_reference(e)]
    quotes = [e for e in entries if e["path"] == "/orders/quote"]
    order_reads = [e for e in entries if e["method"] == "GET" and e["path"].startswith("/orders")]
    return {
        "post_orders_logged": len(posts),
        "post_orders_sql_statements": sum(e["sql_statements"] for e in posts),
        "reference_reads_logged": len(reference),
        "reference_reads_sql_statements": sum(e["sql_statements"] for e in reference),
        "reference_cache_outcomes": dict(Counter(str(e["cache_outcome"]) for e in reference)),
        "quotes_logged": len(quotes),
        "quotes_sql_statements": sum(e["sql_statements"] for e in quotes),
        "order_reads_logged": len(order_reads),
        "order_reads_sql_statements": sum(e["sql_statements"] for e in order_reads),
    }


def run(database: Database, plan: Plan, workdir: Path) -> dict[str, Any]:
    """Both phases against one uvicorn on `database` (migrated, used by nothing else)."""
    attempts = schedule(plan)
    env = {
        "REFDATA_DATABASE_URL": database.url,
        "REFDATA_DB_POOL_SIZE": str(plan.pool_size),
        "REFDATA_DB_MAX_OVERFLOW": "0",
        # Longer than any run: no revalidation, so every reference read must run no SQL.
        "REFDATA_CACHE_TTL_SECONDS": "86400",
    }
    server = Uvicorn(env, workdir / f"uvicorn-load-{database.kind}.log")
    with server:
        admin_url = database.admin_url
        sampler: contextlib.AbstractContextManager[Sampler | None] = (
            Sampler(lambda: len(app_connections(admin_url, server.pid)))
            if admin_url is not None
            else contextlib.nullcontext()
        )
        with sampler as connections:
            sent, orders_seconds = place_orders(server.port, plan, attempts)
            order_ids = sorted({s.order_id for s in sent if s.order_id})
            reads, reads_seconds = read_load(server.port, plan, order_ids)
    # uvicorn has exited (SIGTERM lets in-flight requests finish): its log is complete.
    log = summarize_log(server.requests())
    orders = summarize_orders(attempts, sent, orders_seconds, stored_orders(database))
    read_summary = summarize_reads(reads, reads_seconds)
    sent_reference = sum(r.read.group in ("reference", "conditional", "not-found") for r in reads)
    checks = {
        "every order attempt answered 201": orders["errors"] == 0,
        "exactly one row per Idempotency-Key, and no other row": (
            orders["keys_with_exactly_one_row"] == orders["distinct_keys"] == orders["rows"]
        ),
        "every attempt, retries included, got its key's row": (
            orders["attempts_given_their_keys_row"] == len(attempts)
        ),
        "each key created once; every other attempt was a replay": (
            orders["keys_created_exactly_once"] == orders["distinct_keys"]
            and orders["replayed"] == orders["retries"]
        ),
        "SUM(total_vnd) stored == the sum the clients were told": (
            orders["sum_total_vnd_stored"] == orders["sum_total_vnd_told"]
        ),
        "1 SQL statement per new order, 2 per replay (server log)": (
            log["post_orders_logged"] == len(sent)
            and log["post_orders_sql_statements"] == orders["created"] + 2 * orders["replayed"]
        ),
        "every read answered as expected": read_summary["errors"] == 0,
        "0 SQL statements for reference reads and quotes (server log)": (
            log["reference_reads_logged"] == sent_reference
            and log["reference_reads_sql_statements"] == 0
            and log["quotes_sql_statements"] == 0
        ),
    }
    summary: dict[str, Any] = {
        "scenario": "load",
        "backend": database.kind,
        "environment": "uvicorn (1 process) on 127.0.0.1",
        "plan": {
            "orders": plan.orders,
            "clients": plan.clients,
            "retried_share": plan.retried_share,
            "read_seconds": plan.read_seconds,
            "seed": plan.seed,
            "pool_size": plan.pool_size,
            "max_overflow": 0,
        },
        "orders": orders,
        "reads": read_summary,
        "server_log": log,
    }
    if connections is not None:
        summary["connections"] = {
            "largest_held": connections.largest,
            "bound": plan.pool_size,
            "samples": connections.samples,
            "failed_samples": connections.failures,
        }
        checks["connections held ≤ pool_size + max_overflow"] = (
            0 < connections.largest <= plan.pool_size
        )
    summary["checks"] = checks
    summary["held"] = all(checks.values())
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability.load", description=__doc__)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--orders", type=int, default=Plan.orders)
    parser.add_argument("--clients", type=int, default=Plan.clients)
    parser.add_argument("--retried-share", type=float, default=Plan.retried_share)
    parser.add_argument("--read-seconds", type=float, default=Plan.read_seconds)
    parser.add_argument("--seed", type=int, default=Plan.seed)
    parser.add_argument(
        "--pool-size",
        type=int,
        help="REFDATA_DB_POOL_SIZE of the server (default: one per client, at most 100, on"
        " PostgreSQL;"
        " on SQLite 1, the default setting: the app queues writes instead of the file lock)",
    )
    parser.add_argument("--json", type=Path, help="write the summary here (default: stdout)")
    parser.add_argument("--logs", help="keep uvicorn's log in this directory")
    args = parser.parse_args(argv)
    pool_size = args.pool_size or (min(args.clients, 100) if args.db == "postgresql" else 1)
    plan = Plan(
        args.orders,
        args.clients,
        args.retried_share,
        args.read_seconds,
        args.seed,
        pool_size=pool_size,
    )
    with throwaway_database(args.db) as database, workdir(args.logs, "refdata-load-") as work:
        summary = run(database, plan, work)
    summary["command"] = " ".join(["python -m reliability.load", *(argv or sys.argv[1:])])
    write_json(summary, args.json)
    for name, held in summary["checks"].items():
        print(f"{'held' if held else 'FAILED':6}  {name}", file=sys.stderr)
    return 1 if failed_checks(summary) else 0


if __name__ == "__main__":
    sys.exit(main())
