"""Load, nothing lost: the short version of `python -m reliability.load`.

uvicorn on 127.0.0.1 and a database of its own; 16 client threads with keep-alive
connections place orders, half of them twice with the same Idempotency-Key (half of those
while the first attempt is in flight), then read for 5 s. On PostgreSQL: 1,000 orders and a
pool of one connection per client. On SQLite: 300 orders and the default pool of 1. SQLite
takes one writer at a time; with more connections the writers wait on the file lock, whose
busy handler is not fair: measured with 32 clients and a pool of 32, a few writes waited past
the 3 s busy timeout and got a 503. With one connection they queue in the app instead.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.databases import migrate
from reliability import load
from reliability.measure import failed_checks
from tests.conftest import Backend


def plan_for(kind: str) -> load.Plan:
    if kind == "postgresql":
        return load.Plan(orders=1000, clients=16, read_seconds=5, pool_size=16)
    return load.Plan(orders=300, clients=16, read_seconds=5, pool_size=1)


@pytest.fixture(scope="module")
def summary(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    database = backend.new_database()
    migrate(database.url)
    result = load.run(database, plan_for(database.kind), tmp_path_factory.mktemp("load"))
    orders, reads = result["orders"], result["reads"]
    print(
        f"\n  {database.kind}: {orders['attempts']} POST /orders ({orders['distinct_keys']} keys,"
        f" {orders['retries']} retries, {orders['retries_sent_while_the_first_was_in_flight']}"
        f" in flight together) from {result['plan']['clients']} clients:"
        f" {orders['requests_per_second']} req/s, p50 {orders['p50_ms']} ms,"
        f" p99 {orders['p99_ms']} ms; reads: {reads['requests']} in {reads['seconds']} s,"
        f" {reads['requests_per_second']} req/s, p50 {reads['p50_ms']} ms, p99 {reads['p99_ms']} ms"
    )
    return result


def explain(summary: dict[str, Any]) -> str:
    return json.dumps({k: summary[k] for k in ("checks", "orders", "server_log")}, indent=2)


def test_every_order_is_stored_once_per_key_and_the_sums_match(summary: dict[str, Any]) -> None:
    orders = summary["orders"]
    assert orders["errors"] == 0, explain(summary)
    assert orders["rows"] == orders["distinct_keys"] == summary["plan"]["orders"]
    assert orders["keys_with_exactly_one_row"] == orders["distinct_keys"]
    assert orders["attempts_given_their_keys_row"] == orders["attempts"]  # retries: same id
    assert orders["created"] == orders["distinct_keys"]
    assert orders["replayed"] == orders["retries"] == orders["distinct_keys"] // 2
    assert orders["retries_sent_while_the_first_was_in_flight"] > 0
    assert orders["sum_total_vnd_stored"] == orders["sum_total_vnd_told"]


def test_a_new_order_is_one_statement_and_a_replay_two(summary: dict[str, Any]) -> None:
    log, orders = summary["server_log"], summary["orders"]
    assert log["post_orders_logged"] == orders["attempts"]
    assert log["post_orders_sql_statements"] == orders["created"] + 2 * orders["replayed"]


def test_reads_under_load_never_fail_and_reference_reads_run_no_sql(
    summary: dict[str, Any],
) -> None:
    reads, log = summary["reads"], summary["server_log"]
    assert reads["errors"] == 0, reads["unexpected"]
    assert set(reads["by_group"]) == {"reference", "conditional", "not-found", "quote", "order"}
    assert log["reference_reads_logged"] >= 500
    assert log["reference_reads_sql_statements"] == 0
    assert log["reference_cache_outcomes"] == {"hit": log["reference_reads_logged"]}
    assert log["quotes_sql_statements"] == 0


@pytest.mark.usefixtures("postgresql_only")
def test_the_server_never_held_more_connections_than_the_pool(summary: dict[str, Any]) -> None:
    connections = summary["connections"]
    assert 0 < connections["largest_held"] <= connections["bound"]


def test_every_check_of_the_long_version_holds(summary: dict[str, Any]) -> None:
    assert failed_checks(summary) == [], explain(summary)
