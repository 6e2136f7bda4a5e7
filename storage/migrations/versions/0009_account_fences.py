"""Cluster mode: per-account fencing tokens (issue 16).

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0006"  # "0004" as issued; re-chained at the merge (0005 → 0007 → 0006 → 0009)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def upgrade() -> None:
    op.create_table(
        "account_fences",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("claimed_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_account_fences_account_id_accounts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_fences")),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("account_fences")
