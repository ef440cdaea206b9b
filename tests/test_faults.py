"""Faults: the short version of `python -m reliability.faults`, and the pool after faults in
this process.

On PostgreSQL a server of this module's own (harness/postgres.py, with log_connections on) is
restarted and stopped under real execution environments, and the session's server has a
table locked under uvicorn. In this process, a connection cut by the server (PostgreSQL) or
a database file locked by another writer (SQLite) must leave the app's pool with nothing
checked out and no more connections than it is sized for.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.pool import QueuePool

from harness.databases import Database, migrate
from harness.events import ORDER, http_v2
from harness.http import ORDERS_AUTH, Reply, invoke
from harness.postgres import PostgresServer, throwaway_server
from harness.sql import SqlWindow, app_connections
from reliability import faults
from reliability.measure import failed_checks
from tests.conftest import Backend


@pytest.fixture(scope="module")
def own_server(postgresql_only: None) -> Iterator[PostgresServer]:
    """A PostgreSQL server only this module uses, so it can be restarted and stopped."""
    with throwaway_server() as server:
        migrate(server.url("postgres"))
        faults.enable_connection_log(server)
        yield server


def assert_held(result: dict[str, Any]) -> None:
    assert failed_checks(result) == [], json.dumps(result, indent=2, ensure_ascii=False)


def test_a_server_restart_between_warm_invokes_costs_one_reconnect(
    own_server: PostgresServer,
) -> None:
    """After each `pg_ctl restart` the next read (revalidating) and order succeed, and the
    environment opened exactly one new connection, holding at most its pool (1 + 0)."""
    result = faults.server_restart(own_server, own_server.url("postgres"), restarts=2)
    assert_held(result)
    assert result["observed"]["connections_opened"] == 1 + 2


@pytest.mark.usefixtures("postgresql_only")
def test_a_statement_timeout_is_a_503_not_a_hang(blank_database: Database, tmp_path: Path) -> None:
    """customer_order locked by another session; 4 orders and an order read at once → 503
    problem+json with Retry-After (each within the client's 20 s bound), no SQL in the body;
    a reference read beside them → 200 from memory; after the lock, the same keys → 201."""
    migrate(blank_database.url)
    result = faults.statement_timeout(blank_database, rounds=1, concurrent=4, workdir=tmp_path)
    assert_held(result)
    assert result["tried"]["orders_during_the_lock"] == 4


def test_the_database_down_is_a_503_for_orders_and_stale_reads_then_201(
    own_server: PostgresServer,
) -> None:
    """Stopped under a warm environment: stale read, 503 order; started: the same key → 201.
    An environment INITed while it is down answers 503 until it is back, then loads."""
    result = faults.database_down(own_server, own_server.url("postgres"), outages=1)
    assert_held(result)


ORDER_HEADERS = {"content-type": "application/json", **ORDERS_AUTH}


def place(key: str) -> Reply:
    headers = {**ORDER_HEADERS, "idempotency-key": key}
    return invoke(http_v2("POST", "/orders", headers, ORDER))


def assert_pool_holds_nothing_more_than_its_size() -> None:
    from app.init import engine, settings

    pool = engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.checkedout() == 0
    assert pool.checkedin() <= settings.db_pool_size + settings.db_max_overflow


@pytest.mark.usefixtures("postgresql_only")
def test_a_connection_cut_by_the_server_is_replaced_in_process(
    backend: Backend, database: Database
) -> None:
    from app.init import engine, settings

    assert database.admin_url is not None
    first = place(str(uuid.uuid4()))
    assert first.status == 201
    held = app_connections(database.admin_url, os.getpid())
    assert len(held) == 1
    backend.admin(f"SELECT pg_terminate_backend({held[0]}, 5000)")  # waits until it is gone

    with SqlWindow(engine) as sql:
        again = place(str(uuid.uuid4()))
        read = invoke(http_v2("GET", f"/orders/{first.json()['id']}", ORDERS_AUTH))
    assert (again.status, read.status) == (201, 200)
    assert sql.connects == 1  # the pre-ping found the cut connection and replaced it, once
    assert_pool_holds_nothing_more_than_its_size()
    now_held = app_connections(database.admin_url, os.getpid())
    assert len(now_held) <= settings.db_pool_size + settings.db_max_overflow
    assert held[0] not in now_held


def test_a_locked_sqlite_file_is_a_503_then_the_same_key_places_the_order(
    database: Database,
) -> None:
    """Another writer holds the file (BEGIN EXCLUSIVE): the INSERT waits out the busy timeout
    (REFDATA_DB_CONNECT_TIMEOUT_SECONDS, 3 s: the bound) and the order is a 503, while reads
    are served from memory. Released, the same key places the order."""
    if database.kind != "sqlite":
        pytest.skip("locks a SQLite file: runs in the --db=sqlite session")
    assert invoke(http_v2("GET", "/countries/VN")).status == 200  # a warm environment
    key = str(uuid.uuid4())
    writer = sqlite3.connect(database.url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        refused = place(key)
        read = invoke(http_v2("GET", "/countries/VN"))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert faults.is_problem(refused, 503, "database-unavailable"), refused
    assert faults.says_nothing_inside(refused)
    assert read.status == 200
    assert_pool_holds_nothing_more_than_its_size()
    assert faults.created(place(key))
    assert_pool_holds_nothing_more_than_its_size()


def test_no_free_connection_in_time_is_a_503_not_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pooled connection busy past the pool's timeout (SQLAlchemy's default: 30 s,
    shortened here) is the database being unavailable to this request: 503 + Retry-After."""
    from app.init import engine

    assert invoke(http_v2("GET", "/countries/VN")).status == 200  # a warm environment
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    monkeypatch.setattr(pool, "_timeout", 0.2)
    key = str(uuid.uuid4())
    with engine.connect():  # the pool's only connection (pool_size 1, no overflow) is busy
        refused = place(key)
    assert faults.is_problem(refused, 503, "database-unavailable"), refused
    assert faults.says_nothing_inside(refused)
    assert faults.created(place(key))
    assert_pool_holds_nothing_more_than_its_size()
