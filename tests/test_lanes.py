"""Under uvicorn, many requests at once: SQL and conversion batches run in lanes (app/kit/lanes.py).

A request holds a database connection only while its SQL runs, and waits for a lane (holding
no thread and no connection) at most REFDATA_QUEUE_TIMEOUT_SECONDS: then 503 too-busy with
Retry-After, never a 30 s wait. A conversion batch runs in a worker thread, so the event loop
keeps serving the cached routes meanwhile. On Lambda (through Mangum) both run inline.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

from app.kit.lanes import Lanes
from app.schemas import MAX_CONVERT_ITEMS
from harness.databases import Database, migrate, table_locked
from harness.events import ORDER
from harness.http import JSON, HttpClient, Reply, post, send
from harness.images import image_settings
from harness.load import run_clients
from harness.servers import Uvicorn
from tests.conftest import Backend

T = TypeVar("T")
CLIENTS = 200
# The worst batch there is (every item matches ten old wards), as a client sends it.
WORST_BATCH = json.dumps({"items": [{"province": "HCM", "ward": "1"}] * MAX_CONVERT_ITEMS}).encode()


@pytest.fixture
def fresh(backend: Backend) -> Database:
    """A migrated database of its own: what these tests write, nobody else counts."""
    database = backend.new_database()
    migrate(database.url)
    return database


# The lanes themselves.


def run(function: Callable[..., Awaitable[T]], *args: Any) -> T:
    """`function(*args)` on a loop of its own. (Not anyio.run: it unsets the thread's event
    loop when done, and the in-process Mangum handler of the other tests runs on that one.)"""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(function(*args))
    finally:
        loop.close()


def test_work_runs_inline_when_served_alone_and_in_a_lane_thread_otherwise() -> None:
    from app.kit.lanes import Lanes

    lanes = Lanes("test", 1, 5)
    here = threading.get_ident()
    lambda_scope = {"type": "http", "aws.event": {}}
    assert run(lanes.run, lambda_scope, threading.get_ident) == here
    assert lanes.threaded == 0
    assert run(lanes.run, {"type": "http"}, threading.get_ident) != here
    assert lanes.threaded == 1


def test_a_request_waits_for_a_lane_at_most_its_bound_then_is_told_busy() -> None:
    from app.kit.lanes import Busy, Lanes

    lanes = Lanes("test", 1, 0.2)
    release = threading.Event()
    outcomes: list[str] = []

    async def main() -> None:
        async def holder() -> None:
            await lanes.run({}, release.wait, 10)
            outcomes.append("held")

        async def waiter() -> None:
            try:
                await lanes.run({}, lambda: None)
            except Busy as busy:
                outcomes.append(f"busy, retry after {busy.retry_after}")
                release.set()  # the holder finishes only after the waiter was refused

        async with anyio.create_task_group() as group:
            group.start_soon(holder)
            await anyio.sleep(0.05)  # let the holder take the only lane
            group.start_soon(waiter)

    run(main)
    assert outcomes == ["busy, retry after 1", "held"]


def test_warm_lambda_invokes_take_no_thread(fresh: Database) -> None:
    sql_lanes, conversion_lanes = Lanes.every["database"], Lanes.every["conversion"]
    before = (sql_lanes.threaded, conversion_lanes.threaded)
    placed = post("/orders", json.loads(ORDER))
    assert placed.status == 201
    assert send("GET", f"/orders/{placed.json()['id']}").status == 200
    assert send("GET", "/orders?limit=2").status == 200
    assert send("POST", "/vn/convert", WORST_BATCH, JSON).status == 200
    assert (sql_lanes.threaded, conversion_lanes.threaded) == before


# Under uvicorn, with the Docker image's settings.


def serve(database: Database, tmp_path: Path, **settings: str) -> Uvicorn:
    env = {**image_settings(), "REFDATA_DATABASE_URL": database.url, **settings}
    return Uvicorn(env, tmp_path / "uvicorn.log")


def test_two_hundred_order_clients_get_no_5xx_while_reference_reads_go_on(
    fresh: Database, tmp_path: Path
) -> None:
    with serve(fresh, tmp_path) as server:
        reader = server.client()
        first, _ = reader.request("POST", "/orders", ORDER, JSON)
        assert first.status == 201, first.body
        paths = [f"/orders/{first.json()['id']}", "/orders?limit=5"]
        statuses: Counter[int] = Counter()
        lock = threading.Lock()
        running = threading.Event()

        def orders(client: HttpClient) -> None:
            mine: Counter[int] = Counter()
            for round_ in range(3):  # a write, a read by id, a page: each client in its turn
                kind = (round_ + threading.get_ident()) % 3
                try:
                    if kind == 0:
                        reply, _ = client.request("POST", "/orders", ORDER, JSON)
                    else:
                        reply, _ = client.request("GET", paths[kind - 1])
                    mine[reply.status] += 1
                except (OSError, http.client.HTTPException):
                    mine[0] += 1  # no answer at all
            with lock:
                statuses.update(mine)

        def load() -> None:
            running.set()
            run_clients(CLIENTS, orders, server.port)
            running.clear()

        loader = threading.Thread(target=load)
        loader.start()
        running.wait(10)
        during = []
        while running.is_set():
            reply, _ = reader.request("GET", "/countries/VN")
            during.append(reply.status)
        loader.join(120)
        reader.close()

    assert sum(statuses.values()) == 3 * CLIENTS
    assert {status for status in statuses if status >= 500 or status == 0} == set(), statuses
    assert set(statuses) <= {200, 201}, statuses
    # The cached route answered, again and again, while the orders were in flight.
    assert len(during) >= 10
    assert set(during) == {200}


def test_over_capacity_a_request_waits_its_bounded_turn_then_gets_503_with_retry_after(
    fresh: Database, tmp_path: Path
) -> None:
    # One lane; the statement that has it waits on the lock (for up to 20 s); the others wait
    # for the lane for 1 s, then are answered, while the lock is still held.
    settings = {
        "REFDATA_DB_POOL_SIZE": "1",
        "REFDATA_QUEUE_TIMEOUT_SECONDS": "1",
        "REFDATA_DB_STATEMENT_TIMEOUT_MS": "20000",
        "REFDATA_DB_CONNECT_TIMEOUT_SECONDS": "20",  # SQLite's busy timeout
    }
    with serve(fresh, tmp_path, **settings) as server:
        replies: list[Reply] = []
        lock = threading.Lock()
        refused = threading.Semaphore(0)

        def place() -> None:
            client = server.client()
            headers = {**JSON, "Idempotency-Key": str(uuid.uuid4())}
            reply, _ = client.request("POST", "/orders", ORDER, headers)
            client.close()
            with lock:
                replies.append(reply)
            if reply.status == 503:
                refused.release()

        with table_locked(fresh):
            threads = [threading.Thread(target=place) for _ in range(4)]
            for thread in threads:
                thread.start()
            # Three are refused while the fourth still waits on the lock: nobody waits for it.
            assert all(refused.acquire(timeout=15) for _ in range(3)), replies
        for thread in threads:
            thread.join(30)

    busy = [r for r in replies if r.status == 503]
    assert sorted(r.status for r in replies) == [201, 503, 503, 503]
    for reply in busy:
        assert reply.json()["type"] == "urn:refdata:problem:too-busy"
        assert reply.headers["retry-after"] == "1"
        assert reply.headers["content-type"] == "application/problem+json"


BATCHES = 8


def test_conversion_batches_do_not_hold_the_event_loop(fresh: Database, tmp_path: Path) -> None:
    # While batches run one after another, /health is asked again and again: it is answered
    # while a batch is being converted (its lane busy), not only between two batches, as it
    # would be if the batches ran on the event loop.
    with serve(fresh, tmp_path) as server:
        statuses: list[int] = []

        def convert() -> None:
            client = server.client()
            for _ in range(BATCHES):
                reply, _ = client.request("POST", "/vn/convert", WORST_BATCH, JSON)
                statuses.append(reply.status)
            client.close()

        batches = threading.Thread(target=convert)
        batches.start()
        health, answered, while_converting = server.client(), 0, 0
        while batches.is_alive():
            reply, _ = health.request("GET", "/health")
            assert reply.status == 200
            answered += 1
            while_converting += reply.json()["lanes"]["conversion"]["busy"] > 0
        batches.join(60)
        health.close()
    assert statuses == [200] * BATCHES
    assert while_converting >= BATCHES, (while_converting, answered)
