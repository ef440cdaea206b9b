"""The reference datasets: each is one declaration, and everything else is derived from it.

A `Dataset` names its table, the key a URL gives and how it is normalised, the fields `q`
searches, how its records are grouped under another dataset's, and how it is served. From
`DATASETS` come the snapshot's part for each (app/snapshot/ `Data`), the routes and their
OpenAPI (app/routes/datasets.py), the row counts on /health and the tests' route lists.
Adding a dataset is a model, a migration with its CSV, a schema and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Path
from pydantic import BaseModel
from sqlalchemy import inspect

from app.kit.db import Base
from app.models import (
    Country,
    Currency,
    Setting,
    Subdivision,
    VnDistrictConversion,
    VnLegacyDistrict,
    VnLegacyProvince,
    VnLegacyWard,
    VnProvince,
    VnProvinceConversion,
    VnWard,
    VnWardConversion,
)
from app.schemas import (
    CountryRead,
    CurrencyRead,
    DistrictConversionRow,
    LegacyDistrictRead,
    LegacyProvinceRead,
    LegacyWardRead,
    ProvinceConversionRow,
    ProvinceRead,
    SettingRead,
    SubdivisionRead,
    WardConversionRow,
    WardRead,
)

if TYPE_CHECKING:
    from app.snapshot.snapshot import Snapshot  # which imports this module


def _as_read(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Tag:
    """A group of operations in /docs."""

    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Route:
    """One documented GET."""

    path: str
    name: str  # the operationId: what /docs links to and what a generated client calls it
    summary: str
    description: str


@dataclass(frozen=True, slots=True)
class Key:
    """How a record is named: the fields a key matches and, for routes, the URL's form."""

    fields: tuple[str, ...]  # the first is the table's primary key
    type: type[str] | type[int] = str  # as the path parameter is parsed
    path: Any = None  # fastapi.Path(...): what a URL may give (else 422), described, an example
    name: str = "code"  # of the path parameter
    # The value from the URL → the one stored: countries take any case, currencies upper.
    normalise: Callable[[Any], Any] = _as_read

    @property
    def example(self) -> Any:
        """The documented example; it names a real record (the tests check it)."""
        return self.path.examples[0]


@dataclass(frozen=True, slots=True)
class Grouping:
    """A dataset's records by `field`, which holds the primary key of a `parent` record:
    one list per parent record, served at `route` (its path parameter is the parent's key).
    A parent with no records in the group has an empty list; an unknown parent is a 404."""

    field: str
    parent: Dataset
    route: Route | None = None  # None: an index the snapshot keeps for business code only


@dataclass(frozen=True, slots=True)
class Dataset:
    """One reference table, as it is read, looked up, searched, grouped and served."""

    name: str  # its part of the snapshot: snapshot.datasets[name]
    noun: str  # in a 404: "No country with code 'XX'."
    table: type[Base]  # read whole at INIT, in primary-key order
    # The record as served: its fields (in this order), their types, the documented example.
    schema: type[BaseModel]
    key: Key | None  # None: rows are not unique by any one field (the conversion tables)
    tag: Tag
    search: tuple[str, ...] = ()  # fields `q` matches, case, accents and punctuation folded
    list_route: Route | None = None  # every record (and `q`, when it has search fields)
    get_route: Route | None = None  # one record by key
    groups: tuple[Grouping, ...] = ()
    # A row (the schema's fields, as stored) → the record served; ValueError: unservable.
    record: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # Indexed and encoded at INIT. False: its rows are read at INIT with every other's, in
    # the same transaction, and indexed on first use (big tables few environments ask for).
    at_init: bool = True

    @property
    def lookup(self) -> Key:
        """Its key, for code that looks records up (routes do only for keyed datasets)."""
        if self.key is None:
            raise TypeError(f"dataset {self.name!r} has no key")
        return self.key

    def __post_init__(self) -> None:
        """A declaration that cannot be served fails at import, saying why."""
        fields = self.schema.model_fields
        keys = self.key.fields if self.key is not None else ()
        named = (*keys, *self.search, *(grouping.field for grouping in self.groups))
        problems = [
            f"{name!r} is not a field of the schema" for name in named if name not in fields
        ]
        if self.record is not None and not self.at_init:
            problems.append("a record step runs at INIT, where it can refuse the load")
        if self.key is not None and keys[0] != inspect(self.table).primary_key[0].name:
            problems.append(f"key field {keys[0]!r} is not the primary key")
        keyed = [(self.get_route, self.key), *((g.route, g.parent.key) for g in self.groups)]
        for route, key in keyed:
            if route is None:
                continue
            if key is None:
                problems.append(f"{route.path} needs a key to look records up by")
            elif key.path is None or f"{{{key.name}}}" not in route.path:
                problems.append(f"{route.path} does not take the key {{{key.name}}} with a Path")
        if problems:
            raise ValueError(f"dataset {self.name!r}: " + "; ".join(problems))


# Settings: typed business thresholds, stored as text and parsed by their `value_type`.
SettingValue = int | str | bool
# The largest int setting: what a BIGINT holds and orjson encodes (it refuses more).
SETTING_INT_MAX = 2**63 - 1


def parse_setting(value: str, value_type: str) -> SettingValue:
    if value_type == "int":
        number = int(value)
        if not -SETTING_INT_MAX - 1 <= number <= SETTING_INT_MAX:
            raise ValueError("an int setting must fit in 64 bits")
        return number
    if value_type == "bool":
        if value not in ("true", "false"):
            raise ValueError("a bool setting must be 'true' or 'false'")
        return value == "true"
    if value_type == "str":
        return value
    raise ValueError(f"unknown value type {value_type!r}")


def _typed_setting(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "value": parse_setting(row["value"], row["value_type"])}


def setting_values(snapshot: Snapshot) -> dict[str, SettingValue]:
    """Every setting's typed value, by key: what business rules read."""
    return {key: item.record["value"] for key, item in snapshot[SETTINGS].by_key.items()}


def _country_code(code: str) -> str:
    """Alpha-2, alpha-3 or numeric in any case; a short numeric code is zero-padded (4 → 004)."""
    code = code.upper()
    return code.zfill(3) if code.isdigit() else code


COUNTRIES = Dataset(
    name="countries",
    noun="country",
    table=Country,
    schema=CountryRead,
    key=Key(
        ("alpha_2", "alpha_3", "numeric"),
        str,
        Path(
            pattern=r"^(?:[A-Za-z]{2,3}|[0-9]{1,3})$",
            description="Alpha-2 (`VN`), alpha-3 (`VNM`) or numeric (`704`) code, any case",
            examples=["VN"],
        ),
        normalise=_country_code,
    ),
    tag=Tag("countries", "ISO 3166-1 countries and their ISO 3166-2 subdivisions."),
    search=("name", "official_name"),
    list_route=Route(
        "/countries",
        "list_countries",
        "List or search countries",
        "All countries, or those whose name contains `q` (case- and accent-insensitive).",
    ),
    get_route=Route(
        "/countries/{code}",
        "get_country",
        "Get a country by code",
        "One country by any of its ISO 3166-1 codes.",
    ),
)

CURRENCIES = Dataset(
    name="currencies",
    noun="currency",
    table=Currency,
    schema=CurrencyRead,
    key=Key(
        ("code",),
        str,
        Path(pattern=r"^[A-Za-z]{3}$", description="Alphabetic code, any case", examples=["VND"]),
        normalise=str.upper,
    ),
    tag=Tag("currencies", "ISO 4217 currencies."),
    list_route=Route(
        "/currencies", "list_currencies", "List currencies", "All ISO 4217 currencies."
    ),
    get_route=Route(
        "/currencies/{code}",
        "get_currency",
        "Get a currency by code",
        "One currency by its alphabetic code.",
    ),
)

SUBDIVISIONS = Dataset(
    name="subdivisions",
    noun="subdivision",
    table=Subdivision,
    schema=SubdivisionRead,
    key=Key(("code",)),
    tag=COUNTRIES.tag,
    at_init=False,  # 5,046 rows, asked for by few environments: indexed on first use
    groups=(
        Grouping(
            "country_code",
            COUNTRIES,
            Route(
                "/countries/{code}/subdivisions",
                "list_country_subdivisions",
                "List a country's subdivisions",
                "A country's ISO 3166-2 subdivisions (empty for countries that have none).",
            ),
        ),
    ),
)

VIETNAM = Tag("vietnam", "Vietnam's 34 provinces and 3,321 wards after the 2025 reform.")

VN_PROVINCES = Dataset(
    name="vn_provinces",
    noun="province",
    table=VnProvince,
    schema=ProvinceRead,
    key=Key(("code",), int, Path(ge=1, le=999, description="Province code", examples=[79])),
    tag=VIETNAM,
    search=("name", "codename"),
    list_route=Route(
        "/vn/provinces",
        "list_vn_provinces",
        "List or search provinces",
        "The 34 provinces and centrally-run cities; `q` finds `Thành phố Hồ Chí Minh` from\n"
        "`ho chi minh`.",
    ),
    get_route=Route(
        "/vn/provinces/{code}", "get_vn_province", "Get a province by code", "One province by code."
    ),
)

VN_WARDS = Dataset(
    name="vn_wards",
    noun="ward",
    table=VnWard,
    schema=WardRead,
    key=Key(("code",), int, Path(ge=1, le=99999, description="Ward code", examples=[26740])),
    tag=VIETNAM,
    search=("name", "codename"),
    get_route=Route(
        "/vn/wards/{code}", "get_vn_ward", "Get a ward by code", "One ward or commune by code."
    ),
    groups=(
        Grouping(
            "province_code",
            VN_PROVINCES,
            Route(
                "/vn/provinces/{code}/wards",
                "list_vn_province_wards",
                "List or search a province's wards",
                "The wards, communes and special zones of one province, optionally searched by "
                "name.",
            ),
        ),
    ),
)

VIETNAM_BEFORE_2025 = Tag(
    "vietnam-before-2025",
    "Vietnam's units before 1 July 2025 (63 provinces, 696 districts, 10,061 wards and "
    "communes, GSO codes) and what each is now, from the official conversion table.",
)

VN_LEGACY_PROVINCES = Dataset(
    name="vn_legacy_provinces",
    noun="old province",
    table=VnLegacyProvince,
    schema=LegacyProvinceRead,
    key=Key(("code",), int, Path(ge=1, le=99, description="Old province code", examples=[77])),
    tag=VIETNAM_BEFORE_2025,
    search=("name", "codename"),
    list_route=Route(
        "/vn/legacy/provinces",
        "list_vn_legacy_provinces",
        "List or search the old provinces",
        "The 63 provinces and centrally-run cities before 1 July 2025.",
    ),
    get_route=Route(
        "/vn/legacy/provinces/{code}",
        "get_vn_legacy_province",
        "Get an old province by code",
        "One province as it was before 1 July 2025.",
    ),
)

VN_LEGACY_DISTRICTS = Dataset(
    name="vn_legacy_districts",
    noun="old district",
    table=VnLegacyDistrict,
    schema=LegacyDistrictRead,
    key=Key(("code",), int, Path(ge=1, le=999, description="Old district code", examples=[760])),
    tag=VIETNAM_BEFORE_2025,
    search=("name", "codename"),
    at_init=False,
    get_route=Route(
        "/vn/legacy/districts/{code}",
        "get_vn_legacy_district",
        "Get an old district by code",
        "One district (quận, huyện, thị xã, thành phố), a level abolished on 1 July 2025.",
    ),
    groups=(
        Grouping(
            "province_code",
            VN_LEGACY_PROVINCES,
            Route(
                "/vn/legacy/provinces/{code}/districts",
                "list_vn_legacy_province_districts",
                "List or search an old province's districts",
                "The districts of one old province, optionally searched by name.",
            ),
        ),
    ),
)

VN_LEGACY_WARDS = Dataset(
    name="vn_legacy_wards",
    noun="old ward",
    table=VnLegacyWard,
    schema=LegacyWardRead,
    key=Key(("code",), int, Path(ge=1, le=99999, description="Old ward code", examples=[26740])),
    tag=VIETNAM_BEFORE_2025,
    search=("name", "codename"),
    at_init=False,
    get_route=Route(
        "/vn/legacy/wards/{code}",
        "get_vn_legacy_ward",
        "Get an old ward by code",
        "One ward, commune or township (thị trấn) as it was before 1 July 2025.",
    ),
    groups=(
        Grouping(
            "district_code",
            VN_LEGACY_DISTRICTS,
            Route(
                "/vn/legacy/districts/{code}/wards",
                "list_vn_legacy_district_wards",
                "List or search an old district's wards",
                "The wards, communes and townships of one old district, optionally searched by "
                "name; `existed_2025_06_30` is false for those abolished before the reform.",
            ),
        ),
        # For old addresses by names that give no district (app/conversion.py).
        Grouping("province_code", VN_LEGACY_PROVINCES),
    ),
)

# The official conversion (corrected, see alembic/data/SOURCES.md), answered by the routes
# of app/routes/conversion.py: indexes only, no generic routes.
VN_WARD_CONVERSIONS = Dataset(
    name="vn_ward_conversions",
    noun="ward conversion",
    table=VnWardConversion,
    schema=WardConversionRow,
    key=None,
    tag=VIETNAM_BEFORE_2025,
    at_init=False,
    groups=(
        Grouping("old_ward_code", VN_LEGACY_WARDS),
        Grouping("new_ward_code", VN_WARDS),
    ),
)

VN_DISTRICT_CONVERSIONS = Dataset(
    name="vn_district_conversions",
    noun="district conversion",
    table=VnDistrictConversion,
    schema=DistrictConversionRow,
    key=None,
    tag=VIETNAM_BEFORE_2025,
    groups=(
        Grouping("old_district_code", VN_LEGACY_DISTRICTS),
        Grouping("new_ward_code", VN_WARDS),
    ),
)

VN_PROVINCE_CONVERSIONS = Dataset(
    name="vn_province_conversions",
    noun="province conversion",
    table=VnProvinceConversion,
    schema=ProvinceConversionRow,
    key=None,
    tag=VIETNAM_BEFORE_2025,
    groups=(
        Grouping("old_province_code", VN_LEGACY_PROVINCES),
        Grouping("new_province_code", VN_PROVINCES),
    ),
)

SETTINGS = Dataset(
    name="settings",
    noun="setting",
    table=Setting,
    schema=SettingRead,
    key=Key(
        ("key",),
        str,
        Path(pattern=r"^[a-z][a-z0-9_]{0,63}$", examples=["max_order_total_vnd"]),
        name="key",
    ),
    tag=Tag("settings", "Typed business thresholds; amounts in VND."),
    list_route=Route(
        "/settings",
        "list_settings",
        "List settings",
        "Every business setting with its typed value.",
    ),
    get_route=Route(
        "/settings/{key}", "get_setting", "Get a setting by key", "One setting by key."
    ),
    record=_typed_setting,
)

# The registry, in the order /docs, the snapshot and /health's row counts list them.
DATASETS: tuple[Dataset, ...] = (
    COUNTRIES,
    CURRENCIES,
    SUBDIVISIONS,
    VN_PROVINCES,
    VN_WARDS,
    VN_LEGACY_PROVINCES,
    VN_LEGACY_DISTRICTS,
    VN_LEGACY_WARDS,
    VN_WARD_CONVERSIONS,
    VN_DISTRICT_CONVERSIONS,
    VN_PROVINCE_CONVERSIONS,
    SETTINGS,
)
