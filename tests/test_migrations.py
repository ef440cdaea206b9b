"""Alembic creates, seeds and removes the schema cleanly, and agrees with app.models."""

from __future__ import annotations

from collections.abc import Iterable

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

import app.models  # noqa: F401 -- registers the tables on Base.metadata
from app.db import Base
from harness.databases import Database, downgrade, migrate

EXPECTED_ROWS = {
    "country": 249,
    "currency": 178,
    "subdivision": 5046,
    "vn_province": 34,
    "vn_ward": 3321,
    "setting": 8,
    "reference_version": 1,
    # Vietnam before 1 July 2025 (a4_vn_legacy).
    "vn_legacy_province": 63,
    "vn_legacy_district": 696,
    "vn_legacy_ward": 10_051 + 10,  # the January 2025 list, and 10 created by June
    "vn_ward_conversion": 10_565,
    "vn_district_conversion": 6,
    "vn_province_conversion": 63,
}
LEGACY = {table for table in EXPECTED_ROWS if "legacy" in table or "conversion" in table}


def row_counts(url: str, names: Iterable[str] = EXPECTED_ROWS) -> dict[str, int]:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
            for table in names
        }
    engine.dispose()
    return counts


def tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_the_migrated_database_holds_every_reference_row(database: Database) -> None:
    assert row_counts(database.url) == EXPECTED_ROWS


def test_upgrade_downgrade_upgrade_round_trip(blank_database: Database) -> None:
    url = blank_database.url
    migrate(url)
    assert row_counts(url) == EXPECTED_ROWS
    downgrade(url, "a3_orders")
    assert not tables(url) & LEGACY
    downgrade(url, "a1_reference_schema")
    assert set(row_counts(url, set(EXPECTED_ROWS) - LEGACY).values()) == {0}
    downgrade(url, "base")
    assert tables(url) <= {"alembic_version"}
    migrate(url)
    assert row_counts(url) == EXPECTED_ROWS


def test_vietnam_wards_all_belong_to_a_known_province(database: Database) -> None:
    engine = create_engine(database.url, poolclass=NullPool)
    with engine.connect() as conn:
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM vn_ward w"
                " LEFT JOIN vn_province p ON p.code = w.province_code WHERE p.code IS NULL"
            )
        ).scalar_one()
        hcmc = conn.execute(text("SELECT name FROM vn_province WHERE code = 79")).scalar_one()
    engine.dispose()
    assert orphans == 0
    assert hcmc == "Thành phố Hồ Chí Minh"


def test_models_match_the_migrated_schema(database: Database) -> None:
    engine = create_engine(database.url, poolclass=NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []
