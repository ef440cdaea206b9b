"""Reference tables: countries, currencies, subdivisions, Vietnam's units, settings, version.

Revision ID: a1_reference_schema
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1_reference_schema"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "country",
        sa.Column("alpha_2", sa.String(2), nullable=False),
        sa.Column("alpha_3", sa.String(3), nullable=False),
        sa.Column("numeric", sa.String(3), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("official_name", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("alpha_2", name="pk_country"),
        sa.UniqueConstraint("alpha_3", name="uq_country_alpha_3"),
        sa.UniqueConstraint("numeric", name="uq_country_numeric"),
    )
    op.create_table(
        "currency",
        sa.Column("code", sa.String(3), nullable=False),
        sa.Column("numeric", sa.String(3), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_currency"),
    )
    op.create_table(
        "subdivision",
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("parent_code", sa.String(10), nullable=True),
        sa.PrimaryKeyConstraint("code", name="pk_subdivision"),
        sa.ForeignKeyConstraint(
            ["country_code"], ["country.alpha_2"], name="fk_subdivision_country_code_country"
        ),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["subdivision.code"], name="fk_subdivision_parent_code_subdivision"
        ),
    )
    op.create_index("ix_subdivision_country_code", "subdivision", ["country_code"])
    op.create_table(
        "vn_province",
        sa.Column("code", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("division_type", sa.String(50), nullable=False),
        sa.Column("codename", sa.String(100), nullable=False),
        sa.Column("phone_code", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_vn_province"),
    )
    op.create_table(
        "vn_ward",
        sa.Column("code", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("division_type", sa.String(50), nullable=False),
        sa.Column("codename", sa.String(100), nullable=False),
        sa.Column("province_code", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_vn_ward"),
        sa.ForeignKeyConstraint(
            ["province_code"], ["vn_province.code"], name="fk_vn_ward_province_code_vn_province"
        ),
    )
    op.create_index("ix_vn_ward_province_code", "vn_ward", ["province_code"])
    op.create_table(
        "setting",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(500), nullable=False),
        sa.Column("value_type", sa.String(8), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_setting"),
        sa.CheckConstraint("value_type IN ('int', 'str', 'bool')", name="ck_setting_value_type"),
    )
    op.create_table(
        "reference_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reference_version"),
        sa.CheckConstraint("id = 1", name="ck_reference_version_single_row"),
    )


def downgrade() -> None:
    op.drop_table("reference_version")
    op.drop_table("setting")
    op.drop_index("ix_vn_ward_province_code", table_name="vn_ward")
    op.drop_table("vn_ward")
    op.drop_table("vn_province")
    op.drop_index("ix_subdivision_country_code", table_name="subdivision")
    op.drop_table("subdivision")
    op.drop_table("currency")
    op.drop_table("country")
