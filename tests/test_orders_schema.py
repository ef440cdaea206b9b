"""The customer_order table: the database itself holds money, quantities and keys to the rules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import BigInteger, Connection, create_engine, insert, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from app.models import Order
from harness.databases import Database, downgrade, migrate


def row(**changes: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "created_at": datetime.now(UTC),
        "idempotency_key": None,
        "request_hash": "0" * 64,
        "reference_version": 1,
        "province_code": 79,
        "ward_code": 26740,
        "street": "1 Lê Lợi",
        "lines": [{"sku": "A", "quantity": 1, "unit_price_vnd": 10, "line_total_vnd": 10}],
        "item_count": 1,
        "weight_grams": 1,
        "subtotal_vnd": 10,
        "shipping_fee_vnd": 5,
        "total_vnd": 15,
        **changes,
    }


@pytest.fixture
def conn(database: Database) -> Iterator[Connection]:
    """A connection of the test's own whose writes are rolled back afterwards."""
    engine = create_engine(database.admin_url or database.url, poolclass=NullPool)
    with engine.connect() as connection:
        yield connection
        connection.rollback()
    engine.dispose()


def refused(conn: Connection, values: dict[str, Any]) -> bool:
    savepoint = conn.begin_nested()
    try:
        conn.execute(insert(Order), [values])
    except IntegrityError:
        savepoint.rollback()
        return True
    savepoint.commit()
    return False


def test_a_well_formed_row_is_accepted(conn: Connection) -> None:
    assert not refused(conn, row())
    assert not refused(conn, row(subtotal_vnd=0, shipping_fee_vnd=0, total_vnd=0))


@pytest.mark.parametrize(
    "changes",
    [
        {"total_vnd": 16},  # total = subtotal + shipping, always
        {"subtotal_vnd": -10, "total_vnd": -5},
        {"shipping_fee_vnd": -5, "total_vnd": 5},
        {"item_count": 0},
        {"weight_grams": 0},
    ],
)
def test_check_constraints_refuse_impossible_money_and_quantities(
    conn: Connection, changes: dict[str, Any]
) -> None:
    assert refused(conn, row(**changes))


def test_an_idempotency_key_can_be_stored_once_and_no_key_any_number_of_times(
    conn: Connection,
) -> None:
    key = f"schema-{uuid.uuid4()}"
    assert not refused(conn, row(idempotency_key=key))
    assert refused(conn, row(idempotency_key=key))
    assert not refused(conn, row())
    assert not refused(conn, row())


def test_money_columns_are_64_bit_integers(database: Database) -> None:
    engine = create_engine(database.url, poolclass=NullPool)
    columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("customer_order")}
    engine.dispose()
    for name in ("subtotal_vnd", "shipping_fee_vnd", "total_vnd"):
        assert isinstance(columns[name], BigInteger), (name, columns[name])


def test_the_orders_migration_downgrades_and_upgrades_cleanly(blank_database: Database) -> None:
    url = blank_database.url
    migrate(url)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(insert(Order), [row()])
    downgrade(url, "a2_reference_seed")
    assert "customer_order" not in inspect(engine).get_table_names()
    with engine.connect() as connection:  # the reference data is untouched
        assert connection.execute(text("SELECT count(*) FROM vn_ward")).scalar_one() == 3321
    migrate(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM customer_order")).scalar_one() == 0
    engine.dispose()
