"""The hot path's transactions (storage.db.transaction): committed before they return, a failing one
alone rolled back, and on SQLite the ones that queue together sharing one commit (the writer thread)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from engine.journal import KeyTaken, NewOrder
from storage import SqlJournal
from storage.db import _sqlite_writer, transaction
from storage.models import OrderRow
from tests.storage.helpers import paper_account


@pytest.fixture
async def account_id(session_factory, db_settings):
    return await paper_account(session_factory, db_settings, "hot@example.com", 1_000_000)


def _new(account_id: int, key: str) -> NewOrder:
    return NewOrder(account_id=account_id, client_order_id=key, fingerprint="f", source="rest", code="005930",
                    side="buy", quantity=1, price=None, created_ms=1)


async def _count(session_factory) -> int:
    async with session_factory() as session:
        return await session.scalar(select(func.count()).select_from(OrderRow))


async def test_inserts_at_once_each_commit_and_a_taken_key_fails_alone(session_factory, engine, account_id):
    journal = SqlJournal(session_factory)
    await journal.create(_new(account_id, "first"))
    writer = _sqlite_writer(engine)  # None on MariaDB: each its own transaction through run_sync
    before = (writer.batches, writer.bodies) if writer is not None else None
    keys = [f"k{i}" for i in range(12)] + ["first"]  # the last one's key is taken
    got = await asyncio.gather(*(journal.create(_new(account_id, k)) for k in keys), return_exceptions=True)
    assert [type(g).__name__ for g in got] == ["Order"] * 12 + ["KeyTaken"]
    assert isinstance(got[-1], KeyTaken)
    assert len({g.id for g in got[:12]}) == 12
    assert await _count(session_factory) == 13  # every one answered was committed; the taken key: nothing
    if writer is not None:
        batches, bodies = writer.batches - before[0], writer.bodies - before[1]
        assert bodies == 13 and batches < bodies  # the ones that queued shared a commit


async def test_a_body_that_raises_leaves_nothing_and_the_error_reaches_its_caller(session_factory,
                                                                                  account_id):
    journal = SqlJournal(session_factory)
    order = await journal.create(_new(account_id, "kept"))

    def half_then_fail(conn):
        from storage.orders import _create_in

        _create_in(conn, _new(account_id, "lost"), None)
        raise ValueError("refused after its first statement")

    results = await asyncio.gather(transaction(session_factory, half_then_fail),
                                   journal.create(_new(account_id, "next")), return_exceptions=True)
    assert isinstance(results[0], ValueError) and results[1].id > order.id
    assert await journal.find(account_id, "lost") is None
    assert await _count(session_factory) == 2
