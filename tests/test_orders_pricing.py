"""The order rules as plain functions: thresholds from the snapshot, no HTTP, no SQL."""

from __future__ import annotations

from typing import Any

import pytest

from app.datasets import setting_values
from app.init import cache
from app.orders import Thresholds, quote, request_hash, shipping_fee
from app.problems import OrderingUnavailable, OrderRejected
from app.schemas import OrderCreate
from app.snapshot.snapshot import Snapshot
from harness.datasets import with_settings

HCMC, SAI_GON = 79, 26740  # the warehouse's province, and a ward in it
HANOI, BA_DINH = 1, 4

DEFAULTS: dict[str, int | str | bool] = {
    "max_order_total_vnd": 50_000_000,
    "max_order_items": 100,
    "shipping_base_fee_vnd": 30_000,
    "shipping_base_fee_same_province_vnd": 15_000,
    "shipping_fee_per_kg_vnd": 5_000,
    "free_shipping_threshold_vnd": 1_000_000,
    "warehouse_province_code": HCMC,
    "currency": "VND",
}


def snapshot_with(**settings: int | str | bool) -> Snapshot:
    """The loaded snapshot with its thresholds replaced, as an admin change would."""
    return with_settings(cache.snapshot(), {**DEFAULTS, **settings})


def order(
    *lines: tuple[str, int, int],
    weight_grams: int = 1000,
    province: int = HCMC,
    ward: int = SAI_GON,
) -> OrderCreate:
    return OrderCreate.model_validate(
        {
            "address": {"province_code": province, "ward_code": ward, "street": "12 Lê Lợi"},
            "lines": [
                {"sku": sku, "quantity": quantity, "unit_price_vnd": price}
                for sku, quantity, price in lines or [("TEA", 1, 100_000)]
            ],
            "weight_grams": weight_grams,
        }
    )


def test_the_seeded_settings_are_the_thresholds_these_tests_assume() -> None:
    assert {k: setting_values(cache.snapshot())[k] for k in DEFAULTS} == DEFAULTS


# (subtotal, weight in grams, same province) → fee. 1 kg = 1,000 g; every started kg counts.
@pytest.mark.parametrize(
    ("subtotal", "grams", "same_province", "fee"),
    [
        (100_000, 1, True, 15_000 + 5_000),
        (100_000, 999, True, 15_000 + 5_000),
        (100_000, 1_000, True, 15_000 + 5_000),
        (100_000, 1_001, True, 15_000 + 2 * 5_000),
        (100_000, 2_000, True, 15_000 + 2 * 5_000),
        (100_000, 1, False, 30_000 + 5_000),
        (100_000, 1_001, False, 30_000 + 2 * 5_000),
        (100_000, 25_500, False, 30_000 + 26 * 5_000),
        (999_999, 1_000, False, 35_000),  # one đồng under the free-shipping threshold
        (1_000_000, 1_000, False, 0),  # at the threshold: free
        (1_000_000, 100_000, True, 0),  # free whatever the weight
        (0, 1_000, True, 20_000),
    ],
)
def test_shipping_fee(subtotal: int, grams: int, same_province: bool, fee: int) -> None:
    rules = Thresholds.of(DEFAULTS)
    assert shipping_fee(rules, subtotal, grams, same_province=same_province) == fee


@pytest.mark.parametrize(
    ("lines", "grams", "province", "ward", "expected"),
    [
        # Same province as the warehouse: the cheaper base fee.
        ([("TEA", 2, 120_000)], 1_200, HCMC, SAI_GON, (240_000, 15_000 + 2 * 5_000)),
        # Another province: the full base fee.
        ([("TEA", 2, 120_000)], 1_200, HANOI, BA_DINH, (240_000, 30_000 + 2 * 5_000)),
        # Several lines add up before the free-shipping threshold is applied.
        ([("A", 3, 300_000), ("B", 1, 99_999)], 500, HANOI, BA_DINH, (999_999, 35_000)),
        ([("A", 3, 300_000), ("B", 1, 100_000)], 500, HANOI, BA_DINH, (1_000_000, 0)),
        # Exactly at both maxima: 100 items, a 50,000,000 total.
        ([("A", 99, 1), ("B", 1, 49_999_901)], 1_000, HCMC, SAI_GON, (50_000_000, 0)),
        # Free items are allowed; shipping still applies.
        ([("GIFT", 1, 0)], 1, HCMC, SAI_GON, (0, 20_000)),
    ],
)
def test_quote_prices_subtotal_shipping_and_total(
    lines: list[tuple[str, int, int]],
    grams: int,
    province: int,
    ward: int,
    expected: tuple[int, int],
) -> None:
    priced = quote(order(*lines, weight_grams=grams, province=province, ward=ward), snapshot_with())
    subtotal, shipping = expected
    assert (priced.subtotal_vnd, priced.shipping_fee_vnd) == (subtotal, shipping)
    assert priced.total_vnd == subtotal + shipping
    assert priced.item_count == sum(quantity for _, quantity, _ in lines)
    assert [line.line_total_vnd for line in priced.lines] == [q * p for _, q, p in lines]
    assert priced.currency == "VND"
    assert priced.reference_version == cache.snapshot().version


@pytest.mark.parametrize(
    ("body", "kind", "loc"),
    [
        (order(province=2), "unknown-province", ["body", "address", "province_code"]),
        (order(ward=1), "unknown-ward", ["body", "address", "ward_code"]),
        (order(ward=BA_DINH), "ward-not-in-province", ["body", "address", "ward_code"]),
        (order(province=HANOI), "ward-not-in-province", ["body", "address", "ward_code"]),
        (
            order(("A", 1, 10), ("B", 1, 10), ("A", 2, 10)),
            "duplicate-sku",
            ["body", "lines", 2, "sku"],
        ),
        (order(("A", 101, 1)), "too-many-items", ["body", "lines"]),
        (order(("A", 100, 1), ("B", 1, 1)), "too-many-items", ["body", "lines"]),
        (order(("A", 1, 50_000_001)), "order-total-too-high", ["body"]),
        (order(("A", 1, 49_999_902), ("B", 99, 1)), "order-total-too-high", ["body"]),
    ],
)
def test_each_rule_rejects_with_its_own_problem_type(
    body: OrderCreate, kind: str, loc: list[Any]
) -> None:
    with pytest.raises(OrderRejected) as raised:
        quote(body, snapshot_with())
    assert raised.value.status == 422
    assert raised.value.kind == kind
    assert raised.value.errors == [{"loc": loc, "msg": raised.value.detail}]


def test_the_maximum_total_includes_shipping() -> None:
    snapshot = snapshot_with(max_order_total_vnd=100_000)
    # 80,000 + 15,000 + 5,000 for 1 kg = 100,000: at the maximum.
    assert quote(order(("A", 1, 80_000), weight_grams=1_000), snapshot).total_vnd == 100_000
    # One more started kilogram: 105,000.
    with pytest.raises(OrderRejected, match="105000") as raised:
        quote(order(("A", 1, 80_000), weight_grams=1_001), snapshot)
    assert raised.value.kind == "order-total-too-high"


def test_thresholds_are_read_from_the_snapshot_at_request_time() -> None:
    body = order(("A", 3, 100_000), weight_grams=3_000, province=HANOI, ward=BA_DINH)
    assert quote(body, snapshot_with()).shipping_fee_vnd == 30_000 + 3 * 5_000
    cheaper = snapshot_with(shipping_base_fee_vnd=10_000, shipping_fee_per_kg_vnd=1_000)
    assert quote(body, cheaper).shipping_fee_vnd == 10_000 + 3 * 1_000
    assert quote(body, snapshot_with(free_shipping_threshold_vnd=300_000)).shipping_fee_vnd == 0
    moved = snapshot_with(warehouse_province_code=HANOI)
    assert quote(body, moved).shipping_fee_vnd == 15_000 + 3 * 5_000
    with pytest.raises(OrderRejected, match="max_order_items is 2"):
        quote(body, snapshot_with(max_order_items=2))


@pytest.mark.parametrize(
    "settings",
    [
        {"max_order_items": True},  # a bool is not a count
        {"max_order_total_vnd": "50000000"},
        {"shipping_fee_per_kg_vnd": -1},
        {"free_shipping_threshold_vnd": 2**63},  # would not fit the BIGINT columns
    ],
)
def test_mistyped_thresholds_make_ordering_unavailable_not_wrong(
    settings: dict[str, int | str | bool],
) -> None:
    with pytest.raises(OrderingUnavailable) as raised:
        quote(order(), snapshot_with(**settings))
    assert raised.value.status == 503


def test_a_missing_threshold_makes_ordering_unavailable() -> None:
    values = {k: v for k, v in DEFAULTS.items() if k != "max_order_items"}
    with pytest.raises(OrderingUnavailable, match="max_order_items"):
        quote(order(), with_settings(cache.snapshot(), values))


def test_the_request_hash_ignores_json_layout_but_not_content() -> None:
    compact = OrderCreate.model_validate_json(
        '{"weight_grams":1000,"lines":[{"sku":"A","quantity":1,"unit_price_vnd":5}],'
        '"address":{"province_code":79,"ward_code":26740,"street":"1 Lê Lợi"}}'
    )
    spaced = OrderCreate.model_validate_json(
        '{ "address": {"street": " 1 Lê Lợi ", "ward_code": 26740, "province_code": 79},\n'
        '  "lines": [{"unit_price_vnd": 5, "quantity": 1, "sku": "A"}], "weight_grams": 1000 }'
    )
    assert request_hash(compact) == request_hash(spaced)
    heavier = compact.model_copy(update={"weight_grams": 1001})
    assert request_hash(heavier) != request_hash(compact)
