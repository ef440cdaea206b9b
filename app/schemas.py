"""Response models. Reference routes send pre-encoded bytes; these document their shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
        row_counts={"country": 249, "currency": 178},
        cold_start=False,
        invocations=17,
        error=None,
    )

    status: str = Field(description="`ok`, or `unavailable` when no reference data is loaded")
    reference_version: int | None
    loaded_at: datetime | None
    age_seconds: float | None
    load_ms: float | None = Field(description="Time spent reading and encoding the snapshot")
    row_counts: dict[str, int]
    cold_start: bool = Field(description="True on the first request of a cold environment")
    invocations: int = Field(description="Requests this environment has served, this one included")
    error: str | None = Field(description="Why reference data is unavailable, if it is")


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
