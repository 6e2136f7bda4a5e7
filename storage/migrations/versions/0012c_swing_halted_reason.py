"""Why a swing is halted (issue 11): ``swings.halted_reason``, null unless the swing is halted.

Until now only the swing's ``halted`` event said why. A swing halted before this
column takes the reason of its latest ``halted`` event.

Revision ID: 0012c
Revises: 0011b
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012c"
down_revision: str | Sequence[str] | None = "0011b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("swings") as batch:
        batch.add_column(sa.Column("halted_reason", sa.Text(), nullable=True))
    op.execute(
        "UPDATE swings SET halted_reason = (SELECT e.reason FROM swing_events e WHERE e.swing_id = swings.id "
        "AND e.kind = 'halted' ORDER BY e.id DESC LIMIT 1) WHERE status = 'halted'")


def downgrade() -> None:
    # batch mode copies ``swings`` on SQLite; storage.db runs migrations with foreign keys off, so
    # dropping the old table deletes none of the swings' events
    with op.batch_alter_table("swings") as batch:
        batch.drop_column("halted_reason")
