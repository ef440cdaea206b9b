"""One design on one database, in a fresh process (a new execution environment).

    python -m bench.worker c --warmup 200 --invokes 2000 --count 100 [--admin-url URL]

The database is in REFDATA_DATABASE_URL (refdata) and BENCH_DATABASE_URL (the others).
Imports the design's Mangum `handler`, freezes the collector as refdata does at INIT, then
calls the handler with HTTP API (2.0) events exactly as the Lambda runtime would: a
warm-up, then `--invokes` timed calls per route (time.perf_counter_ns around each call, gc
on), then `--count` more calls with SQLAlchemy events (and, on PostgreSQL with
`--admin-url`, pg_stat_statements) counting statements and connections. Design (c) also
times POST /orders/quote and POST /orders (a new Idempotency-Key per invoke, so each places
an order). A route that does not answer its success status stops the run. Prints one JSON
line.
`--profile FILE` also writes cProfile stats of the timed list-route loop.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import functools
import gc
import hashlib
import importlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from bench import conversion
from bench.variants import BY_KEY, ROUTES
from harness.events import ORDER, LambdaContext, http_v2
from harness.http import ORDERS_AUTH, reply
from harness.sql import ServerStatements
from harness.stats import summarize

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def timed(handler: Handler, events: Sequence[dict[str, Any]]) -> list[int]:
    """Nanoseconds per `handler(event, context)` call, one call per event."""
    context = LambdaContext()
    clock = time.perf_counter_ns
    timings = [0] * len(events)
    for i, event_ in enumerate(events):
        started = clock()
        handler(event_, context)
        timings[i] = clock() - started
    return timings


class Counter:
    """Statements sent and connections opened by every engine in this process."""

    def __init__(self) -> None:
        self.statements = 0
        self.connects = 0

    def _statement(self, *_: Any) -> None:
        self.statements += 1

    def _connect(self, *_: Any) -> None:
        self.connects += 1

    def listen(self) -> None:
        # Class-level listeners reach every engine and pool, existing or created later.
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Pool, "connect", self._connect)

    def remove(self) -> None:
        event.remove(Engine, "before_cursor_execute", self._statement)
        event.remove(Pool, "connect", self._connect)


# refdata's order routes (harness.events.ORDER), timed on the same warm environment after
# the reference routes.
JSON = {"content-type": "application/json"}
# A client of the orders routes: JSON bodies, the orders key.
ORDER_HEADERS = {**JSON, **ORDERS_AUTH}


Events = Callable[[int], list[dict[str, Any]]]  # n events to send, in order


def gets(path: str, n: int) -> list[dict[str, Any]]:
    return [http_v2("GET", path)] * n


def quotes(n: int) -> list[dict[str, Any]]:
    return [http_v2("POST", "/orders/quote", ORDER_HEADERS, ORDER)] * n


def new_orders(n: int) -> list[dict[str, Any]]:
    """Each its own Idempotency-Key: every invoke places an order (one INSERT), none replays."""
    return [
        http_v2(
            "POST", "/orders", {**ORDER_HEADERS, "idempotency-key": f"bench-{uuid.uuid4()}"}, ORDER
        )
        for _ in range(n)
    ]


ORDER_CALLS: dict[str, tuple[str, Events, int]] = {
    "quote": ("POST /orders/quote", quotes, 200),
    "order": ("POST /orders", new_orders, 201),
}

# Old addresses (bench/conversion.py): a split ward's successors, timed against the floor's
# item route, and batches of 500 (a batch's most) by codes and by names.
SUCCESSORS = "/vn/legacy/wards/26737/successors"


def batches(body: bytes, n: int) -> list[dict[str, Any]]:
    return [http_v2("POST", "/vn/convert", JSON, body)] * n


CONVERSION_CALLS: dict[str, tuple[str, Events, int]] = {
    "successors": (f"GET {SUCCESSORS}", functools.partial(gets, SUCCESSORS), 200),
    "convert_codes": (
        "POST /vn/convert (500 by codes)",
        lambda n: batches(conversion.batches()[0], n),
        200,
    ),
    "convert_names": (
        "POST /vn/convert (500 by names)",
        lambda n: batches(conversion.batches()[1], n),
        200,
    ),
}
# A batch takes milliseconds: this many times fewer of them are timed.
BATCH_FEWER = 20


def count_per_invoke(
    handler: Handler, events: Sequence[dict[str, Any]], admin_url: str | None, role: str | None
) -> dict[str, float | None]:
    n = len(events)
    server = ServerStatements(admin_url, role) if admin_url and role else None
    if server is not None:
        server.reset()
    counter = Counter()
    counter.listen()
    try:
        timed(handler, events)
    finally:
        counter.remove()
    on_server = server.count() / n if server is not None else None
    return {
        "statements": counter.statements / n,
        "connects": counter.connects / n,
        "server_statements": on_server,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variant", choices=sorted(BY_KEY))
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--invokes", type=int, default=2000)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--admin-url", help="PostgreSQL superuser URL, for pg_stat_statements")
    parser.add_argument("--profile", help="write cProfile stats of the timed list loop here")
    args = parser.parse_args(argv)
    variant = BY_KEY[args.variant]

    handler: Handler = importlib.import_module(variant.module).handler
    gc.freeze()  # as refdata's INIT ends; the same tuning is open to every design

    role = make_url(os.environ["BENCH_DATABASE_URL"]).username
    calls: dict[str, tuple[str, Events, int]] = {
        name: (path, functools.partial(gets, path), 200) for name, path in ROUTES.items()
    }
    if variant.orders:
        calls.update(ORDER_CALLS)
        calls.update(CONVERSION_CALLS)
    routes: dict[str, Any] = {}
    for name, (label, events, expected) in calls.items():
        started = time.perf_counter_ns()
        first = reply(handler(events(1)[0], LambdaContext()))
        # The first call of each route in this environment: for the old units' routes, it
        # also indexes them (Dataset.at_init=False), once.
        first_us = (time.perf_counter_ns() - started) / 1000
        if first.status != expected:
            # Timing error responses would publish the cost of the wrong thing.
            raise SystemExit(f"{label} answered {first.status}, not {expected}: {first.body!r}")
        fewer = BATCH_FEWER if name.startswith("convert_") else 1
        timed(handler, events(max(1, args.warmup // fewer)))
        timings = timed(handler, events(max(1, args.invokes // fewer)))
        routes[name] = {
            "path": label,
            "status": first.status,
            "first_us": first_us,
            # What a batch answered (so a benchmark of 1,000 `invalid` items cannot pass).
            **(
                {"statuses": dict(collections.Counter(i["status"] for i in first.json()["items"]))}
                if name.startswith("convert_")
                else {}
            ),
            "body_sha256": hashlib.sha256(first.body).hexdigest(),
            **summarize(timings),
            **count_per_invoke(handler, events(max(1, args.count // fewer)), args.admin_url, role),
        }
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(timed, handler, gets(ROUTES["list"], args.invokes))
        profiler.dump_stats(args.profile)
    print(json.dumps({"variant": variant.key, "routes": routes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
