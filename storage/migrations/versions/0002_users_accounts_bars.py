"""Users, broker accounts (secrets encrypted) and closed bars.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("role IN ('user', 'admin')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "accounts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("broker", sa.String(16), nullable=False),
        sa.Column("paper_trading", sa.Boolean(), nullable=False),
        sa.Column("account_number_enc", sa.Text(), nullable=False),
        sa.Column("account_number_hash", sa.String(64), nullable=False),
        sa.Column("account_number_mask", sa.String(16), nullable=False),
        sa.Column("hts_id", sa.String(64), nullable=True),
        sa.Column("app_key_enc", sa.Text(), nullable=False),
        sa.Column("app_secret_enc", sa.Text(), nullable=False),
        sa.Column("app_key_mask", sa.String(16), nullable=False),
        sa.Column("cash_balance", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("broker IN ('paper', 'kis')", name=op.f("ck_accounts_broker")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_accounts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint(
            "user_id", "account_number_hash", name=op.f("uq_accounts_user_id_account_number_hash")
        ),
        **TABLE_OPTIONS,
    )
    op.create_table(
        "bars",
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("size", sa.String(8), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("open", sa.BigInteger(), nullable=False),
        sa.Column("high", sa.BigInteger(), nullable=False),
        sa.Column("low", sa.BigInteger(), nullable=False),
        sa.Column("close", sa.BigInteger(), nullable=False),
        sa.Column("volume", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("code", "size", "start_ms", name=op.f("pk_bars")),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("bars")
    op.drop_table("accounts")
    op.drop_table("users")
