"""Hardening: per-user token version, exact (binary) email matching, the process lease.

- ``users.token_version``: a token carries the version it was issued under;
  logout and a password change bump it, so every earlier token is refused.
- ``users.email`` compares byte for byte on MariaDB too (``utf8mb4_bin``):
  emails are normalised once (NFKC, case-folded) before they reach the
  database, so the column's accent- and case-insensitive collation would only
  make ``kím@…`` log into ``kim@…``. Existing rows are normalised here.
- ``leases``: one row per lease name (``process`` for now: one server per
  database), its owner and heartbeat.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _normal(email: str) -> str:
    return unicodedata.normalize("NFKC", email.strip()).casefold()


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"))
    if bind.dialect.name == "mysql":
        op.execute("ALTER TABLE users MODIFY email VARCHAR(254) CHARACTER SET utf8mb4 "
                   "COLLATE utf8mb4_bin NOT NULL")
    users = sa.table("users", sa.column("id", sa.BigInteger()), sa.column("email", sa.String()))
    rows = bind.execute(sa.select(users.c.id, users.c.email)).all()
    taken = {row.email for row in rows}
    for row in rows:
        normal = _normal(row.email)
        if normal != row.email and normal not in taken:  # a clash keeps the old spelling (logs in as typed)
            bind.execute(users.update().where(users.c.id == row.id).values(email=normal))
            taken.add(normal)
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("acquired_at", UTC_DATETIME, nullable=False),
        sa.Column("heartbeat_at", UTC_DATETIME, nullable=False),
        sa.Column("ttl_ms", sa.BigInteger(), nullable=False),  # the holder's: free this long after heartbeat_at
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
        **TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("leases")
    bind = op.get_bind()
    if bind.dialect.name == "mysql":
        op.execute("ALTER TABLE users MODIFY email VARCHAR(254) CHARACTER SET utf8mb4 "
                   "COLLATE utf8mb4_general_ci NOT NULL")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_version")
