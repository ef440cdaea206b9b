"""Issue 21's twelve findings ("Holds under concurrency and hostile input"), sent again to
today's code: what each does now, one run per finding, on a throwaway database.

Each was first seen against `make run`'s server or the in-process Lambda handler. Here the
server is `python -m app` (what `make run` and the Docker image start) with the Docker image's
settings (pool 4 + 0, a 5 s wait for a lane), on 127.0.0.1; the Lambda handler is
`app.lambda_handler.handler`, called as the runtime calls it, in a fresh interpreter whose
INIT and settings are its own. Every run is bounded in count and time.

 1. Pool starvation: 200 concurrent order clients (writes, reads, pages) with a cached route
    timed meanwhile; then over capacity — pool 1, the orders table locked — a bounded wait
    and a 503 too-busy, never 30 s.
 2. Conversion batches stalling /health: 4 clients sending the largest batch, /health timed.
 3. A 1 MB body of unknown keys: the 422's size and time; 8 at once, /health timed.
 4. Unique long names kept in memory: the server's RSS around 70 batches of each kind.
 5. The largest answers: every route's worst case on Lambda — bytes as sent, as marshalled,
    share of the 6 MiB limit, time — the worst 422 and the 413 too.
 6.-12. A Content-Length of 5,000 digits, events with fields of the wrong type, a client gone
    mid-body, HEAD, keys before bodies, orders without a key, what the server says of itself.

    python -m reliability.hostile --db postgresql --json hostile.json
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.schemas import MAX_CONVERT_ITEMS
from harness import ADMIN_KEY, ORDERS_KEY, REPO, leaks
from harness.databases import Database, table_locked, throwaway_database
from harness.events import ORDER, SHAPES, LambdaContext, alb, http_v2, replaced, rest_v1
from harness.http import HOST, JSON, HttpClient, Reply, as_orders_client, reply
from harness.images import image_settings
from harness.load import Poller, run_clients
from harness.processes import child_environment, rss
from harness.servers import SERVED, Uvicorn
from harness.sql import app_connections
from harness.stats import latencies
from harness.worst import (
    BUDGET,
    LAMBDA_RESPONSE_LIMIT,
    Worst,
    conversion_cases,
    dataset_cases,
    largest_order,
    marshalled,
    static_cases,
    unknown_keys,
)
from reliability.measure import Sampler, failed_checks, workdir, write_json

Run = dict[str, Any]
PROBLEM = "application/problem+json"
# REFDATA_MAX_CONVERT_BODY_BYTES as the servers here run it (its default; the image keeps it).
CONVERT_BODY_LIMIT = 1024 * 1024
# A 422 stays this small whatever the body held (tests/test_bounds.py's bound).
SMALL = 4096
# The largest legal 200 there is: every item matches ten old wards (issue 21, finding 5).
WORST_ITEM = {"province": "HCM", "ward": "1"}
WORST_BATCH = json.dumps({"items": [WORST_ITEM] * MAX_CONVERT_ITEMS}).encode()
# Headers that differ between any two requests.
PER_REQUEST = frozenset({"x-request-id", "server-timing", "date"})


@dataclass(frozen=True)
class Plan:
    """How much of each finding is sent again (the default: as issue 21 sent it, or more)."""

    clients: int = 200  # 1: order clients at once
    rounds: int = 3  # 1: rounds of (write, read, page) per client
    over_capacity: int = 8  # 1: orders at once with one connection and the table locked
    convert_clients: int = 4  # 2
    batches: int = 10  # 2: worst batches per client
    repeats: int = 5  # 3: the 1 MB body, one at a time
    at_once: int = 8  # 3: ... and then this many at once
    memory_batches: int = 70  # 4: batches of each kind of name
    invokes: int = 20  # 5: timed invokes per worst case (after one untimed first)
    idle_seconds: float = 1.0  # a polled route timed alone first, to compare


def problem_type(answer: Reply | None) -> str | None:
    if answer is None or answer.headers.get("content-type") != PROBLEM:
        return None
    kind = answer.json().get("type")
    return str(kind).removeprefix("urn:refdata:problem:") if kind else None


def polled(replies: list[tuple[int | None, float]]) -> dict[str, Any]:
    """A Poller's replies: how many, their statuses, p50/p99/max."""
    return {
        "requests": len(replies),
        "statuses": dict(Counter(str(status) for status, _ in replies)),
        **latencies([seconds for _, seconds in replies]),
    }


def all_ok(replies: list[tuple[int | None, float]]) -> bool:
    """Each reply a 200 (how many there were, the observed figures say: it depends on how
    long the load lasted)."""
    return bool(replies) and all(status == 200 for status, _ in replies)


def result(
    finding: str,
    scenario: str,
    *,
    before: str,
    environment: str,
    tried: dict[str, Any],
    observed: dict[str, Any],
    checks: dict[str, bool],
    timed: dict[str, bool] | None = None,
    tables: list[dict[str, Any]] | None = None,
) -> Run:
    """One finding's run. `checks` hold whatever the machine's speed; `timed` compare a
    measured time with its bound (this machine is shared: `make test` asserts only `checks`).
    The run held if both did."""
    run: Run = {
        "finding": finding,
        "scenario": f"{finding}. {scenario}",
        "before": before,
        "environment": environment,
        "tried": tried,
        "observed": observed,
    }
    if tables:
        run["tables"] = tables
    run["checks"] = {**checks, **{f"{name} (timed)": held for name, held in (timed or {}).items()}}
    run["untimed_checks"] = list(checks)
    run["held"] = all(run["checks"].values())
    return run


def table(title: str, columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"title": title, "columns": columns, "rows": rows}


# The servers: `python -m app` as the Docker image runs it.

IMAGE = "`python -m app` (uvicorn, 1 process) with the Docker image's settings ({})"


def serve(database: Database, workdir: Path, name: str, **settings: str) -> Uvicorn:
    env = {**image_settings(), "REFDATA_DATABASE_URL": database.url, **settings}
    return Uvicorn(env, workdir / f"uvicorn-{name}.log")


def described(**settings: str) -> str:
    """The server's environment in words: the image's settings, and what a run changes."""

    def listed(values: dict[str, str]) -> str:
        return ", ".join(f"{k.removeprefix('REFDATA_')}={v}" for k, v in values.items())

    text = IMAGE.format(listed(image_settings()))
    return f"{text}; here {listed(settings)}" if settings else text


def post(client: HttpClient, path: str, body: bytes, **headers: str) -> tuple[Reply | None, float]:
    """POST `body`; (None, seconds) if no answer came."""
    started = time.perf_counter()
    try:
        return client.request("POST", path, body, {**JSON, **headers})
    except (OSError, http.client.HTTPException):
        return None, time.perf_counter() - started


# 1. Pool starvation.

KINDS = ("POST /orders", "GET /orders/{id}", "GET /orders?limit=20")


def order_clients(database: Database, plan: Plan, workdir: Path) -> Run:
    """`clients` threads with keep-alive connections, each sending `rounds` rounds of a write,
    a read by id and a page (in an order of its own), while GET /countries/VN is timed."""
    with serve(database, workdir, "order-clients") as server:
        client = server.client()
        first, _ = client.request("POST", "/orders", ORDER, JSON)
        client.close()
        if first.status != 201:
            raise RuntimeError(f"the first order failed: {first.status} {first.body[:300]!r}")
        by_kind = {
            KINDS[0]: ("POST", "/orders", ORDER),
            KINDS[1]: ("GET", f"/orders/{first.json()['id']}", None),
            KINDS[2]: ("GET", "/orders?limit=20", None),
        }
        done: list[tuple[str, int | None, float]] = []
        lock = threading.Lock()
        turns = iter(range(plan.clients))

        def work(connection: HttpClient) -> None:
            with lock:
                turn = next(turns)
            mine: list[tuple[str, int | None, float]] = []
            for _ in range(plan.rounds):
                for step in range(len(KINDS)):
                    kind = KINDS[(turn + step) % len(KINDS)]
                    method, path, body = by_kind[kind]
                    headers = {**JSON, "idempotency-key": str(uuid.uuid4())} if body else None
                    started = time.perf_counter()
                    try:
                        answer, took = connection.request(method, path, body, headers)
                        mine.append((kind, answer.status, took))
                    except (OSError, http.client.HTTPException):
                        mine.append((kind, None, time.perf_counter() - started))
            with lock:
                done.extend(mine)

        admin_url = database.admin_url
        sampler: contextlib.AbstractContextManager[Sampler | None] = (
            Sampler(lambda: len(app_connections(admin_url, server.pid)))
            if admin_url is not None
            else contextlib.nullcontext()
        )
        with Poller(server.port, "/countries/VN") as idle:
            time.sleep(plan.idle_seconds)
        with Poller(server.port, "/countries/VN") as reference, sampler as connections:
            seconds = run_clients(plan.clients, work, server.port)
    statuses = Counter(status for _, status, _ in done)
    expected = {KINDS[0]: 201, KINDS[1]: 200, KINDS[2]: 200}
    rows = []
    for kind in KINDS:
        mine = [status for k, status, _ in done if k == kind]
        figures = latencies([took for k, _, took in done if k == kind])
        counted = ", ".join(f"{s}: {n:,}" for s, n in sorted(Counter(map(str, mine)).items()))
        rows.append([kind, len(mine), counted, *figures.values()])
    pool = image_settings().get("REFDATA_DB_POOL_SIZE", "1")
    observed: dict[str, Any] = {
        "requests": len(done),
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
        "seconds": round(seconds, 2),
        "requests_per_second": round(len(done) / seconds, 1),
        "all_requests": latencies([took for _, _, took in done]),
        "GET /countries/VN alone": polled(idle.replies),
        "GET /countries/VN meanwhile": polled(reference.replies),
    }
    checks = {
        "every request was answered, none with a 5xx": all(
            status is not None and status < 500 for status in statuses
        ),
        "every order was placed (201) and every read and page answered 200": all(
            status == expected[kind] for kind, status, _ in done
        ),
        "GET /countries/VN answered 200 every time meanwhile": all_ok(reference.replies),
    }
    timed = {
        "GET /countries/VN meanwhile: p99 under 1 s (no request waited on the orders)": (
            (latencies([t for _, t in reference.replies])["p99_ms"] or 0) < 1000
        ),
    }
    if connections is not None:
        observed["largest_connections_held"] = connections.largest
        checks[f"connections held ≤ the image's pool ({pool} + 0)"] = (
            0 < connections.largest <= int(pool)
        )
    return result(
        "1",
        f"Pool starvation: {plan.clients} concurrent order clients",
        before="45 concurrent GET /orders?limit=1 to uvicorn: 40 x 503 after 30 s"
        " (pool starvation)",
        environment=described(),
        tried={
            "clients": plan.clients,
            "rounds_each": plan.rounds,
            "per_round": "POST /orders (a new Idempotency-Key each), GET /orders/{id},"
            " GET /orders?limit=20, in an order of the client's own, with the orders key",
            "polled_meanwhile": "GET /countries/VN, from a process of its own",
        },
        observed=observed,
        checks=checks,
        timed=timed,
        tables=[
            table("Per kind", ["request", "sent", "statuses", "p50 ms", "p99 ms", "max ms"], rows)
        ],
    )


def over_capacity(database: Database, plan: Plan, workdir: Path) -> Run:
    """One connection, its statement waiting on a lock; `over_capacity` orders at once."""
    bound = 1.0
    settings = {
        "REFDATA_DB_POOL_SIZE": "1",
        "REFDATA_DB_MAX_OVERFLOW": "0",
        "REFDATA_QUEUE_TIMEOUT_SECONDS": f"{bound:g}",
        "REFDATA_DB_STATEMENT_TIMEOUT_MS": "20000",
        "REFDATA_DB_CONNECT_TIMEOUT_SECONDS": "20",  # SQLite's busy timeout
    }
    answers: list[tuple[Reply | None, float]] = []
    lock = threading.Lock()
    refused = threading.Semaphore(0)
    with serve(database, workdir, "over-capacity", **settings) as server:

        def place() -> None:
            client = server.client()
            answer = post(client, "/orders", ORDER, **{"idempotency-key": str(uuid.uuid4())})
            client.close()
            with lock:
                answers.append(answer)
            if answer[0] is not None and answer[0].status == 503:
                refused.release()

        threads = [threading.Thread(target=place) for _ in range(plan.over_capacity)]
        with table_locked(database):
            locked = time.perf_counter()
            for thread in threads:
                thread.start()
            # All but one are answered while the lock is still held: nobody waits for it.
            told = all(refused.acquire(timeout=15) for _ in range(plan.over_capacity - 1))
            held = time.perf_counter() - locked
        for thread in threads:
            thread.join(30)
    busy = [(a, t) for a, t in answers if a is not None and a.status == 503]
    rest = [(a, t) for a, t in answers if a is None or a.status != 503]
    waits = [t for _, t in busy]
    return result(
        "1",
        "Pool starvation, over capacity: one connection, the orders table locked",
        before="45 concurrent GET /orders?limit=1: 40 of them answered 503, after 30 s",
        environment=described(**settings),
        tried={
            "orders_at_once": plan.over_capacity,
            "lock": "another session holds customer_order (SQLite: the file) until all but one"
            " are answered",
        },
        observed={
            "statuses": dict(Counter(str(a.status if a else None) for a, _ in answers)),
            "problem_types": dict(Counter(str(problem_type(a)) for a, _ in busy)),
            "retry_after": dict(Counter(str(a.headers.get("retry-after")) for a, _ in busy)),
            "refused_waited": latencies(waits),
            "lock_held_seconds": round(held, 2),
            "the_one_with_the_lane": [
                f"{a.status if a else None} after {t:.2f} s (once the lock was gone)"
                for a, t in rest
            ],
        },
        checks={
            f"{plan.over_capacity - 1} of {plan.over_capacity} answered 503 too-busy"
            " (problem+json, Retry-After: 1) while the lock was held": told
            and len(busy) == plan.over_capacity - 1
            and all(
                problem_type(a) == "too-busy" and a.headers.get("retry-after") == "1"
                for a, _ in busy
            ),
            "the one with the lane placed its order (201) once the lock was gone": len(rest) == 1
            and rest[0][0] is not None
            and rest[0][0].status == 201,
        },
        timed={
            f"each refused request waited about the bound ({bound:g} s), never 30 s": bool(waits)
            and 0.9 * bound <= min(waits)
            and max(waits) <= bound + 1.5,
        },
    )


# 2. Conversion batches and the event loop.


def conversion_batches(database: Database, plan: Plan, workdir: Path) -> Run:
    sizes: list[int] = []
    done: list[tuple[int | None, float]] = []
    lock = threading.Lock()
    with serve(database, workdir, "conversion") as server:
        warm = server.client()
        post(warm, "/vn/convert", WORST_BATCH)  # the batch validator is built on the first
        warm.close()

        def convert(connection: HttpClient) -> None:
            for _ in range(plan.batches):
                answer, took = post(connection, "/vn/convert", WORST_BATCH)
                with lock:
                    done.append((answer.status if answer else None, took))
                    if answer is not None:
                        sizes.append(len(answer.body))

        with Poller(server.port, "/health") as idle:
            time.sleep(plan.idle_seconds)
        with Poller(server.port, "/health") as health:
            seconds = run_clients(plan.convert_clients, convert, server.port)
    during = latencies([t for _, t in health.replies])
    return result(
        "2",
        "Conversion batches stalling /health",
        before="4 concurrent POST /vn/convert of 1,000 items: /health median 1.7 ms → 181 ms"
        " (max 299)",
        environment=described(),
        tried={
            "clients": plan.convert_clients,
            "batches_each": plan.batches,
            "batch": f"{MAX_CONVERT_ITEMS:,} x {json.dumps(WORST_ITEM)} ({len(WORST_BATCH):,} B)",
            "polled_meanwhile": "GET /health, from a process of its own",
        },
        observed={
            "batches": len(done),
            "statuses": dict(Counter(str(status) for status, _ in done)),
            "answer_bytes": max(sizes, default=0),
            "batches_per_second": round(len(done) / seconds, 2),
            "batch": latencies([t for _, t in done]),
            "GET /health alone": polled(idle.replies),
            "GET /health meanwhile": polled(health.replies),
        },
        checks={
            "every batch answered 200": len(done) == plan.convert_clients * plan.batches
            and all(status == 200 for status, _ in done),
            "/health answered 200 every time meanwhile": all_ok(health.replies),
        },
        timed={
            "/health meanwhile: median under 50 ms (181 ms before)": (during["p50_ms"] or 0) < 50,
            "/health meanwhile: max under 299 ms (the max before)": (during["max_ms"] or 0) < 299,
        },
    )


# 3. A megabyte of unknown keys.


def unknown_keys_body(database: Database, plan: Plan, workdir: Path) -> Run:
    body = unknown_keys(CONVERT_BODY_LIMIT)
    keys = len(json.loads(body))
    one: list[tuple[Reply | None, float]] = []
    together: list[tuple[Reply | None, float]] = [(None, 0.0)] * plan.at_once
    with serve(database, workdir, "unknown-keys") as server:
        client = server.client()
        one = [post(client, "/vn/convert", body) for _ in range(plan.repeats)]
        client.close()
        start = threading.Barrier(plan.at_once)

        def send(index: int) -> None:
            mine = server.client()
            start.wait()
            together[index] = post(mine, "/vn/convert", body)
            mine.close()

        threads = [threading.Thread(target=send, args=(i,)) for i in range(plan.at_once)]
        with Poller(server.port, "/health") as health:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
    answers = [a for a, _ in one + together]
    first = next((a for a in answers if a is not None and a.status == 422), None)
    document = first.json() if first is not None else {}
    return result(
        "3",
        "A 1 MB body of unknown keys to /vn/convert",
        before="a 1 MB body with 110,000 unknown top-level keys: 0.7 to 1.0 s of server time and"
        " a 6.97 MB 422; 8 at once stalled /health 5 s",
        environment=described(),
        tried={
            "body": f"{len(body):,} B: {keys:,} unknown top-level keys",
            "one_at_a_time": plan.repeats,
            "at_once": plan.at_once,
            "polled_meanwhile": "GET /health while they were in flight, from a process of its own",
        },
        observed={
            "statuses": dict(Counter(str(a.status if a else None) for a in answers)),
            "answer_bytes": len(first.body) if first is not None else None,
            "errors_listed": len(document.get("errors", [])),
            "error_count": document.get("error_count"),
            "round_trip_one_at_a_time": latencies([t for _, t in one]),
            "round_trip_at_once": latencies([t for _, t in together]),
            "GET /health meanwhile": polled(health.replies),
        },
        checks={
            "every answer a 422 problem+json": all(
                a is not None and a.status == 422 and problem_type(a) == "validation-error"
                for a in answers
            ),
            f"each at most {SMALL:,} B, listing some errors and counting all": all(
                a is not None
                and len(a.body) <= SMALL
                and a.json().get("error_count") == keys
                and 0 < len(a.json().get("errors", [])) < keys
                for a in answers
            ),
            "8 at once: /health answered 200 every time": all_ok(health.replies),
        },
        timed={
            "one at a time: each answered within 0.5 s (0.7 to 1.0 s of server time before)": all(
                t < 0.5 for _, t in one
            ),
            "8 at once: /health within 1 s every time (5 s before)": max(
                t for _, t in health.replies
            )
            < 1.0,
        },
    )


# 4. What a batch leaves behind.


def _pair(number: int) -> str:
    """Two CJK ideographs, a different pair for each number below 160,000."""
    return chr(0x4E00 + number // 400) + chr(0x4E00 + number % 400)


def long_names(batch: int) -> bytes:
    """A full batch of province names of 100 characters that NFKC makes 1,766 (U+FDFA is 18
    letters), each ending in a pair no other name has: a 422 now."""
    items = [
        {"province": "\ufdfa" * 98 + _pair(batch * MAX_CONVERT_ITEMS + i)}
        for i in range(MAX_CONVERT_ITEMS)
    ]
    return json.dumps({"items": items}, ensure_ascii=False).encode()


def plain_names(batch: int) -> bytes:
    """A full batch of addresses by names of exactly 100 plain characters, none seen before:
    a 200."""
    items = [
        {
            part: f"{part[0]}{batch:04d}{i:04d}" + part[0] * 91
            for part in ("province", "district", "ward")
        }
        for i in range(MAX_CONVERT_ITEMS)
    ]
    return json.dumps({"items": items}).encode()


def names_memory(database: Database, plan: Plan, workdir: Path) -> Run:
    bound = 16 * 1024 * 1024
    statuses: dict[str, Counter[str]] = {"long": Counter(), "plain": Counter()}
    with serve(database, workdir, "memory") as server:
        client = server.client()

        def send(kind: str, batches: range, make: Callable[[int], bytes]) -> None:
            for batch in batches:
                answer, _ = post(client, "/vn/convert", make(batch))
                statuses[kind][str(answer.status if answer else None)] += 1

        # What is made once (the validator, the first answers' encodings) is made first.
        for batch in range(10_000, 10_003):
            post(client, "/vn/convert", long_names(batch))
            post(client, "/vn/convert", plain_names(batch))
        start = rss(server.pid)
        send("long", range(plan.memory_batches), long_names)
        after_long = rss(server.pid)
        send("plain", range(plan.memory_batches), plain_names)
        after_plain = rss(server.pid)
        client.close()
    mb = 1024 * 1024
    n = plan.memory_batches
    return result(
        "4",
        "Unique long province names kept in memory",
        before="70 batches of unique long province names ('\\ufdfa' x 98 + 2 unique characters):"
        " RSS 164 → 631 MB, and it stayed (an lru_cache)",
        environment=described(),
        tried={
            "long_names": f"{n} batches of {MAX_CONVERT_ITEMS:,} province names: U+FDFA x 98"
            " + 2 characters"
            " no other name has (100 characters, 1,766 once NFKC-normalised)",
            "plain_names": f"{n} batches of {MAX_CONVERT_ITEMS:,} addresses whose province,"
            " district and ward"
            " names are 100 plain characters none seen before",
            "warm_up": "3 batches of each kind first, not counted",
        },
        observed={
            "statuses_long_names": dict(statuses["long"]),
            "statuses_plain_names": dict(statuses["plain"]),
            "rss_mb_before": round(start / mb, 1),
            "rss_mb_after_the_long_names": round(after_long / mb, 1),
            "rss_mb_after_the_plain_names": round(after_plain / mb, 1),
        },
        checks={
            f"the {n} batches of long names were all 422s": statuses["long"] == {"422": n},
            f"the {n} batches of plain 100-character names were all 200s": (
                statuses["plain"] == {"200": n}
            ),
            "RSS grew at most 16 MB over the long names": after_long - start <= bound,
            "RSS grew at most 16 MB over the plain names": after_plain - after_long <= bound,
            "RSS ended within 16 MB of where it started": after_plain - start <= bound,
        },
    )


# 5. to 7. (and the Lambda side of 9 and 11): the handler, in a process of its own.

LAMBDA = (
    "the Lambda handler (app.lambda_handler.handler) called as the runtime calls it, in a"
    " fresh interpreter on the same database, with Lambda's default settings (pool 1 + 0)"
)


def on_lambda(database: Database, plan: Plan, workdir: Path) -> tuple[dict[str, Any], str]:
    """`lambda_runs` in a fresh interpreter whose environment names the database: its INIT,
    its settings (the thresholds it raises) and its log are its own. Its results and log."""
    out, log_path = workdir / "lambda.json", workdir / "lambda.log"
    env = {
        **SERVED,
        "REFDATA_DATABASE_URL": database.url,
        "REFDATA_ADMIN_API_KEY": ADMIN_KEY,
    }
    code = "from reliability.hostile import lambda_main; lambda_main()"
    with log_path.open("wb") as log:
        finished = subprocess.run(  # noqa: S603 -- our own interpreter and module
            [sys.executable, "-c", code, str(plan.invokes), str(out)],
            cwd=REPO,
            env=child_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=900,
            check=False,
        )
    text = log_path.read_text(errors="replace")
    leaks.check(text, "the Lambda process's log")
    if finished.returncode != 0 or not out.exists():
        raise RuntimeError(f"the Lambda process failed ({finished.returncode}):\n{text[-3000:]}")
    return json.loads(out.read_text()), text


def lambda_main() -> None:
    """The Lambda process (`on_lambda`): argv is the invokes per case and the output path."""
    invokes, out = int(sys.argv[1]), Path(sys.argv[2])
    out.write_text(json.dumps(lambda_runs(invokes), ensure_ascii=False))


@dataclass
class Handler:
    """The real handler in this process, called as the runtime calls it."""

    handler: Callable[[Any, Any], dict[str, Any]]
    context: Any

    def invoke(self, event: Any) -> tuple[dict[str, Any] | None, str | None, float]:
        """The response, or the name of what the handler raised instead; the seconds."""
        started = time.perf_counter()
        try:
            response = self.handler(event, self.context)
        except Exception as exc:  # what issue 21 saw: reported, not raised
            return None, type(exc).__name__, time.perf_counter() - started
        return response, None, time.perf_counter() - started

    def call(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        *,
        authorize: bool = True,
    ) -> Reply:
        """One HTTP API (2.0) request (with the orders key, for /orders, if `authorize`)."""
        if authorize:
            headers = as_orders_client(path, headers)
        return reply(self.handler(http_v2(method, path, headers, body), self.context))

    def warm(self) -> bool:
        """The next valid invoke answers 200."""
        return self.call("GET", "/countries/VN").status == 200


def well_formed(response: dict[str, Any] | None) -> bool:
    if response is None or not isinstance(response.get("statusCode"), int):
        return False
    try:
        json.dumps(response)
    except (TypeError, ValueError):
        return False
    return isinstance(response.get("body", ""), str)


def lambda_runs(invokes: int) -> dict[str, Any]:
    """Findings 5, 6 and 7, and the Lambda side of 9 and 11, through the real handler. Run
    in a process whose environment was set before this imports the app (`on_lambda`)."""
    # Imported here: the app builds its engine and cache at import, from the environment.
    from app.lambda_handler import handler  # noqa: PLC0415

    invoker = Handler(handler, LambdaContext())
    return {
        "5": worst_cases(invoker, invokes),
        "6": malformed_lengths(invoker),
        "7": wrong_types(invoker),
        "9": head_on_lambda(invoker),
        "11": orders_on_lambda(invoker),
    }


@dataclass(frozen=True)
class Case:
    worst: Worst
    expected: int


def timed(invoker: Handler, case: Case, invokes: int) -> dict[str, Any]:
    """`case` sent 1 + `invokes` times: what its answer weighs, and how long it took (the
    first apart: it may build what later ones reuse)."""
    worst = case.worst
    times: list[float] = []
    statuses: set[int | None] = set()
    response: dict[str, Any] | None = None
    for _ in range(1 + invokes):
        event = http_v2(worst.method, worst.path, worst.headers, worst.body)
        response, error, seconds = invoker.invoke(event)
        times.append(seconds)
        statuses.add(response["statusCode"] if response else None)
        if response is None:
            raise RuntimeError(f"{worst.route}: the handler raised {error}")
    if response is None:
        raise ValueError("no invoke")
    size = marshalled(response)
    rest = times[1:] or times
    return {
        "route": worst.route,
        "what": worst.what,
        "expected": case.expected,
        "statuses": sorted(statuses, key=str),
        "body_bytes": len(reply(response).body),
        "marshalled_bytes": size,
        "limit_pct": round(100 * size / LAMBDA_RESPONSE_LIMIT, 2),
        "first_ms": round(times[0] * 1000, 2),
        "median_ms": round(statistics.median(rest) * 1000, 2),
        "max_ms": round(max(rest) * 1000, 2),
        "answer": reply(response),
    }


@contextlib.contextmanager
def generous_thresholds(invoker: Handler) -> Iterator[bool]:
    """Thresholds that accept the largest order a body can carry (a business may set them),
    through the admin API; restored afterwards. Whether they were raised."""
    from app.datasets import SETTING_INT_MAX  # noqa: PLC0415

    admin = {"authorization": f"Bearer {ADMIN_KEY}", **JSON}
    keys = ("max_order_items", "max_order_total_vnd")
    was = {key: invoker.call("GET", f"/settings/{key}").json()["value"] for key in keys}

    def put(key: str, value: Any) -> int:
        body = json.dumps({"value": value}).encode()
        return invoker.call("PUT", f"/admin/settings/{key}", admin, body).status

    try:
        yield all(put(key, SETTING_INT_MAX) == 200 for key in keys)
    finally:
        for key in keys:
            put(key, was[key])


def worst_cases(invoker: Handler, invokes: int) -> Run:
    """Every route's worst legal request (harness/worst.py), the issue's batch, the largest
    orders and a page of them, the worst 422s and the 413."""
    from app.init import cache, settings  # noqa: PLC0415
    from app.problems import MAX_ERRORS  # noqa: PLC0415

    snapshot = cache.snapshot()
    docs = invoker.call("GET", "/docs").body.decode()
    cases = [
        Case(worst, 200)
        for worst in (*dataset_cases(snapshot), *conversion_cases(snapshot), *static_cases(docs))
    ]
    cases.append(
        Case(
            Worst(
                "POST /vn/convert",
                "/vn/convert",
                f"issue 21's, as large as a batch may be now: {MAX_CONVERT_ITEMS:,} x {WORST_ITEM}",
                WORST_BATCH,
                JSON,
            ),
            200,
        )
    )
    rows = [timed(invoker, case, invokes) for case in cases]
    orders = as_orders_client("/orders", JSON)
    order = json.dumps(largest_order(settings.max_body_bytes), ensure_ascii=False).encode()
    with generous_thresholds(invoker) as raised:
        for route, path, expected in (
            ("POST /orders/quote", "/orders/quote", 200),
            ("POST /orders", "/orders", 201),
        ):
            what = f"the largest order ({len(order):,} B)" + (
                ", a new one each time" * (expected == 201)
            )
            rows.append(
                timed(invoker, Case(Worst(route, path, what, order, orders), expected), invokes)
            )
        # Enough of the largest orders that a page of them would pass the page's size.
        for _ in range(15):
            invoker.call("POST", "/orders", orders, order)
        placed = rows[-1]["answer"].json()["id"]
        auth = as_orders_client("/orders", None)
        for worst in (
            Worst("GET /orders/{order_id}", f"/orders/{placed}", "the largest order", None, auth),
            Worst("GET /orders", "/orders?limit=100", "a page of the largest orders", None, auth),
        ):
            rows.append(timed(invoker, Case(worst, 200), invokes))
    page = rows[-1]["answer"].json()
    refusals = [
        Case(
            Worst(
                "POST /vn/convert",
                "/vn/convert",
                f"{settings.max_convert_body_bytes:,} B of unknown keys: the worst 422",
                unknown_keys(settings.max_convert_body_bytes),
                JSON,
            ),
            422,
        ),
        Case(
            Worst(
                "POST /orders",
                "/orders",
                f"{settings.max_body_bytes:,} B of unknown keys: its 422",
                unknown_keys(settings.max_body_bytes),
                orders,
            ),
            422,
        ),
        Case(
            Worst(
                "POST /vn/convert",
                "/vn/convert",
                "a body one byte over its limit: the 413",
                b" " * (settings.max_convert_body_bytes + 1),
                JSON,
            ),
            413,
        ),
    ]
    refused = [timed(invoker, case, invokes) for case in refusals]
    answered = [row for row in rows if row["expected"] < 300]
    largest = max(answered, key=lambda row: row["marshalled_bytes"])
    issue = next(row for row in rows if row["what"].startswith("issue 21's"))
    worst_422 = refused[0]["answer"].json()
    columns = ["route", "what", "status", "body B", "marshalled B", "% of 6 MiB"]
    columns += ["first ms", "median ms", "max ms"]

    def line(row: dict[str, Any]) -> list[Any]:
        statuses = "/".join(str(s) for s in row["statuses"])
        return [
            f"`{row['route']}`",
            row["what"],
            statuses,
            row["body_bytes"],
            row["marshalled_bytes"],
            row["limit_pct"],
            row["first_ms"],
            row["median_ms"],
            row["max_ms"],
        ]

    return result(
        "5",
        "The largest answers: every route's worst case",
        before="the largest legal 200 (1,000 x {'province': 'HCM', 'ward': '1'}): a 4.07 MB body,"
        " 5.2 MB marshalled (Lambda's limit: 6 MiB)",
        environment=LAMBDA,
        tried={
            "cases": len(rows) + len(refused),
            "invokes_per_case": f"1 (first) + {invokes} (median, max)",
            "thresholds": "max_order_items and max_order_total_vnd raised to their largest"
            " through the admin API for the orders, then restored",
        },
        observed={
            "lambda_limit_bytes": LAMBDA_RESPONSE_LIMIT,
            "budget_bytes": BUDGET,
            "largest_answer": f"{largest['route']} ({largest['what']}):"
            f" {largest['body_bytes']:,} B, {largest['marshalled_bytes']:,} B marshalled",
            "issue_21_batch": f"{issue['body_bytes']:,} B, {issue['marshalled_bytes']:,} B"
            f" marshalled, {issue['median_ms']} ms median",
            "worst_422": f"{refused[0]['body_bytes']:,} B, {len(worst_422['errors'])} errors"
            f" listed of {worst_422.get('error_count'):,}",
            "page_of_the_largest_orders": f"{len(page['items'])} orders,"
            f" next_cursor {'set' if page.get('next_cursor') else 'null'}",
        },
        checks={
            "every case answered its status (200/201; the 422s; the 413)": all(
                row["statuses"] == [row["expected"]] for row in rows + refused
            ),
            "the thresholds were raised for the largest orders": raised,
            f"every answer fits the budget: {BUDGET:,} B marshalled (half of 6 MiB)": all(
                row["marshalled_bytes"] <= BUDGET for row in rows + refused
            ),
            f"the issue's batch: under {BUDGET:,} B marshalled (5.2 MB before)": (
                issue["marshalled_bytes"] <= BUDGET
            ),
            f"the worst 422: at most {SMALL:,} B, {MAX_ERRORS} errors listed, all counted": (
                refused[0]["body_bytes"] <= SMALL
                and len(worst_422["errors"]) == MAX_ERRORS
                and worst_422.get("error_count") == len(json.loads(refusals[0].worst.body or b"{}"))
            ),
            "a page of the largest orders stops early (under 1 MiB of orders)": (
                0 < len(page["items"]) < 16 and page.get("next_cursor") is not None
            ),
        },
        tables=[table("Worst case per route", columns, [line(row) for row in rows + refused])],
    )


def answered(invoker: Handler, events: dict[str, Any], label: str) -> list[dict[str, Any]]:
    """Each event invoked (a copy of it): how it was answered, and whether the next valid
    invoke was still warm; `label` names the events' column."""
    rows = []
    for name, event in events.items():
        response, error, _ = invoker.invoke(copy.deepcopy(event))
        answer = reply(response) if response is not None else None
        rows.append(
            {
                label: name,
                "well_formed": well_formed(response),
                "status": answer.status if answer else f"raised {error}",
                "type": problem_type(answer),
                "next_invoke_warm": invoker.warm(),
            }
        )
    return rows


def malformed_lengths(invoker: Handler) -> Run:
    """A Content-Length of 5,000 digits on a POST, in each of the four event shapes."""
    headers = as_orders_client("/orders/quote", {**JSON, "content-length": "9" * 5000})
    events = {
        name: shape("POST", "/orders/quote", headers, ORDER) for name, shape in SHAPES.items()
    }
    rows = answered(invoker, events, "shape")
    return result(
        "6",
        "A Content-Length of 5,000 digits, in every event shape",
        before="`content-length` of 5,000 digits on a non-GET method, all 4 Lambda event"
        " shapes: 500",
        environment=LAMBDA,
        tried={
            "request": "POST /orders/quote with the orders key and a valid order",
            "content_length": "'9' x 5,000",
            "shapes": list(SHAPES),
        },
        observed={"answers": [f"{r['shape']}: {r['status']} {r['type']}" for r in rows]},
        checks={
            "every shape answered a well-formed 400 malformed-request": all(
                r["well_formed"] and r["status"] == 400 and r["type"] == "malformed-request"
                for r in rows
            ),
            "the next valid invoke answered 200 each time": all(
                r["next_invoke_warm"] for r in rows
            ),
        },
    )


def wrong_types(invoker: Handler) -> Run:
    """Events whose fields have the right names and the wrong types."""
    events = {
        "ALB, requestContext ['elb']": replaced(
            alb("GET", "/countries"), ["elb"], "requestContext"
        ),
        "ALB, requestContext 'elb'": replaced(alb("GET", "/countries"), "elb", "requestContext"),
        "HTTP API 2.0, requestContext.http ['x']": replaced(
            http_v2("GET", "/countries"), ["x"], "requestContext", "http"
        ),
        "REST 1.0, requestContext.path null": replaced(
            rest_v1("GET", "/countries"), None, "requestContext", "path"
        ),
    }
    rows = answered(invoker, events, "event")
    return result(
        "7",
        "ALB and v1 events with fields of the wrong type",
        before="ALB events with requestContext ['elb'] or 'elb', requestContext.http = ['x'],"
        " v1 with requestContext.path = None: AttributeError out of the handler",
        environment=LAMBDA,
        tried={"events": list(events)},
        observed={"answers": [f"{r['event']}: {r['status']} {r['type']}" for r in rows]},
        checks={
            "every event answered a well-formed 400 bad-event, nothing raised": all(
                r["well_formed"] and r["status"] == 400 and r["type"] == "bad-event" for r in rows
            ),
            "the next valid invoke answered 200 each time": all(
                r["next_invoke_warm"] for r in rows
            ),
        },
    )


def comparable(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in PER_REQUEST}


def head_like_get(full: Reply, head: Reply) -> bool:
    """HEAD answered as GET: its status and headers (Content-Length included), no body. A
    `no-store` answer (/health: its age, its count of requests) is another representation
    each time: its length is not compared, only given."""
    if full.headers.get("cache-control") == "no-store":
        full_headers, head_headers = (
            {k: v for k, v in comparable(headers).items() if k != "content-length"}
            for headers in (full.headers, head.headers)
        )
        length_given = head.headers.get("content-length", "").isdigit()
    else:
        full_headers, head_headers = comparable(full.headers), comparable(head.headers)
        length_given = head.headers.get("content-length") == str(len(full.body))
    return (
        head.status == full.status
        and head.body == b""
        and head_headers == full_headers
        and length_given
    )


def head_on_lambda(invoker: Handler) -> dict[str, Any]:
    """HEAD and GET of a path that answers 200, for every GET route of the app."""
    import re  # noqa: PLC0415

    from starlette.routing import Route  # noqa: PLC0415

    from app.main import app  # noqa: PLC0415
    from harness.datasets import DATASET_ROUTES  # noqa: PLC0415

    order = invoker.call("POST", "/orders", JSON, ORDER)
    docs = invoker.call("GET", "/docs").body.decode()
    asset = re.search(r"/docs/assets/[0-9a-f]+/swagger-ui\.css", docs)
    samples = {route.route.path: route.sample_paths()[0] for route in DATASET_ROUTES}
    samples |= {
        "/openapi.json": "/openapi.json",
        "/health": "/health",
        "/docs": "/docs",
        "/redoc": "/redoc",
        "/docs/assets/{digest}/{name}": asset[0] if asset else "/docs/assets/none",
        "/redoc/logo-mini.svg": "/redoc/logo-mini.svg",
        "/vn/legacy/wards/{code}/successors": "/vn/legacy/wards/26740/successors",
        "/vn/legacy/districts/{code}/successors": "/vn/legacy/districts/760/successors",
        "/vn/legacy/provinces/{code}/successors": "/vn/legacy/provinces/79/successors",
        "/vn/wards/{code}/predecessors": "/vn/wards/26740/predecessors",
        "/orders/{order_id}": f"/orders/{order.json().get('id')}",
        "/orders": "/orders?limit=2",
    }
    routes = sorted(
        route.path
        for route in app.routes
        if isinstance(route, Route) and route.methods and "GET" in route.methods
    )
    rows: list[list[Any]] = []
    for template in routes:
        path = samples.get(template)
        if path is None:
            rows.append([f"`{template}`", "no sample path here", None, None, False])
            continue
        full, head = invoker.call("GET", path), invoker.call("HEAD", path)
        rows.append(
            [f"`{template}`", full.status, head.status, len(head.body), head_like_get(full, head)]
        )
    etag = invoker.call("GET", "/countries/VN").headers.get("etag", "")
    conditional = invoker.call("HEAD", "/countries/VN", {"if-none-match": etag})
    missing = invoker.call("HEAD", "/countries/XX")
    return {
        "rows": rows,
        "observed": {
            "get_routes": len(routes),
            "HEAD with a matching If-None-Match": conditional.status,
            "HEAD of a missing record": f"{missing.status}, {len(missing.body)} B of body",
        },
        "checks": {
            f"on Lambda: HEAD answered all {len(routes)} GET routes as GET did, with no body": (
                all(row[1] == 200 and row[4] for row in rows)
            ),
            "on Lambda: HEAD of a conditional GET is a 304, of a missing record a bodiless 404": (
                conditional.status == 304 and missing.status == 404 and missing.body == b""
            ),
        },
    }


def orders_on_lambda(invoker: Handler) -> dict[str, Any]:
    """GET /orders without a key, with another key, with the orders key."""
    wrong = {"authorization": f"Bearer {ADMIN_KEY}"}
    answers = {
        "no credentials": invoker.call("GET", "/orders?limit=5", authorize=False),
        "the admin key": invoker.call("GET", "/orders?limit=5", wrong),
        "the orders key": invoker.call("GET", "/orders?limit=5"),
    }
    return {
        "rows": [["Lambda", name, a.status, b'"items"' in a.body] for name, a in answers.items()],
        "checks": {
            "on Lambda: 401 without a key, 403 with another, 200 with the orders key; no order"
            " without it": [a.status for a in answers.values()] == [401, 403, 200]
            and b'"items"' not in answers["no credentials"].body
            and b'"items"' not in answers["the admin key"].body,
        },
    }


# 8.-12. HTTP as clients expect it: one server, with the admin API on.

SERVER = described(REFDATA_ADMIN_API_KEY="<the harness's admin key>")


def over_http(
    server: Uvicorn,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    authorize: bool = True,
) -> Reply:
    """One request on a connection of its own (a refusal may close it)."""
    client = server.client()
    try:
        return client.request(method, path, body, headers, authorize=authorize)[0]
    finally:
        client.close()


def logged(server: Uvicorn, request_id: str) -> list[dict[str, Any]]:
    """Every line the server logged for the request sent with this X-Request-Id (which the
    app adopts), once its request line is written."""

    def lines() -> list[dict[str, Any]]:
        found = []
        for line in server.log().splitlines():
            if request_id in line:
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return [entry for entry in found if entry.get("request_id") == request_id]

    deadline = time.monotonic() + 10
    while not any(e.get("message") == "request" for e in lines()):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    time.sleep(0.2)  # anything else it logs for the request
    return lines()


def request_id() -> str:
    return f"hostile-{uuid.uuid4().hex}"


def client_gone_mid_body(server: Uvicorn) -> Run:
    """9 of 100 declared bytes, then the connection closed: how the server logs it."""
    found: dict[str, list[str]] = {}
    for path in ("/vn/convert", "/orders/quote"):
        sent = request_id()
        with socket.create_connection((HOST, server.port), timeout=5) as raw:
            raw.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer {ORDERS_KEY}\r\nX-Request-Id: {sent}\r\n"
                "Content-Length: 100\r\n\r\n".encode()
                + b'{"items":'
            )
        found[path] = [
            f"{e['message']}: {e.get('status')} at {e['level']}" for e in logged(server, sent)
        ]
    log = server.log()
    errors, tracebacks = log.count('"level":"ERROR"'), log.count("Traceback")
    return result(
        "8",
        "A client that sends 9 of 100 declared bytes and closes",
        before="a client that sends 9 of 100 declared bytes to /vn/convert and closes: logged as"
        " a 500 with an ERROR traceback",
        environment=SERVER,
        tried={
            "paths": list(found),
            "sent": "headers with Content-Length: 100, then '{\"items\":'",
        },
        observed={
            "request_log_lines": found,
            "ERROR_lines_in_the_server_log": errors,
            "tracebacks_in_the_server_log": tracebacks,
        },
        checks={
            "each logged once, as a 400 at INFO": all(
                lines == ["request: 400 at INFO"] for lines in found.values()
            ),
            "no ERROR line and no traceback in the server's log": errors == tracebacks == 0,
        },
    )


# Under uvicorn: a path of each kind of GET route (an order of the server's own is added).
HEAD_PATHS = [
    "/countries",
    "/countries/VN",
    "/countries/VN/subdivisions",
    "/currencies/VND",
    "/vn/provinces?q=ho%20chi%20minh",
    "/vn/provinces/79/wards",
    "/vn/legacy/wards/26740/successors",
    "/vn/wards/26740/predecessors",
    "/settings/max_order_total_vnd",
    "/health",
    "/openapi.json",
    "/docs",
    "/orders?limit=1",
]


def head_requests(server: Uvicorn, on_lambda: dict[str, Any]) -> Run:
    order = over_http(server, "POST", "/orders", ORDER, JSON).json()
    rows = []
    for path in [*HEAD_PATHS, f"/orders/{order.get('id')}"]:
        full, head = over_http(server, "GET", path), over_http(server, "HEAD", path)
        rows.append([path, full.status, head.status, len(head.body), head_like_get(full, head)])
    etag = over_http(server, "GET", "/countries/VN").headers.get("etag", "")
    conditional = over_http(server, "HEAD", "/countries/VN", None, {"if-none-match": etag})
    missing = over_http(server, "HEAD", "/countries/XX")
    columns = ["path", "GET", "HEAD", "HEAD body B", "as GET"]
    return result(
        "9",
        "HEAD on a GET route",
        before="HEAD on any GET route: 405",
        environment=f"{SERVER}; and {LAMBDA}",
        tried={
            "under_uvicorn": f"{len(rows)} paths (a route of each kind, an order, a page)",
            "on_lambda": "every GET route of the app",
            "as_GET": "the same status and headers, Content-Length the length of GET's body"
            " (/health's answer is no-store and another each time: its length is given, not"
            " compared), and no body",
        },
        observed={
            "HEAD with a matching If-None-Match (uvicorn)": conditional.status,
            "HEAD of a missing record (uvicorn)": f"{missing.status}, {len(missing.body)} B body",
            **{f"{k} (Lambda)": v for k, v in on_lambda["observed"].items()},
        },
        checks={
            f"under uvicorn: HEAD answered all {len(rows)} paths as GET did, with no body": all(
                row[1] == 200 and row[4] for row in rows
            ),
            "under uvicorn: HEAD of a conditional GET is a 304, of a missing record a"
            " bodiless 404": conditional.status == 304
            and missing.status == 404
            and missing.body == b"",
            **on_lambda["checks"],
        },
        tables=[
            table("Under uvicorn", columns, rows),
            table("On Lambda", ["route", *columns[1:]], on_lambda["rows"]),
        ],
    )


def keys_before_bodies(server: Uvicorn) -> Run:
    bad = b'{"not": json'
    wrong = {**JSON, "authorization": "Bearer " + "w" * 32}
    admin = {**JSON, "authorization": f"Bearer {ADMIN_KEY}"}
    setting, refresh = "/admin/settings/max_order_items", "/admin/cache/refresh"
    sent = [  # method, path, which key, the reply, what it must be
        ("PUT", setting, "none", over_http(server, "PUT", setting, bad, JSON), 401),
        ("PUT", setting, "a wrong one", over_http(server, "PUT", setting, bad, wrong), 403),
        ("PUT", setting, "the admin key", over_http(server, "PUT", setting, bad, admin), 422),
        ("POST", refresh, "none", over_http(server, "POST", refresh), 401),
        (
            "POST",
            "/orders",
            "none",
            over_http(server, "POST", "/orders", bad, JSON, authorize=False),
            401,
        ),
        ("POST", "/orders", "the orders key", over_http(server, "POST", "/orders", bad, JSON), 422),
    ]
    rows = [[f"{m} {p}", key, answer.status, expected] for m, p, key, answer, expected in sent]
    return result(
        "10",
        "PUT /admin/settings without credentials and a bad body",
        before="PUT /admin/settings/... without credentials and a malformed body: 422 (the body"
        " judged before the caller)",
        environment=SERVER,
        tried={"body": bad.decode(), "requests": len(sent)},
        observed={},  # the table below
        checks={
            "the key is judged first: 401 without, 403 wrong, 422 only with the key": all(
                answer.status == expected for *_, answer, expected in sent
            ),
            "every 401 says WWW-Authenticate: Bearer": all(
                answer.headers.get("www-authenticate") == "Bearer"
                for *_, answer, expected in sent
                if expected == 401
            ),
        },
        tables=[table("Answers", ["request", "key", "status", "expected"], rows)],
    )


def orders_without_a_key(server: Uvicorn, on_lambda: dict[str, Any]) -> Run:
    order = over_http(server, "POST", "/orders", ORDER, JSON).json()
    answers = {
        "no credentials": over_http(server, "GET", "/orders?limit=5", authorize=False),
        "the admin key": over_http(
            server, "GET", "/orders?limit=5", None, {"authorization": f"Bearer {ADMIN_KEY}"}
        ),
        "the orders key": over_http(server, "GET", "/orders?limit=5"),
    }
    by_id = over_http(server, "GET", f"/orders/{order.get('id')}", authorize=False)
    rows = [["uvicorn", key, a.status, b'"items"' in a.body] for key, a in answers.items()]
    rows.append(
        ["uvicorn", "no credentials (GET /orders/{id})", by_id.status, b'"id"' in by_id.body]
    )
    rows += on_lambda["rows"]
    return result(
        "11",
        "GET /orders with no credentials",
        before="GET /orders with no credentials: every order",
        environment=f"{SERVER}; and {LAMBDA}",
        tried={
            "requests": "GET /orders?limit=5 without a key, with the admin key, with the"
            " orders key; GET /orders/{id} without a key"
        },
        observed={},  # the table below
        checks={
            "under uvicorn: 401 without a key, 403 with another, 200 with the orders key; no"
            " order without it": [a.status for a in answers.values()] == [401, 403, 200]
            and by_id.status == 401
            and b'"items"' not in answers["no credentials"].body + answers["the admin key"].body,
            **on_lambda["checks"],
        },
        tables=[table("Answers", ["where", "key", "status", "orders in the body"], rows)],
    )


def what_the_server_says(server: Uvicorn) -> Run:
    marker = "probe-" + uuid.uuid4().hex[:12]
    said = {
        path: over_http(server, "GET", path, authorize=not path.startswith("/orders"))
        for path in ("/countries/VN", "/nowhere", "/docs", "/orders?limit=1")
    }
    probes = {  # each with an X-Request-Id of its own, to find its log line by
        request_id(): ("GET", f"/countries?api_key={marker}&q=viet", {}),
        request_id(): ("GET", "/orders?limit=1", {"authorization": f"Bearer {marker}"}),
        request_id(): ("GET", f"/nowhere?token={marker}", {}),
    }
    answers = {
        sent: over_http(server, method, path, None, {**headers, "x-request-id": sent})
        for sent, (method, path, headers) in probes.items()
    }
    lines = {sent: logged(server, sent) for sent in probes}
    logged_as = [
        f"{entry['path']} → {entry['status']}" for found in lines.values() for entry in found
    ]
    expected = [
        f"{path} → {answer.status}"
        for path, answer in zip(
            ("/countries", "/orders", "/nowhere"), answers.values(), strict=True
        )
    ]
    log = server.log()
    command = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
    return result(
        "12",
        "What the server says of itself: the Server header, the access log",
        before="any request under uvicorn: `server: uvicorn`; uvicorn's access log kept query"
        " strings",
        environment=SERVER,
        tried={
            "header_looked_for_on": [f"GET {path}" for path in said],
            "probes": [
                "GET /countries?api_key=<marker>&q=viet",
                "GET /orders?limit=1 with Authorization: Bearer <marker>",
                "GET /nowhere?token=<marker>",
            ],
        },
        observed={
            "statuses": {path: a.status for path, a in said.items()},
            "server_headers": sorted({a.headers.get("server", "(none)") for a in said.values()}),
            "command": " ".join(["python", *(part.decode() for part in command[1:3])]),
            "probes_logged_as": logged_as,
            "marker_in_the_log": marker in log,
            "api_key_in_the_log": "api_key" in log,
        },
        checks={
            "no Server header on any answer (200, 404, 401, the docs)": all(
                "server" not in a.headers for a in said.values()
            ),
            "the server is `python -m app`": command[1:3] == [b"-m", b"app"],
            "no query string and no credential in the server's log": marker not in log
            and "api_key" not in log
            and ORDERS_KEY not in log
            and ADMIN_KEY not in log,
            "each probe logged once, by its path alone": logged_as == expected,
        },
    )


def http_semantics(database: Database, workdir: Path, on_lambda: dict[str, Any]) -> list[Run]:
    with serve(database, workdir, "http", REFDATA_ADMIN_API_KEY=ADMIN_KEY) as server:
        return [
            client_gone_mid_body(server),
            head_requests(server, on_lambda["9"]),
            keys_before_bodies(server),
            orders_without_a_key(server, on_lambda["11"]),
            what_the_server_says(server),
        ]


def run(database: Database, plan: Plan, workdir: Path) -> dict[str, Any]:
    """Every finding against servers and a Lambda process on `database` (migrated, used by
    nothing else meanwhile)."""
    runs = [
        order_clients(database, plan, workdir),
        over_capacity(database, plan, workdir),
        conversion_batches(database, plan, workdir),
        unknown_keys_body(database, plan, workdir),
        names_memory(database, plan, workdir),
    ]
    lambda_part, lambda_log = on_lambda(database, plan, workdir)
    quiet = {
        "no ERROR line and no traceback in the Lambda process's log": (
            '"level":"ERROR"' not in lambda_log and "Traceback" not in lambda_log
        )
    }
    for finding in ("5", "6", "7"):
        found = lambda_part[finding]
        found["checks"] |= quiet
        found["held"] = all(found["checks"].values())
        runs.append(found)
    runs += http_semantics(database, workdir, lambda_part)
    runs.sort(key=lambda found: int(found["finding"]))  # stable: finding 1's two stay in order
    checks = {
        f"{found['scenario']}: {name}": held
        for found in runs
        for name, held in found["checks"].items()
    }
    return {
        "scenario": "hostile",
        "backend": database.kind,
        "environment": "issue 21's findings against `python -m app` on 127.0.0.1 (the Docker"
        " image's settings) and the Lambda handler in a process of its own",
        "plan": asdict(plan),
        "runs": runs,
        "checks": checks,
        "held": all(checks.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability.hostile", description=__doc__)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    for name, default in asdict(Plan()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    parser.add_argument("--json", type=Path, help="write the summary here (default: stdout)")
    parser.add_argument("--logs", help="keep the servers' and the Lambda process's logs here")
    args = parser.parse_args(argv)
    plan = Plan(**{name: getattr(args, name) for name in asdict(Plan())})
    with throwaway_database(args.db) as database, workdir(args.logs, "refdata-hostile-") as work:
        summary = run(database, plan, work)
    summary["command"] = " ".join(["python -m reliability.hostile", *(argv or sys.argv[1:])])
    write_json(summary, args.json)
    for name, held in summary["checks"].items():
        print(f"{'held' if held else 'FAILED':6}  {name}", file=sys.stderr)
    return 1 if failed_checks(summary) else 0


if __name__ == "__main__":
    sys.exit(main())
