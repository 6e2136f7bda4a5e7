"""Orders: the journal (orders, fills), the paper broker's book and positions, risk overrides.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}
STATUSES = "'pending', 'accepted', 'partially_filled', 'filled', 'rejected', 'cancelled', 'unknown'"


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["accounts.id"], name=op.f(f"fk_{table}_account_id_accounts"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("broker_order_no", sa.String(32), nullable=True),
        sa.Column("filled_quantity", sa.BigInteger(), nullable=False),
        sa.Column("filled_value", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_orders_side")),
        sa.CheckConstraint(f"status IN ({STATUSES})", name=op.f("ck_orders_status")),
        _account_fk("orders"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("account_id", "client_order_id",
            name=op.f("uq_orders_account_id_client_order_id")),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_orders_account_id_status", "orders", ["account_id", "status"])
    op.create_table(
        "fills",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("commission", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("realized_pnl", sa.BigInteger(), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_fills_order_id_orders"), ondelete="CASCADE"
        ),
        _account_fk("fills"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_fills_order_id", "fills", ["order_id"])
    op.create_index("ix_fills_account_id_ts_ms", "fills", ["account_id", "ts_ms"])
    op.create_table(
        "paper_orders",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("filled_quantity", sa.BigInteger(), nullable=False),
        sa.Column("filled_value", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("accepted_ms", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("status IN ('open', 'filled', 'cancelled')", name=op.f("ck_paper_orders_status")),
        _account_fk("paper_orders"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_orders")),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_paper_orders_account_id_status", "paper_orders", ["account_id", "status"])
    op.create_table(
        "positions",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("average_price", sa.BigInteger(), nullable=False),
        _account_fk("positions"),
        sa.PrimaryKeyConstraint("account_id", "code", name=op.f("pk_positions")),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "account_risk",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("halted", sa.Boolean(), nullable=False),
        sa.Column("halted_reason", sa.String(255), nullable=False),
        sa.Column("max_order_value", sa.BigInteger(), nullable=True),
        sa.Column("max_position_value", sa.BigInteger(), nullable=True),
        sa.Column("daily_loss_limit", sa.BigInteger(), nullable=True),
        _account_fk("account_risk"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_risk")),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    # dropping a table drops its indexes (MariaDB refuses to drop one a foreign key uses first)
    for table in ("account_risk", "positions", "paper_orders", "fills", "orders"):
        op.drop_table(table)
