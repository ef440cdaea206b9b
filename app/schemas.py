"""Response models. Reference routes send pre-encoded bytes; these document their shape."""

from __future__ import annotations

import functools
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
    WrapValidator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema


def _example(**fields: Any) -> ConfigDict:
    # defer_build: a model's validator is built when first used, not at INIT; response
    # models are only ever used to write /openapi.json.
    return ConfigDict(json_schema_extra={"examples": [fields]}, defer_build=True)


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


class LegacyProvinceRead(BaseModel):
    model_config = _example(
        code=77,
        name="Tỉnh Bà Rịa - Vũng Tàu",
        division_type="tỉnh",
        codename="tinh_ba_ria_vung_tau",
        phone_code=254,
    )

    code: int = Field(description="GSO code before 1 July 2025")
    name: str
    division_type: str
    codename: str
    phone_code: int


class LegacyDistrictRead(BaseModel):
    model_config = _example(
        code=760, name="Quận 1", division_type="quận", codename="quan_1", province_code=79
    )

    code: int = Field(description="GSO code; the district level was abolished on 1 July 2025")
    name: str
    division_type: str
    codename: str
    province_code: int = Field(description="Its old province")


class LegacyWardRead(BaseModel):
    model_config = _example(
        code=26740,
        name="Phường Bến Nghé",
        division_type="phường",
        codename="phuong_ben_nghe",
        district_code=760,
        province_code=79,
        listed_2025_01=True,
        existed_2025_06_30=True,
    )

    code: int = Field(description="GSO code before 1 July 2025 (not a code of today's wards)")
    name: str
    division_type: str
    codename: str
    district_code: int = Field(description="Its old district")
    province_code: int = Field(description="Its old province")
    listed_2025_01: bool = Field(
        description="In the January 2025 list; false for the 10 created between January and June"
    )
    existed_2025_06_30: bool = Field(
        description="Still a ward on 30 June 2025, so in the official conversion; false for the "
        "26 abolished between January and June"
    )


Kind = Literal["whole", "part", "unchanged"]


class WardConversionRow(BaseModel):
    """A row of the official conversion table (corrected): old ward → new ward. (The table's
    note, from which `kind` and `whole_population` come, stays in the database.)"""

    model_config = _example(
        old_ward_code=26740,
        new_ward_code=26740,
        kind="whole",
        whole_population=False,
    )

    old_ward_code: int
    new_ward_code: int
    kind: Kind
    whole_population: bool


class DistrictConversionRow(BaseModel):
    """A district-level row of the table: island districts made special zones."""

    model_config = _example(
        old_district_code=755,
        new_ward_code=26732,
        kind="whole",
    )

    old_district_code: int
    new_ward_code: int
    kind: Kind


class ProvinceConversionRow(BaseModel):
    model_config = _example(old_province_code=77, new_province_code=79)

    old_province_code: int
    new_province_code: int


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
        lanes={
            "database": {"lanes": 4, "busy": 1, "waiting": 0},
            "conversion": {"lanes": 1, "busy": 0, "waiting": 0},
        },
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
    lanes: dict[str, dict[str, int]] = Field(
        description="Under a server, the worker lanes of each kind of blocking work (SQL, "
        "conversions): how many, how many are busy now, how many requests wait for one. On "
        "Lambda, work runs inline: none are ever busy"
    )


class SettingUpdate(BaseModel):
    """A new value for a setting; its JSON type must match the setting's `value_type`."""

    # A request body FastAPI validates: built at INIT like every other such body.
    model_config = ConfigDict(json_schema_extra={"examples": [{"value": 60_000_000}]})

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
        default=None, description="For validation problems: where and what (the first 20)"
    )
    error_count: int | None = Field(
        default=None,
        description="For validation problems with more errors than `errors` lists: how many",
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


# Old addresses → today's units (app/conversion.py, POST /vn/convert).
UnitLevel = Literal["province", "district", "ward"]  # app.vn_names.Level's values


class OldUnit(BaseModel):
    """An old unit as named in an answer, with the names of its old district and province."""

    model_config = ConfigDict(defer_build=True)

    level: UnitLevel
    code: int = Field(description="GSO code before 1 July 2025")
    name: str
    division_type: str
    district_code: int | None = Field(description="Its old district (wards only)")
    district_name: str | None
    province_code: int = Field(description="Its old province (itself, for a province)")
    province_name: str
    existed_2025_06_30: bool = Field(description="False for a unit abolished before the reform")


class NewWard(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: int = Field(description="Today's ward code (GET /vn/wards/{code})")
    name: str
    division_type: str
    province_code: int
    kind: Kind = Field(
        description="How the old unit went into it: `whole` (all of it, with others), `part` "
        "(part of it), `unchanged` (all of it, alone)"
    )
    default: bool = Field(
        description="The official table says this one took the old ward's whole population: "
        "the answer to use for an address that cannot be placed more precisely"
    )
    old_code: int = Field(description="The old unit it comes from (of those in `old`)")


class NewProvince(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: int = Field(description="Today's province code (GET /vn/provinces/{code})")
    name: str
    kind: Literal["whole", "unchanged"] = Field(
        description="`whole`: the old province was merged whole with others; `unchanged`: alone"
    )


_CONVERSION_EXAMPLE: dict[str, Any] = {
    "status": "resolved",
    "detail": None,
    "unmatched": None,
    "old": [
        {
            "level": "ward",
            "code": 26740,
            "name": "Phường Bến Nghé",
            "division_type": "phường",
            "district_code": 760,
            "district_name": "Quận 1",
            "province_code": 79,
            "province_name": "Thành phố Hồ Chí Minh",
            "existed_2025_06_30": True,
        }
    ],
    "province": {"code": 79, "name": "Thành phố Hồ Chí Minh", "kind": "whole"},
    "wards": [
        {
            "code": 26740,
            "name": "Phường Sài Gòn",
            "division_type": "phường",
            "province_code": 79,
            "kind": "whole",
            "default": False,
            "old_code": 26740,
        }
    ],
}


class Conversion(BaseModel):
    """What an old unit is now. `resolved`: one new ward (or, for a province, one new
    province). `ambiguous`: several candidates, every one listed in `wards` (a split ward, a
    district, names that match several old units); never a silent single guess. `not_found`:
    `unmatched` says which part matched nothing. `invalid`: the item itself is malformed."""

    model_config = _example(**_CONVERSION_EXAMPLE)

    status: Literal["resolved", "ambiguous", "not_found", "invalid"]
    detail: str | None = Field(description="Why it is ambiguous, not found or invalid")
    unmatched: UnitLevel | None = Field(
        description="For `not_found`: the part that matched nothing"
    )
    old: list[OldUnit] = Field(description="The old unit(s) the item names")
    province: NewProvince | None = Field(description="Today's province, when there is one")
    wards: list[NewWard] = Field(description="Today's ward(s): one when resolved")


class Predecessor(OldUnit):
    kind: Kind = Field(description="How it went into the new ward")
    whole_population: bool = Field(description="The new ward took its whole population")


class Predecessors(BaseModel):
    """The old units a new ward was formed from (wards; for special zones, districts)."""

    model_config = _example(
        ward={
            "code": 26740,
            "name": "Phường Sài Gòn",
            "division_type": "phường",
            "codename": "phuong_sai_gon",
            "province_code": 79,
        },
        predecessors=[
            {
                **_CONVERSION_EXAMPLE["old"][0],
                "kind": "whole",
                "whole_population": False,
            }
        ],
    )

    ward: WardRead
    predecessors: list[Predecessor]


def _code(value: Any) -> Any:
    """GSO codes are often written zero-padded, as text: "00004" is ward 4."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return value


# A whole number, or its digits as text; not a bool, not 4.0.
GsoCode = Annotated[StrictInt, BeforeValidator(_code)]


class ByCode(BaseModel):
    """An old unit by its GSO code: exactly one of the three."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ward_code": 26740}]}, defer_build=True
    )

    ward_code: GsoCode | None = Field(default=None, ge=1, le=99999)
    district_code: GsoCode | None = Field(default=None, ge=1, le=999)
    province_code: GsoCode | None = Field(default=None, ge=1, le=99)

    @model_validator(mode="after")
    def _one_code(self) -> ByCode:
        given = [self.ward_code, self.district_code, self.province_code]
        if sum(code is not None for code in given) != 1:
            raise ValueError("give exactly one of ward_code, district_code, province_code")
        return self


# A name as written: at most this many characters, as written and once NFKC-normalised.
MAX_NAME_LENGTH = 100


def name_length(text: str) -> int:
    """A name's length as matching sees it: the longer of what was written and its NFKC form
    (one character such as U+FDFA stands for 18 letters once normalised)."""
    if len(text) > MAX_NAME_LENGTH:
        return len(text)  # over-long as it is: not worth normalising
    return max(len(text), len(unicodedata.normalize("NFKC", text)))


Written = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]


class ByNames(BaseModel):
    """An old address by its names, as written: case, accents, punctuation and the unit-type
    words are optional; TP., T., Q., H., TX., P., X., TT. are understood."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"province": "TP. Hồ Chí Minh", "district": "Q.1", "ward": "P. Đa Kao"}]
        },
        defer_build=True,
    )

    province: Written = Field(description="The old province (or centrally-run city)")
    district: Written | None = Field(default=None, description="The old district")
    ward: Written | None = Field(default=None, description="The old ward or commune")


class InvalidItem(BaseModel):
    """An item that is neither ByCode nor ByNames: answered `invalid`, never failing the batch."""

    model_config = ConfigDict(defer_build=True)

    detail: str


def _by_what(value: Any) -> str:
    if isinstance(value, dict) and value.keys() & {"ward_code", "district_code", "province_code"}:
        return "code"
    return "names"


@functools.cache
def _given() -> TypeAdapter[ByCode | ByNames]:
    """The validator of one item, made with the first batch (not at INIT)."""
    return TypeAdapter(
        Annotated[
            Annotated[ByCode, Tag("code")] | Annotated[ByNames, Tag("names")],
            Discriminator(_by_what),
        ]
    )


def _each_on_its_own(value: Any, handler: Any) -> ByCode | ByNames | InvalidItem:
    """Validate one item apart from the others: a bad one becomes an InvalidItem."""
    if not isinstance(value, dict):
        return InvalidItem(detail="An item is an object: by code or by names.")
    try:
        return _given().validate_python(value)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"][1:])  # without the tag
        return InvalidItem(detail=f"{where}: {error['msg']}" if where else error["msg"])


OldAddress = Annotated[
    Annotated[ByCode, Tag("code")] | Annotated[ByNames, Tag("names")] | SkipJsonSchema[InvalidItem],
    WrapValidator(_each_on_its_own),
]

# A batch's largest answer (every item matching ten old wards, some 4 KB each) must leave
# room in a Lambda response (6 MB): 1,000 of them took 70 % of it, 500 take 35 %.
MAX_CONVERT_ITEMS = 500


class ConvertRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        defer_build=True,
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"ward_code": 26740},
                        {"province": "TP. Hồ Chí Minh", "district": "Q.1", "ward": "P. Đa Kao"},
                        {"province": "Hà Tĩnh", "district": "TX. Kỳ Anh"},
                    ]
                }
            ]
        },
    )

    items: list[OldAddress] = Field(
        min_length=1,
        max_length=MAX_CONVERT_ITEMS,
        description=f"Up to {MAX_CONVERT_ITEMS} old addresses, each by code or by names",
    )


class ConvertResponse(BaseModel):
    """One answer per item, in the order given."""

    model_config = _example(items=[_CONVERSION_EXAMPLE])

    items: list[Conversion]
