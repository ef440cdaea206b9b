"""ORM tables. The migrations in alembic/ carry frozen copies; tests check the two agree."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base


class Country(Base):
    """ISO 3166-1."""

    __tablename__ = "country"

    alpha_2: Mapped[str] = mapped_column(String(2), primary_key=True)
    alpha_3: Mapped[str] = mapped_column(String(3), unique=True)
    numeric: Mapped[str] = mapped_column(String(3), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    official_name: Mapped[str | None] = mapped_column(String(200))


class Currency(Base):
    """ISO 4217."""

    __tablename__ = "currency"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    numeric: Mapped[str] = mapped_column(String(3))
    name: Mapped[str] = mapped_column(String(100))


class Subdivision(Base):
    """ISO 3166-2. Vietnam appears here with its pre-2025 provinces; see VnProvince."""

    __tablename__ = "subdivision"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    country_code: Mapped[str] = mapped_column(ForeignKey("country.alpha_2"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(100))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("subdivision.code"))


class VnProvince(Base):
    """Vietnam's provinces and centrally-run cities after the 2025 reform."""

    __tablename__ = "vn_province"

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    division_type: Mapped[str] = mapped_column(String(50))
    codename: Mapped[str] = mapped_column(String(100))
    phone_code: Mapped[int] = mapped_column(Integer)


class VnWard(Base):
    """Vietnam's wards, communes and special zones, directly under a province since 2025."""

    __tablename__ = "vn_ward"

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    division_type: Mapped[str] = mapped_column(String(50))
    codename: Mapped[str] = mapped_column(String(100))
    province_code: Mapped[int] = mapped_column(ForeignKey("vn_province.code"), index=True)


class VnLegacyProvince(Base):
    """Vietnam's 63 provinces before 1 July 2025."""

    __tablename__ = "vn_legacy_province"

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(128))
    division_type: Mapped[str] = mapped_column(String(32))
    codename: Mapped[str] = mapped_column(String(128))
    phone_code: Mapped[int] = mapped_column(Integer)


class VnLegacyDistrict(Base):
    """Vietnam's 696 districts before 1 July 2025 (the reform removed the level)."""

    __tablename__ = "vn_legacy_district"

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(128))
    division_type: Mapped[str] = mapped_column(String(32))
    codename: Mapped[str] = mapped_column(String(128))
    province_code: Mapped[int] = mapped_column(ForeignKey("vn_legacy_province.code"), index=True)


class VnLegacyWard(Base):
    """Vietnam's wards and communes before 1 July 2025: the January 2025 list, plus those
    created by June (`listed_2025_01` false); those abolished by June have
    `existed_2025_06_30` false."""

    __tablename__ = "vn_legacy_ward"

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(128))
    division_type: Mapped[str] = mapped_column(String(32))
    codename: Mapped[str] = mapped_column(String(128))
    district_code: Mapped[int] = mapped_column(ForeignKey("vn_legacy_district.code"), index=True)
    province_code: Mapped[int] = mapped_column(ForeignKey("vn_legacy_province.code"))
    listed_2025_01: Mapped[bool] = mapped_column(Boolean)
    existed_2025_06_30: Mapped[bool] = mapped_column(Boolean)


class VnWardConversion(Base):
    """How an old ward went into a new one (official conversion table, corrected)."""

    __tablename__ = "vn_ward_conversion"
    __table_args__ = (CheckConstraint("kind IN ('whole', 'part', 'unchanged')", name="kind"),)

    old_ward_code: Mapped[int] = mapped_column(ForeignKey("vn_legacy_ward.code"), primary_key=True)
    new_ward_code: Mapped[int] = mapped_column(
        ForeignKey("vn_ward.code"), primary_key=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    # "Part of the area, but the whole population": the default successor of a split ward.
    whole_population: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(255))


class VnDistrictConversion(Base):
    """District-level rows of the table: island districts re-formed as special zones."""

    __tablename__ = "vn_district_conversion"
    __table_args__ = (CheckConstraint("kind IN ('whole', 'part', 'unchanged')", name="kind"),)

    old_district_code: Mapped[int] = mapped_column(
        ForeignKey("vn_legacy_district.code"), primary_key=True
    )
    new_ward_code: Mapped[int] = mapped_column(ForeignKey("vn_ward.code"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(255))


class VnProvinceConversion(Base):
    """Old province → the new province it went into (each went whole into one)."""

    __tablename__ = "vn_province_conversion"

    old_province_code: Mapped[int] = mapped_column(
        ForeignKey("vn_legacy_province.code"), primary_key=True
    )
    new_province_code: Mapped[int] = mapped_column(ForeignKey("vn_province.code"), primary_key=True)


class Setting(Base):
    """A typed business threshold; `value` is text, parsed by `value_type`."""

    __tablename__ = "setting"
    __table_args__ = (CheckConstraint("value_type IN ('int', 'str', 'bool')", name="value_type"),)

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(500))
    value_type: Mapped[str] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(String(500))


class ReferenceVersion(Base):
    """One row; its number changes whenever any reference data changes."""

    __tablename__ = "reference_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Order(Base):
    """A placed order as it was accepted and priced; never updated.

    The table is `customer_order` because ORDER is a reserved word in SQL. Lines are one JSON
    array on the row, so an order is written by a single INSERT on every backend.
    """

    __tablename__ = "customer_order"
    __table_args__ = (
        CheckConstraint("item_count >= 1", name="item_count_positive"),
        CheckConstraint("weight_grams >= 1", name="weight_positive"),
        CheckConstraint("subtotal_vnd >= 0", name="subtotal_not_negative"),
        CheckConstraint("shipping_fee_vnd >= 0", name="shipping_fee_not_negative"),
        CheckConstraint("total_vnd = subtotal_vnd + shipping_fee_vnd", name="total_adds_up"),
        Index("ix_customer_order_created_at_id", "created_at", "id"),  # newest-first pages
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # UNIQUE, so a retried or concurrent request with the same key can never add a second row.
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    reference_version: Mapped[int] = mapped_column(Integer)
    province_code: Mapped[int] = mapped_column(Integer)
    ward_code: Mapped[int] = mapped_column(Integer)
    street: Mapped[str] = mapped_column(String(200))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))
    item_count: Mapped[int] = mapped_column(Integer)
    weight_grams: Mapped[int] = mapped_column(Integer)
    subtotal_vnd: Mapped[int] = mapped_column(BigInteger)
    shipping_fee_vnd: Mapped[int] = mapped_column(BigInteger)
    total_vnd: Mapped[int] = mapped_column(BigInteger)
