"""Closed bars: idempotent upserts by (code, size, start_ms), and the recent history.

Works on :class:`engine.market.messages.Bar` directly. ``upsert_many`` is one
``INSERT ... ON CONFLICT DO UPDATE`` (SQLite) or ``INSERT ... ON DUPLICATE KEY
UPDATE`` (MySQL/MariaDB) per chunk, so writing the same bar twice keeps one row
with the latest values. Like every repository, :class:`BarRepo` works inside
the caller's session and transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from engine.market.messages import Bar
from storage.models import BarRow

CHUNK = 500
_VALUES = ("open", "high", "low", "close", "volume")
_COLUMNS = ("code", "size", "start_ms", *_VALUES)  # Bar's field order


class BarRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def upsert_many(self, bars: Iterable[Bar]) -> int:
        """Insert or overwrite ``bars``; returns how many were given."""
        rows = [{name: getattr(bar, name) for name in _COLUMNS} for bar in bars]
        dialect = self.session.bind.dialect.name
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            if dialect == "sqlite":
                insert = sqlite.insert(BarRow).values(chunk)
                statement = insert.on_conflict_do_update(
                    index_elements=["code", "size", "start_ms"],
                    set_={name: insert.excluded[name] for name in _VALUES},
                )
            elif dialect == "mysql":
                insert = mysql.insert(BarRow).values(chunk)
                statement = insert.on_duplicate_key_update({name: insert.inserted[name] for name in _VALUES})
            else:
                raise ValueError(f"bars upsert supports sqlite and mysql, not {dialect}")
            await self.session.execute(statement)
        return len(rows)

    async def recent(self, code: str, size: str, n: int) -> list[Bar]:
        """The ``n`` latest bars of ``code`` at ``size``, oldest first."""
        columns = [getattr(BarRow, name) for name in _COLUMNS]
        rows = (
            await self.session.execute(
                select(*columns)
                .where(BarRow.code == code, BarRow.size == size)
                .order_by(BarRow.start_ms.desc())
                .limit(n)
            )
        ).all()
        return [Bar(*row) for row in reversed(rows)]
