"""Seed reference data from alembic/data/*.csv, the default business settings among them.

The CSV files are generated once by scripts/generate_data.py (setting.csv is written by
hand) and committed, so this migration needs neither pycountry nor vietnam-provinces. They
are read by alembic/shared/refdata_seed.py, typed by the columns below; an empty cell is NULL.

Revision ID: a2_reference_seed
Revises: a1_reference_schema
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from refdata_seed import rows

revision: str = "a2_reference_seed"
down_revision: str | None = "a1_reference_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the tables as this revision knows them (never app.models).
country = sa.table(
    "country",
    sa.column("alpha_2", sa.String),
    sa.column("alpha_3", sa.String),
    sa.column("numeric", sa.String),
    sa.column("name", sa.String),
    sa.column("official_name", sa.String),
)
currency = sa.table(
    "currency",
    sa.column("code", sa.String),
    sa.column("numeric", sa.String),
    sa.column("name", sa.String),
)
subdivision = sa.table(
    "subdivision",
    sa.column("code", sa.String),
    sa.column("country_code", sa.String),
    sa.column("name", sa.String),
    sa.column("type", sa.String),
    sa.column("parent_code", sa.String),
)
vn_province = sa.table(
    "vn_province",
    sa.column("code", sa.Integer),
    sa.column("name", sa.String),
    sa.column("division_type", sa.String),
    sa.column("codename", sa.String),
    sa.column("phone_code", sa.Integer),
)
vn_ward = sa.table(
    "vn_ward",
    sa.column("code", sa.Integer),
    sa.column("name", sa.String),
    sa.column("division_type", sa.String),
    sa.column("codename", sa.String),
    sa.column("province_code", sa.Integer),
)
setting = sa.table(
    "setting",
    sa.column("key", sa.String),
    sa.column("value", sa.String),
    sa.column("value_type", sa.String),
    sa.column("description", sa.String),
)
reference_version = sa.table(
    "reference_version",
    sa.column("id", sa.Integer),
    sa.column("version", sa.Integer),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.bulk_insert(country, rows(country))
    op.bulk_insert(currency, rows(currency))
    subdivisions = rows(subdivision)
    # Parents first, so the self-referencing foreign key holds after every statement.
    op.bulk_insert(subdivision, [row for row in subdivisions if row["parent_code"] is None])
    remaining = [row for row in subdivisions if row["parent_code"] is not None]
    inserted = {row["code"] for row in subdivisions if row["parent_code"] is None}
    while remaining:
        ready = [row for row in remaining if row["parent_code"] in inserted]
        if not ready:
            raise RuntimeError("subdivision.csv has parent codes that name no subdivision")
        op.bulk_insert(subdivision, ready)
        inserted.update(row["code"] for row in ready)
        remaining = [row for row in remaining if row["code"] not in inserted]
    op.bulk_insert(vn_province, rows(vn_province))
    op.bulk_insert(vn_ward, rows(vn_ward))
    # The thresholds the order flow prices and validates with (amounts in VND, integers).
    op.bulk_insert(setting, rows(setting))
    op.bulk_insert(reference_version, [{"id": 1, "version": 1, "updated_at": datetime.now(UTC)}])


def downgrade() -> None:
    for table in (reference_version, setting, vn_ward, vn_province, currency):
        op.execute(sa.delete(table))
    # Cut the self-reference first, so deleting parents breaks no foreign key.
    op.execute(sa.update(subdivision).values(parent_code=None))
    op.execute(sa.delete(subdivision))
    op.execute(sa.delete(country))
