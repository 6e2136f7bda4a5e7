"""Auto swings: registrations with their SIGNAL state and intent, and the event log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def upgrade() -> None:
    op.create_table(
        "swings",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("stock_code", sa.String(12), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("signal_state", sa.Integer(), nullable=False),
        sa.Column("last_decision", sa.String(8), nullable=True),
        sa.Column("shares", sa.BigInteger(), nullable=False),
        sa.Column("avg_cost", sa.BigInteger(), nullable=False),
        sa.Column("stage2_shares", sa.BigInteger(), nullable=False),
        sa.Column("realized_pnl", sa.BigInteger(), nullable=False),
        sa.Column("order_seq", sa.Integer(), nullable=False),
        sa.Column("intent_order_id", sa.String(64), nullable=True),
        sa.Column("intent_decision", sa.Text(), nullable=True),
        sa.Column("last_bar_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("signal_state BETWEEN 0 AND 3", name=op.f("ck_swings_signal_state")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_swings_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_swings_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_swings")),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_swings_user_id_updated_at", "swings", ["user_id", "updated_at"])
    op.create_table(
        "swing_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("swing_id", ID, nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("bar_start_ms", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("signal_before", sa.Integer(), nullable=False),
        sa.Column("signal_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("indicators", sa.Text(), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["swing_id"], ["swings.id"], name=op.f("fk_swing_events_swing_id_swings"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_swing_events")),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_swing_events_swing_id_id", "swing_events", ["swing_id", "id"])


def downgrade() -> None:
    op.drop_table("swing_events")  # its indexes go with it (MariaDB refuses to drop an FK's index first)
    op.drop_table("swings")
