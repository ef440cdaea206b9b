"""Concurrent requests with one Idempotency-Key: exactly one row, and every client gets it.

Two realistic shapes: one uvicorn process with a pool of 4 and 16 client threads; and three
execution environments (processes) invoking the Mangum handler at the same moment.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from harness import REPO, leaks
from harness.databases import Database
from harness.http import ORDERS_AUTH
from harness.servers import Uvicorn

BODY = json.dumps(
    {
        "address": {"province_code": 1, "ward_code": 4, "street": "1 Tràng Tiền"},
        "lines": [{"sku": "BOOK", "quantity": 1, "unit_price_vnd": 250_000}],
        "weight_grams": 800,
    }
).encode()


def stored(database: Database, key: str) -> list[str]:
    engine = create_engine(database.admin_url or database.url, poolclass=NullPool)
    with engine.connect() as conn:
        ids = conn.execute(
            text("SELECT id FROM customer_order WHERE idempotency_key = :key"), {"key": key}
        ).scalars()
        found = [str(i) if isinstance(i, uuid.UUID) else str(uuid.UUID(i)) for i in ids]
    engine.dispose()
    return found


@pytest.fixture(scope="module")
def server(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn with a pool of 4 connections, so requests really write side by side."""
    env = {
        "REFDATA_DATABASE_URL": database.url,
        "REFDATA_DB_POOL_SIZE": "4",
        "REFDATA_LOG_LEVEL": "WARNING",
    }
    log_path = tmp_path_factory.mktemp("uvicorn-orders") / "stderr.log"
    with Uvicorn(env, log_path) as uvicorn:
        yield f"http://127.0.0.1:{uvicorn.port}"


def place(base: str, key: str) -> tuple[int, dict[str, Any], bool]:
    request = urllib.request.Request(  # noqa: S310 -- our own server on 127.0.0.1
        f"{base}/orders",
        data=BODY,
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": key, **ORDERS_AUTH},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            replayed = response.headers.get("Idempotent-Replayed") == "true"
            body = response.read()
            leaks.check(body, "a uvicorn server's reply")
            return response.status, json.loads(body), replayed
    except urllib.error.HTTPError as error:
        with error:
            body = error.read()
            leaks.check(body, "a uvicorn server's reply")
            return error.code, json.loads(body), False


def test_sixteen_threads_with_one_key_make_one_order(server: str, database: Database) -> None:
    key = str(uuid.uuid4())
    start = threading.Barrier(16)
    results: list[tuple[int, dict[str, Any], bool]] = []
    lock = threading.Lock()

    def client() -> None:
        start.wait()
        result = place(server, key)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [status for status, _, _ in results] == [201] * 16, results
    assert len({body["id"] for _, body, _ in results}) == 1
    assert sum(not replayed for _, _, replayed in results) == 1  # one created, 15 replays
    assert stored(database, key) == [results[0][1]["id"]]


def test_sixteen_threads_with_their_own_keys_make_sixteen_orders(
    server: str, database: Database
) -> None:
    keys = [str(uuid.uuid4()) for _ in range(16)]
    start = threading.Barrier(16)
    statuses: list[int] = []

    def client(key: str) -> None:
        start.wait()
        statuses.append(place(server, key)[0])

    threads = [threading.Thread(target=client, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [201] * 16
    assert all(len(stored(database, key)) == 1 for key in keys)


ENVIRONMENT = """
import json, sys
from app.lambda_handler import handler
from harness.events import LambdaContext, http_v2
from harness.http import ORDERS_AUTH
print("ready", flush=True)
key = sys.stdin.buffer.readline().decode().strip()  # every environment waits here, then all go
event = http_v2("POST", "/orders", {"content-type": "application/json", "idempotency-key": key,
                                    **ORDERS_AUTH},
                sys.stdin.buffer.read())
print("RESULT " + json.dumps(handler(event, LambdaContext())), flush=True)
"""


def test_three_execution_environments_with_one_key_make_one_order(database: Database) -> None:
    env = {**os.environ, "REFDATA_DATABASE_URL": database.url, "REFDATA_LOG_LEVEL": "WARNING"}
    key = str(uuid.uuid4())
    outputs = []
    with contextlib.ExitStack() as stack:
        processes = [
            stack.enter_context(
                subprocess.Popen(
                    [sys.executable, "-c", ENVIRONMENT],
                    cwd=REPO,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
            for _ in range(3)
        ]
        for process in processes:
            stack.callback(process.kill)  # runs first on the way out; a no-op once exited
        for process in processes:  # INIT done everywhere
            assert process.stdout is not None
            assert process.stdout.readline() == b"ready\n"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(key.encode() + b"\n" + BODY)
            process.stdin.close()  # the whole request arrives at once
        for process in processes:
            assert process.stdout is not None
            assert process.stderr is not None
            out, err = process.stdout.read(), process.stderr.read()
            leaks.check(out + err, "a function process's output")
            assert process.wait(timeout=60) == 0, err.decode()
            result = next(line for line in out.splitlines() if line.startswith(b"RESULT "))
            outputs.append(json.loads(result.removeprefix(b"RESULT ")))
    assert [o["statusCode"] for o in outputs] == [201] * 3, outputs
    ids = {json.loads(o["body"])["id"] for o in outputs}
    assert len(ids) == 1
    replayed = [{k.lower(): v for k, v in o["headers"].items()} for o in outputs]
    assert sum("idempotent-replayed" not in headers for headers in replayed) == 1
    assert stored(database, key) == list(ids)
