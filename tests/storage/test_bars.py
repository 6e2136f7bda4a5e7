"""BarRepo on both databases: idempotent upserts and recent history oldest first."""

from __future__ import annotations

from engine.market.messages import Bar
from storage.bars import BarRepo

MINUTE = 60_000


def _bar(i: int, *, code: str = "005930", size: str = "1Min", close: int | None = None) -> Bar:
    price = 70_000 + i * 100
    start = 1_700_000_000_000 + i * MINUTE
    return Bar(code, size, start, price, price + 50, price - 50, close or price, 1_000 + i)


async def test_upsert_is_idempotent_and_overwrites(session_factory) -> None:
    bars = [_bar(i) for i in range(5)]
    async with session_factory.begin() as session:
        assert await BarRepo(session).upsert_many(bars) == 5
    async with session_factory.begin() as session:
        await BarRepo(session).upsert_many(bars)
        await BarRepo(session).upsert_many([_bar(4, close=99_999)])
    async with session_factory() as session:
        stored = await BarRepo(session).recent("005930", "1Min", 100)
    assert stored == bars[:4] + [_bar(4, close=99_999)]


async def test_recent_is_the_latest_n_oldest_first_per_code_and_size(session_factory) -> None:
    async with session_factory.begin() as session:
        repo = BarRepo(session)
        await repo.upsert_many(reversed([_bar(i) for i in range(10)]))
        await repo.upsert_many([_bar(i, size="5Min") for i in range(3)])
        await repo.upsert_many([_bar(i, code="000660") for i in range(3)])
    async with session_factory() as session:
        repo = BarRepo(session)
        assert await repo.recent("005930", "1Min", 3) == [_bar(7), _bar(8), _bar(9)]
        assert len(await repo.recent("005930", "5Min", 10)) == 3
        assert await repo.recent("035720", "1Min", 10) == []


async def test_upsert_many_in_chunks_and_empty(session_factory) -> None:
    many = [_bar(i) for i in range(1_234)]
    async with session_factory.begin() as session:
        assert await BarRepo(session).upsert_many([]) == 0
        assert await BarRepo(session).upsert_many(many) == 1_234
    async with session_factory() as session:
        assert await BarRepo(session).recent("005930", "1Min", 2_000) == many
