"""Who halted an account (issue 13): an owner may not resume an administrator's halt.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("account_risk") as batch:
        # "" (not halted), "owner" or "admin"; halts from before this column count as the owner's
        batch.add_column(sa.Column("halted_by", sa.String(8), nullable=False, server_default=""))
    op.execute("UPDATE account_risk SET halted_by = 'owner' WHERE halted")


def downgrade() -> None:
    with op.batch_alter_table("account_risk") as batch:
        batch.drop_column("halted_by")
