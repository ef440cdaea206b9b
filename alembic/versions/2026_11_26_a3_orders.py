"""Orders: one row per order, its lines as JSON, money and quantities as checked integers.

Revision ID: a3_orders
Revises: a2_reference_seed
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a3_orders"
down_revision: str | None = "a2_reference_seed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_order",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("reference_version", sa.Integer(), nullable=False),
        sa.Column("province_code", sa.Integer(), nullable=False),
        sa.Column("ward_code", sa.Integer(), nullable=False),
        sa.Column("street", sa.String(200), nullable=False),
        sa.Column(
            "lines", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("weight_grams", sa.Integer(), nullable=False),
        sa.Column("subtotal_vnd", sa.BigInteger(), nullable=False),
        sa.Column("shipping_fee_vnd", sa.BigInteger(), nullable=False),
        sa.Column("total_vnd", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customer_order"),
        sa.UniqueConstraint("idempotency_key", name="uq_customer_order_idempotency_key"),
        sa.CheckConstraint("item_count >= 1", name="ck_customer_order_item_count_positive"),
        sa.CheckConstraint("weight_grams >= 1", name="ck_customer_order_weight_positive"),
        sa.CheckConstraint("subtotal_vnd >= 0", name="ck_customer_order_subtotal_not_negative"),
        sa.CheckConstraint(
            "shipping_fee_vnd >= 0", name="ck_customer_order_shipping_fee_not_negative"
        ),
        sa.CheckConstraint(
            "total_vnd = subtotal_vnd + shipping_fee_vnd", name="ck_customer_order_total_adds_up"
        ),
    )
    op.create_index("ix_customer_order_created_at_id", "customer_order", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_customer_order_created_at_id", table_name="customer_order")
    op.drop_table("customer_order")
