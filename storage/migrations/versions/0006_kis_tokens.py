"""KIS access tokens persisted per app key, encrypted (issue 12).

Revision ID: 0006
Revises: 0007 (0004 when written; main had 0005 and 0007 by the merges)
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0007"  # 0004 as given; re-chained after main brought 0005 and 0007
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def upgrade() -> None:
    op.create_table(
        "kis_tokens",
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("token_enc", sa.Text(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("issued_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_kis_tokens")),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("kis_tokens")
