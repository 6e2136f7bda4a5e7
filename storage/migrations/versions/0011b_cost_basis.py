"""The exact cost basis of holdings and swings (issue 11 §5): realised P&L is the cash round trip.

``positions.cost_basis`` and ``swings.cost_basis`` are the integer-won totals the
shares held cost, buy commission included (:mod:`engine.pnl`). Rows from before
this column knew only the average price, fees excluded: they start from
quantity × average price (their buy commissions were never kept).

Revision ID: 0011b
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011b"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("positions") as batch:
        batch.add_column(sa.Column("cost_basis", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("UPDATE positions SET cost_basis = quantity * average_price")
    with op.batch_alter_table("swings") as batch:
        batch.add_column(sa.Column("cost_basis", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("UPDATE swings SET cost_basis = shares * avg_cost")


def downgrade() -> None:
    with op.batch_alter_table("swings") as batch:
        batch.drop_column("cost_basis")
    with op.batch_alter_table("positions") as batch:
        batch.drop_column("cost_basis")
