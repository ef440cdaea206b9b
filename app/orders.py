"""Orders: validated and priced with the snapshot's thresholds, stored in one statement.

`quote()` is pure: reference data and thresholds come from the in-memory snapshot, never
from a query. `create_order()` adds exactly one INSERT … RETURNING; a retry with the same
Idempotency-Key finds its order through the UNIQUE constraint, not a lookup beforehand.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import Connection, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.datasets import VN_PROVINCES, VN_WARDS, SettingValue, setting_values
from app.models import Order
from app.problems import (
    DuplicateSku,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    OrderingUnavailable,
    OrderRejected,
    OrderTotalTooHigh,
    TooManyItems,
    UnknownProvince,
    UnknownWard,
    WardNotInProvince,
)
from app.schemas import (
    OrderCreate,
    OrderLineRead,
    OrderRead,
    QuoteRead,
    ShippingAddress,
)
from app.snapshot.snapshot import Snapshot

GRAMS_PER_KG = 1000
_BIGINT_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The settings an order is checked and priced with; amounts in VND."""

    max_order_total_vnd: int
    max_order_items: int
    shipping_base_fee_vnd: int
    shipping_base_fee_same_province_vnd: int
    shipping_fee_per_kg_vnd: int
    free_shipping_threshold_vnd: int
    warehouse_province_code: int

    @classmethod
    def of(cls, values: Mapping[str, SettingValue]) -> Thresholds:
        found: dict[str, int] = {}
        for field in dataclasses.fields(cls):
            value = values.get(field.name)
            # bool is an int in Python; a threshold of True is a mistake, not 1.
            if type(value) is not int or not 0 <= value <= _BIGINT_MAX:
                raise OrderingUnavailable(
                    f"Setting {field.name!r} is missing or not a non-negative integer."
                )
            found[field.name] = value
        return cls(**found)


def shipping_fee(
    rules: Thresholds, subtotal_vnd: int, weight_grams: int, *, same_province: bool
) -> int:
    """Free from the threshold up; otherwise a base fee plus a fee per started kilogram."""
    if subtotal_vnd >= rules.free_shipping_threshold_vnd:
        return 0
    base = (
        rules.shipping_base_fee_same_province_vnd if same_province else rules.shipping_base_fee_vnd
    )
    started_kg = -(-weight_grams // GRAMS_PER_KG)
    return base + started_kg * rules.shipping_fee_per_kg_vnd


def _check_address(address: ShippingAddress, snapshot: Snapshot) -> None:
    if address.province_code not in snapshot[VN_PROVINCES].by_key:
        raise UnknownProvince(
            f"No province with code {address.province_code}.",
            ["address", "province_code"],
        )
    ward = snapshot[VN_WARDS].by_key.get(address.ward_code)
    if ward is None:
        raise UnknownWard(
            f"No ward with code {address.ward_code}.",
            ["address", "ward_code"],
        )
    if ward.record["province_code"] != address.province_code:
        raise WardNotInProvince(
            f"Ward {address.ward_code} is in province {ward.record['province_code']}, "
            f"not {address.province_code}.",
            ["address", "ward_code"],
        )


def quote(order: OrderCreate, snapshot: Snapshot) -> QuoteRead:
    """Check `order` against the snapshot's reference data and thresholds, and price it.

    Rules, in the order they are checked (the first that fails is the 422): known province,
    known ward, ward in that province, each SKU once, items ≤ max_order_items, total ≤
    max_order_total_vnd.
    """
    rules = Thresholds.of(setting_values(snapshot))
    _check_address(order.address, snapshot)
    seen: set[str] = set()
    for index, line in enumerate(order.lines):
        if line.sku in seen:
            raise DuplicateSku(
                f"SKU {line.sku!r} appears more than once; put the whole quantity on one line.",
                ["lines", index, "sku"],
            )
        seen.add(line.sku)
    item_count = sum(line.quantity for line in order.lines)
    if item_count > rules.max_order_items:
        raise TooManyItems(
            f"The order has {item_count} items; max_order_items is {rules.max_order_items}.",
            ["lines"],
        )
    lines = [
        OrderLineRead(
            sku=line.sku,
            quantity=line.quantity,
            unit_price_vnd=line.unit_price_vnd,
            line_total_vnd=line.quantity * line.unit_price_vnd,
        )
        for line in order.lines
    ]
    subtotal = sum(line.line_total_vnd for line in lines)
    same_province = order.address.province_code == rules.warehouse_province_code
    shipping = shipping_fee(rules, subtotal, order.weight_grams, same_province=same_province)
    total = subtotal + shipping
    if total > rules.max_order_total_vnd:
        raise OrderTotalTooHigh(
            f"The order total is {total} VND (shipping included); max_order_total_vnd is "
            f"{rules.max_order_total_vnd}.",
            [],
        )
    return QuoteRead(
        address=order.address,
        lines=lines,
        item_count=item_count,
        weight_grams=order.weight_grams,
        subtotal_vnd=subtotal,
        shipping_fee_vnd=shipping,
        total_vnd=total,
        reference_version=snapshot.version,
    )


def request_hash(order: OrderCreate) -> str:
    """The same order gives the same hash whatever its JSON spacing or key order."""
    canonical = orjson.dumps(order.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _single_statement(session: Session) -> Connection:
    # Autocommit: every write here is ONE statement, atomic by itself, so an explicit
    # transaction would only add BEGIN and COMMIT round trips.
    # The session dependency still ends the unit of work (its commit has nothing left to do);
    # after the INSERT only the response is built. A second write would NOT share a transaction.
    if session.in_transaction():
        return session.connection()
    return session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


# ON CONFLICT on the idempotency key: a retry inserts nothing and returns no row (NULL keys
# never conflict). RETURNING id tells which of the two happened, in the same round trip.
_INSERTS = {
    "postgresql": postgresql.insert(Order)
    .on_conflict_do_nothing(index_elements=[Order.idempotency_key])
    .returning(Order.id),
    "sqlite": sqlite.insert(Order)
    .on_conflict_do_nothing(index_elements=[Order.idempotency_key])
    .returning(Order.id),
}


def _read(order: Order) -> OrderRead:
    created_at = order.created_at
    if created_at.tzinfo is None:  # SQLite keeps no zone; every timestamp here is UTC
        created_at = created_at.replace(tzinfo=UTC)
    return OrderRead(
        id=order.id,
        created_at=created_at,
        address=ShippingAddress(
            province_code=order.province_code, ward_code=order.ward_code, street=order.street
        ),
        lines=[OrderLineRead.model_validate(line) for line in order.lines],
        item_count=order.item_count,
        weight_grams=order.weight_grams,
        subtotal_vnd=order.subtotal_vnd,
        shipping_fee_vnd=order.shipping_fee_vnd,
        total_vnd=order.total_vnd,
        reference_version=order.reference_version,
    )


def _stored(session: Session, idempotency_key: str, digest: str) -> OrderRead | None:
    """The order first placed with this key, if any; 409 if it was placed with another body."""
    _single_statement(session)
    stored = session.scalars(select(Order).where(Order.idempotency_key == idempotency_key)).first()
    if stored is None:
        return None
    if stored.request_hash != digest:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body."
        )
    return _read(stored)


def create_order(
    session: Session, snapshot: Snapshot, order: OrderCreate, idempotency_key: str | None
) -> tuple[OrderRead, bool]:
    """Validate, price and store `order`; returns it and whether this call created it.

    A new order costs one INSERT … RETURNING and nothing else. Only a repeated key reads:
    once, to return the stored order (same body) or refuse with 409 (different body).
    """
    digest = request_hash(order)
    try:
        priced = quote(order, snapshot)
    except OrderRejected:
        # Thresholds may have changed since the first attempt; its retry still gets the order.
        if idempotency_key is not None:
            replay = _stored(session, idempotency_key, digest)
            if replay is not None:
                return replay, False
        raise
    placed = OrderRead(id=uuid.uuid4(), created_at=datetime.now(UTC), **dict(priced))
    connection = _single_statement(session)
    inserted = connection.execute(
        _INSERTS[connection.dialect.name],
        {
            "id": placed.id,
            "created_at": placed.created_at,
            "idempotency_key": idempotency_key,
            "request_hash": digest,
            "reference_version": placed.reference_version,
            "province_code": placed.address.province_code,
            "ward_code": placed.address.ward_code,
            "street": placed.address.street,
            "lines": [line.model_dump() for line in placed.lines],
            "item_count": placed.item_count,
            "weight_grams": placed.weight_grams,
            "subtotal_vnd": placed.subtotal_vnd,
            "shipping_fee_vnd": placed.shipping_fee_vnd,
            "total_vnd": placed.total_vnd,
        },
    ).first()
    if inserted is not None:
        return placed, True
    # Only a key conflicts: taken by an earlier attempt, or by a concurrent one that has just
    # committed (the INSERT waited for it), so the row is visible to this next statement.
    replay = _stored(session, idempotency_key, digest) if idempotency_key else None
    if replay is None:
        raise IdempotencyKeyReused("This Idempotency-Key is in use; retry the request.")
    return replay, False


def get_order(session: Session, order_id: uuid.UUID) -> OrderRead:
    _single_statement(session)
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"No order with id {order_id}.")
    return _read(order)


_CURSOR = struct.Struct(">q16s")  # microseconds since the epoch, then the UUID's bytes
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{32}$"


def encode_cursor(order: OrderRead) -> str:
    micros = (order.created_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(_CURSOR.pack(micros, order.id.bytes)).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        micros, id_bytes = _CURSOR.unpack(base64.urlsafe_b64decode(cursor))
        return _EPOCH + timedelta(microseconds=micros), uuid.UUID(bytes=id_bytes)
    except (binascii.Error, struct.error, ValueError, OverflowError):
        raise InvalidRequest("Malformed cursor.", field="cursor") from None


def list_orders(session: Session, limit: int, cursor: str | None) -> tuple[list[OrderRead], bool]:
    """Up to `limit` orders, newest first, and whether there are more; keyset pagination on
    (created_at, id), so pages never shift or repeat."""
    query = select(Order).order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)
    if cursor is not None:
        query = query.where(tuple_(Order.created_at, Order.id) < decode_cursor(cursor))
    _single_statement(session)
    items = [_read(order) for order in session.scalars(query)]
    return items[:limit], len(items) > limit


# A page's orders, encoded, stay under this (each page holds at least one order): 100 orders
# of a thousand lines each would be some 10 MB, over what a Lambda response can carry.
PAGE_BYTES = 1024 * 1024


def encode_page(found: tuple[list[OrderRead], bool]) -> bytes:
    """The JSON of an OrderPage of `found`: as many of its orders as fit in PAGE_BYTES, and
    the cursor after the last one given when any are left."""
    items, more = found
    parts: list[bytes] = []
    size = 0
    for item in items:
        part = item.model_dump_json().encode()
        if parts and size + len(part) > PAGE_BYTES:
            more = True
            break
        parts.append(part)
        size += len(part) + 1
    cursor = b'"%s"' % encode_cursor(items[len(parts) - 1]).encode() if more else b"null"
    return b'{"items":[' + b",".join(parts) + b'],"next_cursor":' + cursor + b"}"
