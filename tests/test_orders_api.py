"""Orders through the real Mangum handler: what a client sees, and what the database sees."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI, Request
from mangum import Mangum
from sqlalchemy import create_engine, insert, text
from sqlalchemy.pool import NullPool

from app import init, orders, problems
from app.datasets import setting_values
from app.init import cache, engine
from app.models import Order
from app.schemas import OrderPage, OrderRead, QuoteRead
from app.snapshot.snapshot import Snapshot
from harness.databases import Database
from harness.datasets import with_settings
from harness.events import LambdaContext, http_v2, rest_v1
from harness.http import ORDERS_AUTH, Reply, get, invoke, post, problem, reply
from harness.sql import ServerStatements, SqlWindow

JSON = {"content-type": "application/json"}
AUTHORIZED = {**JSON, **ORDERS_AUTH}
BODY: dict[str, Any] = {
    "address": {"province_code": 79, "ward_code": 26740, "street": "12 Lê Lợi"},
    "lines": [
        {"sku": "TEA-250G", "quantity": 2, "unit_price_vnd": 120_000},
        {"sku": "CUP", "quantity": 1, "unit_price_vnd": 45_000},
    ],
    "weight_grams": 1_200,
}


def with_changes(**changes: Any) -> dict[str, Any]:
    """BODY with `a__b__0__c=value` set (a path through dicts and lists)."""
    body: dict[str, Any] = json.loads(json.dumps(BODY))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(leaf) if leaf.isdigit() else leaf] = value
    return body


@pytest.fixture(scope="module")
def rows(database: Database) -> Iterator[Any]:
    """Counts stored orders on a connection of its own, as another role where there are roles
    (so server-side counts of the app's statements do not see it)."""
    counter = create_engine(database.admin_url or database.url, poolclass=NullPool)

    def count(key: str | None = None) -> int:
        with counter.connect() as conn:
            where = " WHERE idempotency_key = :key" if key else ""
            return int(
                conn.execute(
                    text(f"SELECT count(*) FROM customer_order{where}"),  # noqa: S608
                    {"key": key} if key else {},
                ).scalar_one()
            )

    yield count
    counter.dispose()


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    # The first invoke of an environment is its cold one; the counts below are for warm ones.
    assert post("/orders", BODY, key=f"warm-{uuid.uuid4()}").status == 201


# Quote


def test_a_quote_is_priced_from_memory_with_no_sql_and_nothing_stored(
    sql: SqlWindow, server_statements: ServerStatements | None, rows: Any
) -> None:
    before = rows()
    sql.reset()
    response = post("/orders/quote", BODY)
    assert response.status == 200, response.body
    quote = QuoteRead.model_validate(response.json())
    assert (quote.subtotal_vnd, quote.shipping_fee_vnd, quote.total_vnd) == (
        285_000,
        15_000 + 2 * 5_000,  # same province as the warehouse; 1,200 g is two started kg
        310_000,
    )
    assert quote.item_count == 3
    assert sql.statements == []
    assert sql.checkouts == 0
    if server_statements is not None:
        assert server_statements.count() == 0
    assert rows() == before


# Placing an order


def test_placing_an_order_answers_201_with_its_location(rows: Any) -> None:
    key = str(uuid.uuid4())
    response = post("/orders", BODY, key=key)
    assert response.status == 201, response.body
    placed = OrderRead.model_validate(response.json())
    assert placed.id.version == 4  # random, not a guessable sequence
    assert response.headers["location"] == f"/orders/{placed.id}"
    assert "idempotent-replayed" not in response.headers
    assert placed.total_vnd == 310_000
    assert rows(key) == 1
    fetched = get(response.headers["location"])
    assert fetched.status == 200
    assert OrderRead.model_validate(fetched.json()) == placed


def test_a_warm_order_runs_one_insert_and_no_select(
    sql: SqlWindow,
    server_statements: ServerStatements | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pings: list[Any] = []
    do_ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return do_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted_ping)
    response = post("/orders", BODY, key=str(uuid.uuid4()))
    assert response.status == 201, response.body
    assert len(sql.statements) == 1
    assert sql.statements[0].startswith("INSERT INTO customer_order")
    assert "RETURNING" in sql.statements[0]
    assert sql.connects == 0  # the connection opened at INIT (or by the warm-up) is reused
    assert sql.checkouts == 1
    # The pool's pre-ping (REFDATA_DB_POOL_PRE_PING) is one more round trip on checkout. On
    # PostgreSQL it is an empty query, which pg_stat_statements does not record.
    assert len(pings) == (1 if engine.pool._pre_ping else 0)
    if server_statements is not None:
        # Autocommit: no BEGIN, no COMMIT, no lookup. One statement, one round trip.
        (statement, calls), *others = server_statements.breakdown().items()
        assert others == []
        assert statement.startswith("INSERT INTO customer_order")
        assert calls == 1


def test_rest_api_stages_are_kept_in_the_location() -> None:
    event = rest_v1("POST", "/orders", AUTHORIZED, json.dumps(BODY).encode(), stage="prod")
    response = invoke(event)
    assert response.status == 201, response.body
    assert response.headers["location"] == f"/prod/orders/{response.json()['id']}"


def test_without_a_key_every_post_is_a_new_order(rows: Any) -> None:
    before = rows()
    first, second = post("/orders", BODY), post("/orders", BODY)
    assert (first.status, second.status) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert rows() == before + 2


# Idempotency


def test_a_retry_with_the_same_key_and_body_returns_the_original_order(
    rows: Any, sql: SqlWindow, server_statements: ServerStatements | None
) -> None:
    key = str(uuid.uuid4())
    first = post("/orders", BODY, key=key)
    assert first.status == 201
    # The same order, written differently: the comparison is of content, not bytes.
    relaid = json.dumps(BODY, indent=2, sort_keys=True).encode()
    sql.reset()
    if server_statements is not None:
        server_statements.reset()
    retry = post("/orders", relaid, key=key)
    assert retry.status == 201, retry.body
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert rows(key) == 1
    # The INSERT finds the key taken; one read returns the stored order.
    assert [s.split()[0] for s in sql.statements] == ["INSERT", "SELECT"]
    if server_statements is not None:  # both in autocommit: no BEGIN or COMMIT either
        assert sorted(q.split()[0] for q in server_statements.breakdown()) == [
            "INSERT",
            "SELECT",
        ]


def test_the_same_key_with_another_body_is_a_409(rows: Any) -> None:
    key = str(uuid.uuid4())
    first = post("/orders", BODY, key=key)
    assert first.status == 201
    body = problem(post("/orders", with_changes(weight_grams=5_000), key=key), 409)
    assert body["type"] == "urn:refdata:problem:idempotency-key-reused"
    assert rows(key) == 1
    assert get(f"/orders/{first.json()['id']}").json() == first.json()


class FixedCache:
    """Stands in for the reference cache, serving one given snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def snapshot(self) -> Snapshot:
        return self._snapshot

    async def asnapshot(self) -> Snapshot:
        return self._snapshot


def test_a_retry_after_a_threshold_change_still_returns_the_original(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = str(uuid.uuid4())
    first = post("/orders", BODY, key=key)
    assert first.status == 201
    current = cache.snapshot()
    lowered = with_settings(current, {**setting_values(current), "max_order_total_vnd": 100_000})
    fixed = FixedCache(lowered)
    monkeypatch.setattr(cache, "snapshot", fixed.snapshot)  # what every route is served from
    monkeypatch.setattr(cache, "asnapshot", fixed.asnapshot)
    retry = post("/orders", BODY, key=key)
    assert (retry.status, retry.json()) == (201, first.json())
    # A new order under the new threshold is refused.
    body = problem(post("/orders", BODY, key=str(uuid.uuid4())), 422)
    assert body["type"] == "urn:refdata:problem:order-total-too-high"


# Refusals


@pytest.mark.parametrize(
    ("changes", "kind", "loc"),
    [
        ({"address__province_code": 2}, "unknown-province", ["body", "address", "province_code"]),
        ({"address__ward_code": 1}, "unknown-ward", ["body", "address", "ward_code"]),
        ({"address__ward_code": 4}, "ward-not-in-province", ["body", "address", "ward_code"]),
        ({"lines__1__sku": "TEA-250G"}, "duplicate-sku", ["body", "lines", 1, "sku"]),
        ({"lines__0__quantity": 100}, "too-many-items", ["body", "lines"]),
        ({"lines__0__unit_price_vnd": 25_000_000}, "order-total-too-high", ["body"]),
    ],
)
@pytest.mark.parametrize("path", ["/orders/quote", "/orders"])
def test_a_broken_rule_is_a_422_naming_it_and_stores_nothing(
    path: str,
    changes: dict[str, Any],
    kind: str,
    loc: list[Any],
    *,
    sql: SqlWindow,
    server_statements: ServerStatements | None,
) -> None:
    body = problem(post(path, with_changes(**changes)), 422)
    assert body["type"] == f"urn:refdata:problem:{kind}"
    assert body["errors"][0]["loc"] == loc
    assert sql.statements == []  # refused from memory, before any SQL
    assert sql.checkouts == 0
    # With a key, a refused order may be the retry of one accepted under older thresholds:
    # one read looks for it, and nothing is written.
    keyed = post(path, with_changes(**changes), key=str(uuid.uuid4()))
    assert problem(keyed, 422)["type"] == body["type"]
    expected = ["SELECT"] if path == "/orders" else []
    assert [s.split()[0] for s in sql.statements] == expected
    if server_statements is not None:
        assert [q.split()[0] for q in server_statements.breakdown()] == expected


@pytest.mark.parametrize(
    "changes",
    [
        {"lines__0__quantity": "2"},  # money and quantities are JSON integers, nothing else
        {"lines__0__quantity": 2.0},
        {"lines__0__unit_price_vnd": 120_000.5},
        {"lines__0__quantity": 0},
        {"lines__0__unit_price_vnd": -1},
        {"lines__0__sku": "tea 250g"},
        {"lines": []},
        {"weight_grams": 0},
        {"address__street": "   "},
        {"address__province_code": "79"},
        {"discount_vnd": 10_000},  # unknown fields are refused, not ignored
    ],
)
def test_malformed_orders_are_422_validation_errors(changes: dict[str, Any]) -> None:
    body = problem(post("/orders", with_changes(**changes)), 422)
    assert body["type"] == "urn:refdata:problem:validation-error"


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "ключ"])
def test_malformed_idempotency_keys_are_422(key: str) -> None:
    event = http_v2("POST", "/orders", {**AUTHORIZED}, json.dumps(BODY).encode())
    event["headers"]["idempotency-key"] = key
    body = problem(invoke(event), 422)
    assert body["errors"][0]["loc"] == ["header", "Idempotency-Key"]


def test_constraint_violations_are_409_or_422_never_500(database: Database) -> None:
    # Requests never reach these constraints (the rules run first); the mapping still holds.
    raw = FastAPI()
    problems.install(raw)

    @raw.post("/raw")
    async def insert_raw(request: Request, row: dict[str, Any]) -> None:
        typed = {**row, "id": uuid.UUID(row["id"])}
        typed["created_at"] = datetime.fromisoformat(row["created_at"])
        await init.database.in_session(
            request.scope, lambda session: session.execute(insert(Order), [typed]), str
        )

    handler = Mangum(raw, lifespan="off")

    def send(row: dict[str, Any]) -> Reply:
        event = http_v2("POST", "/raw", JSON, json.dumps(row).encode())
        return reply(handler(event, LambdaContext()))

    row = {
        "id": str(uuid.uuid4()),
        "created_at": "2026-11-26T20:00:00+00:00",
        "idempotency_key": f"raw-{uuid.uuid4()}",
        "request_hash": "0" * 64,
        "reference_version": 1,
        "province_code": 79,
        "ward_code": 26740,
        "street": "1 Lê Lợi",
        "lines": [],
        "item_count": 1,
        "weight_grams": 1,
        "subtotal_vnd": 10,
        "shipping_fee_vnd": 5,
        "total_vnd": 15,
    }
    assert send(row).status == 200
    duplicate = problem(send({**row, "id": str(uuid.uuid4())}), 409)  # same idempotency key
    assert duplicate["type"] == "urn:refdata:problem:conflict"
    for broken in ({"total_vnd": 16}, {"item_count": 0}, {"shipping_fee_vnd": -5, "total_vnd": 5}):
        fresh = {**row, "id": str(uuid.uuid4()), "idempotency_key": None}
        check = problem(send({**fresh, **broken}), 422)
        assert check["type"] == "urn:refdata:problem:constraint-violation"
        assert "customer_order" not in json.dumps(check)  # no SQL or schema names leak


# Reading orders


def test_an_unknown_order_is_404_and_a_malformed_id_422() -> None:
    assert problem(get(f"/orders/{uuid.uuid4()}"), 404)["type"].endswith(":not-found")
    problem(get("/orders/12345"), 422)


def test_orders_are_listed_newest_first_a_page_at_a_time() -> None:
    placed = [post("/orders", BODY).json()["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = ""
    while True:
        response = get(f"/orders?limit=2{cursor}")
        assert response.status == 200, response.body
        page = OrderPage.model_validate(response.json())
        assert len(page.items) <= 2
        seen.extend(str(item.id) for item in page.items)
        stamps = [(item.created_at, str(item.id)) for item in page.items]
        assert stamps == sorted(stamps, reverse=True)
        if page.next_cursor is None:
            break
        cursor = f"&cursor={page.next_cursor}"
    assert len(seen) == len(set(seen))  # nothing repeated across pages
    assert seen[:5] == placed[::-1]  # ours are the newest, newest first


def test_the_last_page_has_no_cursor_and_limit_is_at_most_100() -> None:
    # However many orders the suite has placed: every page before the last is full (100
    # orders, or as many as fit in PAGE_BYTES) and has a cursor; the last (walked to) has
    # none; no order is given twice.
    cursor, seen = "", []
    for _ in range(1000):
        page = get(f"/orders?limit=100{cursor}")
        assert page.status == 200
        body = page.json()
        seen += [order["id"] for order in body["items"]]
        if body["next_cursor"] is None:
            break
        assert 1 <= len(body["items"]) <= 100
        assert len(body["items"]) == 100 or len(page.body) > orders.PAGE_BYTES // 2
        assert len(page.body) <= orders.PAGE_BYTES + 100
        cursor = f"&cursor={body['next_cursor']}"
    else:
        pytest.fail("1,000 pages and still a cursor")
    assert len(body["items"]) <= 100
    assert len(seen) == len(set(seen))
    for bad in ("limit=0", "limit=101", "limit=x"):
        problem(get(f"/orders?{bad}"), 422)


def test_a_malformed_cursor_is_a_422() -> None:
    problem(get("/orders?cursor=not-a-cursor"), 422)
    # Well-formed base64, but a timestamp no calendar holds.
    beyond = base64.urlsafe_b64encode(b"\x7f" + b"\xff" * 23).decode()
    body = problem(get(f"/orders?cursor={beyond}"), 422)
    assert body["errors"][0]["loc"] == ["query", "cursor"]
