"""Alembic creates, seeds and removes the schema cleanly, and agrees with app.models."""

from __future__ import annotations

import csv
from collections.abc import Iterable

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

import app.models  # noqa: F401 -- registers the tables on Base.metadata
from app.datasets import DATASETS
from app.kit.db import Base
from harness import REPO
from harness.databases import Database, downgrade, migrate

DATA = REPO / "alembic" / "data"


def seeded_rows() -> dict[str, int]:
    """The rows each seed file holds: what the migrations insert into its table (counted from
    the files, not typed again here)."""
    counts = {}
    for path in sorted(DATA.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            counts[path.stem] = sum(1 for _ in csv.DictReader(f))
    return counts


# Every seeded table, and the version row a2_reference_seed writes.
EXPECTED_ROWS = {**seeded_rows(), "reference_version": 1}


def revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(Config(str(REPO / "alembic.ini")))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


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


def test_every_declared_dataset_has_a_migration_and_a_seed(database: Database) -> None:
    declared = {dataset.table.__tablename__ for dataset in DATASETS}
    assert declared - tables(database.url) == set(), "declared, but no migration creates it"
    assert declared - set(EXPECTED_ROWS) == set(), "declared, but no alembic/data/<table>.csv"


def test_upgrade_downgrade_upgrade_round_trip(blank_database: Database) -> None:
    url = blank_database.url
    migrate(url)
    assert row_counts(url) == EXPECTED_ROWS
    present = tables(url)
    for revision in reversed(revisions()[:-1]):  # down one revision at a time
        downgrade(url, revision)
        now = tables(url)
        assert now <= present, f"downgrading to {revision} created {now - present}"
        present = now
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
