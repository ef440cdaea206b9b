"""Response models. Reference routes send pre-encoded bytes; these document their shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


def _example(**fields: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [fields]})


class CountryRead(BaseModel):
    model_config = _example(
        alpha_2="VN",
        alpha_3="VNM",
        numeric="704",
        name="Viet Nam",
        official_name="Socialist Republic of Viet Nam",
    )

    alpha_2: str = Field(description="ISO 3166-1 alpha-2 code")
    alpha_3: str = Field(description="ISO 3166-1 alpha-3 code")
    numeric: str = Field(description="ISO 3166-1 numeric code, three digits")
    name: str
    official_name: str | None


class CurrencyRead(BaseModel):
    model_config = _example(code="VND", numeric="704", name="Dong")

    code: str = Field(description="ISO 4217 alphabetic code")
    numeric: str = Field(description="ISO 4217 numeric code, three digits")
    name: str


class SubdivisionRead(BaseModel):
    model_config = _example(
        code="VN-SG", country_code="VN", name="Hồ Chí Minh", type="Municipality", parent_code=None
    )

    code: str = Field(description="ISO 3166-2 code")
    country_code: str = Field(description="ISO 3166-1 alpha-2 code of the country")
    name: str
    type: str
    parent_code: str | None = Field(description="ISO 3166-2 code of the parent subdivision")


class ProvinceRead(BaseModel):
    model_config = _example(
        code=79,
        name="Thành phố Hồ Chí Minh",
        division_type="thành phố trung ương",
        codename="ho_chi_minh",
        phone_code=28,
    )

    code: int = Field(description="Code in Vietnam's 2025 administrative division list")
    name: str
    division_type: str
    codename: str
    phone_code: int


class WardRead(BaseModel):
    model_config = _example(
        code=26740,
        name="Phường Sài Gòn",
        division_type="phường",
        codename="phuong_sai_gon",
        province_code=79,
    )

    code: int
    name: str
    division_type: str
    codename: str
    province_code: int


class SettingRead(BaseModel):
    model_config = _example(
        key="max_order_total_vnd",
        value=50_000_000,
        value_type="int",
        description="Largest order total accepted, in VND.",
    )

    key: str
    value: int | bool | str
    value_type: str = Field(description="One of int, bool, str")
    description: str


class HealthRead(BaseModel):
    model_config = _example(
        status="ok",
        reference_version=1,
        loaded_at="2026-11-26T20:00:00Z",
        age_seconds=12.5,
        load_ms=41.2,
        ttl_seconds=300,
        stale_seconds=None,
        row_counts={"country": 249, "currency": 178},
        cold_start=False,
        invocations=17,
        counters={"loads": 1, "revalidations": 0, "reloads": 0, "failures": 0, "stale": 0},
        error=None,
    )

    status: str = Field(
        description="`ok`; `stale` (serving the last good data after failed revalidations); "
        "`unavailable` (nothing to serve)"
    )
    reference_version: int | None
    loaded_at: datetime | None
    age_seconds: float | None = Field(description="Seconds since this snapshot was read")
    load_ms: float | None = Field(description="Time spent reading and encoding the snapshot")
    ttl_seconds: float = Field(description="Revalidation interval; 0 never revalidates")
    stale_seconds: float | None = Field(description="Seconds past the TTL, while stale")
    row_counts: dict[str, int]
    cold_start: bool = Field(description="True on the first request of a cold environment")
    invocations: int = Field(description="Requests this environment has served, this one included")
    counters: dict[str, int] = Field(description="Cache loads, revalidations, reloads, failures")
    error: str | None = Field(description="Why the last load or revalidation failed, if it did")


class SettingUpdate(BaseModel):
    """A new value for a setting; its JSON type must match the setting's `value_type`."""

    model_config = _example(value=60_000_000)

    value: StrictInt | StrictBool | StrictStr


class SettingUpdated(SettingRead):
    reference_version: int = Field(description="The version this change created")


class CacheRefreshed(BaseModel):
    model_config = _example(reference_version=2, load_ms=52.1, row_counts={"country": 249})

    reference_version: int
    load_ms: float
    row_counts: dict[str, int]


class ProblemDetail(BaseModel):
    """RFC 9457 problem details; `type` is stable and safe to switch on."""

    model_config = _example(
        type="urn:refdata:problem:not-found",
        title="Not found",
        status=404,
        detail="No country with code 'XX'.",
        instance="/countries/XX",
    )

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="For validation problems: where and what"
    )


# Orders. Input is strict (no "2" for 2, no unknown fields): these are money and quantities.
_ORDER_INPUT = ConfigDict(strict=True, extra="forbid", str_strip_whitespace=True)


class ShippingAddress(BaseModel):
    """A Vietnamese address after the 2025 reform: province, ward, street line."""

    model_config = _ORDER_INPUT

    province_code: int = Field(ge=1, le=999, examples=[79])
    ward_code: int = Field(ge=1, le=99999, description="A ward of that province", examples=[26740])
    street: str = Field(
        min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$", examples=["12 Lê Lợi"]
    )


class OrderLine(BaseModel):
    model_config = _ORDER_INPUT

    sku: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$",
        description="Stock keeping unit; each at most once per order",
        examples=["TEA-250G"],
    )
    quantity: int = Field(ge=1, le=1_000_000)
    unit_price_vnd: int = Field(ge=0, le=1_000_000_000_000, description="Price of one unit")


class OrderCreate(BaseModel):
    """An order to price (`POST /orders/quote`) or to place (`POST /orders`)."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "address": {"province_code": 79, "ward_code": 26740, "street": "12 Lê Lợi"},
                    "lines": [{"sku": "TEA-250G", "quantity": 2, "unit_price_vnd": 120_000}],
                    "weight_grams": 1200,
                }
            ]
        },
    )

    address: ShippingAddress
    lines: list[OrderLine] = Field(min_length=1, max_length=1000)
    weight_grams: int = Field(
        ge=1, le=10_000_000, description="Total weight; every started kilogram is charged"
    )


class OrderLineRead(OrderLine):
    line_total_vnd: int = Field(description="quantity * unit_price_vnd")


_QUOTE_EXAMPLE: dict[str, Any] = {
    "address": {"province_code": 79, "ward_code": 26740, "street": "12 Lê Lợi"},
    "lines": [
        {"sku": "TEA-250G", "quantity": 2, "unit_price_vnd": 120_000, "line_total_vnd": 240_000}
    ],
    "item_count": 2,
    "weight_grams": 1200,
    "subtotal_vnd": 240_000,
    "shipping_fee_vnd": 25_000,
    "total_vnd": 265_000,
    "currency": "VND",
    "reference_version": 1,
}
_ORDER_EXAMPLE: dict[str, Any] = {
    **_QUOTE_EXAMPLE,
    "id": "b0d0ef6e-7419-46a3-b9a9-c564c57c5fe4",
    "created_at": "2026-11-26T20:43:41.191930Z",
}


class QuoteRead(BaseModel):
    """A priced order: what `POST /orders` would store for the same body right now."""

    model_config = _example(**_QUOTE_EXAMPLE)

    address: ShippingAddress
    lines: list[OrderLineRead]
    item_count: int = Field(description="Sum of the quantities")
    weight_grams: int
    subtotal_vnd: int
    shipping_fee_vnd: int = Field(description="0 when the subtotal reaches the free threshold")
    total_vnd: int = Field(description="subtotal_vnd + shipping_fee_vnd")
    currency: Literal["VND"] = "VND"
    reference_version: int = Field(description="Reference data and thresholds it was priced with")


class OrderRead(QuoteRead):
    model_config = _example(**_ORDER_EXAMPLE)

    id: UUID
    created_at: datetime


class OrderPage(BaseModel):
    """Orders, newest first."""

    model_config = _example(items=[_ORDER_EXAMPLE], next_cursor="AAZhM-yeL_CncyEBZqBF1aA8LDfkG4gV")

    items: list[OrderRead]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )
