"""Order lifecycle: cancel/modify intents journalled on the order, and the ``expired`` status.

``orders.action`` is the change asked of the broker and not yet confirmed
(``""``, ``cancel`` or ``modify``), with ``action_price`` / ``action_quantity``
(the modify's new price and total quantity) and ``action_ms``; it is written
before the broker hears of it, so reconciliation after a crash finds it.
``orders.status`` and ``paper_orders.status`` gain ``expired`` (a day order's
remainder at the session close).

Revision ID: 0007
Revises: 0005 (given 0004; main has 0005)
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0005"  # 0004 as given; re-chained after main brought 0005
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "'pending', 'accepted', 'partially_filled', 'filled', 'rejected', 'cancelled', 'unknown'"
NEW = OLD + ", 'expired'"
PAPER_OLD = "'open', 'filled', 'cancelled'"
PAPER_NEW = PAPER_OLD + ", 'expired'"


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f("ck_orders_status"), type_="check")
        batch.create_check_constraint("status", f"status IN ({NEW})")
        batch.add_column(sa.Column("action", sa.String(8), nullable=False, server_default=""))
        batch.add_column(sa.Column("action_price", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("action_quantity", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("action_ms", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("paper_orders") as batch:
        batch.drop_constraint(op.f("ck_paper_orders_status"), type_="check")
        batch.create_check_constraint("status", f"status IN ({PAPER_NEW})")


def downgrade() -> None:
    op.execute("UPDATE orders SET status = 'cancelled' WHERE status = 'expired'")
    op.execute("UPDATE paper_orders SET status = 'cancelled' WHERE status = 'expired'")
    with op.batch_alter_table("paper_orders") as batch:
        batch.drop_constraint(op.f("ck_paper_orders_status"), type_="check")
        batch.create_check_constraint("status", f"status IN ({PAPER_OLD})")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("action_ms")
        batch.drop_column("action_quantity")
        batch.drop_column("action_price")
        batch.drop_column("action")
        batch.drop_constraint(op.f("ck_orders_status"), type_="check")
        batch.create_check_constraint("status", f"status IN ({OLD})")
