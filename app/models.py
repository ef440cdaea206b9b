"""ORM tables. The migrations in alembic/ carry frozen copies; tests check the two agree."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


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
