"""A restart in the middle of a minute loses no volume of that minute: the feed hands its forming
1Min bar to the bar writer (every few seconds while trades come, and when it stops, never per
trade) and a restarted feed takes it back, so the stored 1Min bars and the forming 1H/1D equal
an uninterrupted run's."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from actors.bar_writer import BarWriter
from actors.market_feed import FORMING_SAVE_S, GetBars, LoadHistory, MarketFeed
from engine.market.bars import BarAggregator
from engine.market.krx import BAR_SIZES
from engine.market.messages import Bar, Tick
from engine.runtime import ActorSystem, ManualClock
from tests.actors.helpers import ClockSource, Sink

pytestmark = pytest.mark.timeout(30)

T0 = 1_749_776_400_000  # 2025-06-13 10:00 KST
RESTART = T0 + 2 * 60_000 + 30_000  # 10:02:30, inside a minute
END = T0 + 5 * 60_000 + 20_000


class Store:
    """The bars table: upserts by (code, size, start)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, int], Bar] = {}
        self.saved = 0
        self.gate: asyncio.Event | None = None  # set: reads wait for it (a slow database)

    async def save(self, bars: list[Bar]) -> int:
        self.saved += len(bars)
        for bar in bars:
            self.rows[(bar.code, bar.size, bar.start_ms)] = bar
        return len(bars)

    async def load(self, code: str, size: str, n: int) -> list[Bar]:
        if self.gate is not None:
            await self.gate.wait()
        bars = sorted((b for (c, s, _), b in self.rows.items() if c == code and s == size), key=lambda b: b.start_ms)
        return bars[-n:]


def _ticks(start: int, end: int, seed: int) -> list[Tick]:
    rng = random.Random(seed)
    out, ts, price = [], start, 70_000 + seed * 10
    while ts < end:
        price += rng.choice((-10, 0, 10))
        out.append(Tick("005930", ts, price, rng.randint(1, 500), 0, 0, 0, 0))
        ts += rng.randint(300, 2_000)
    return out


def _system(clock: ManualClock, store: Store) -> tuple[ActorSystem, Any]:
    system = ActorSystem(clock=clock)
    writer = system.spawn("/bars", lambda: BarWriter(store.save, interval_s=1.0))
    hub = system.spawn("/feeds", Sink)
    feed = system.spawn("/feeds/005930", lambda: MarketFeed(
        "005930", ClockSource(clock), hub, writer, store.load, 600, load_stored=store.load))
    return system, feed


async def _play(clock: ManualClock, feed: Any, ticks: list[Tick]) -> None:
    for tick in ticks:
        await clock.advance((tick.ts_ms - clock.now_ms()) / 1000)
        feed.tell(tick)
    await clock.settle()


@pytest.mark.parametrize("slow", [False, True], ids=["stored-bar-first", "trades-before-the-stored-bar"])
async def test_a_restart_mid_minute_loses_no_volume_in_the_1min_1h_and_1d_bars(slow):
    before, after = _ticks(T0, RESTART, 1), _ticks(RESTART + 400, END, 2)
    whole = BarAggregator("005930", BAR_SIZES, 600, sessions=False)  # as the feed: the demo market
    for tick in before + after:
        whole.add(tick)
    whole.flush(T0 + 6 * 60_000)

    clock, store = ManualClock(T0), Store()
    system, feed = _system(clock, store)
    await _play(clock, feed, before)
    await system.shutdown(5)  # the restart, 10:02:30
    partial = store.rows[("005930", "1Min", T0 + 2 * 60_000)]
    assert partial.volume == sum(t.volume for t in before if t.ts_ms >= T0 + 2 * 60_000)

    if slow:  # trades of the minute reach the restarted feed before its stored forming bar
        store.gate = asyncio.Event()
    system, feed = _system(clock, store)
    await _play(clock, feed, after[:5])
    if slow:
        assert (await feed.ask(GetBars("1Min", 600), 1)) == []  # held, not yet aggregated
        store.gate.set()
    await _play(clock, feed, after[5:])
    await clock.advance((T0 + 6 * 60_000 - clock.now_ms()) / 1000 + 2)  # minutes close, the writer writes
    await (await feed.ask(LoadHistory(), 1))

    stored = await store.load("005930", "1Min", 600)
    assert stored == whole.history("1Min")  # every minute, the restart's one too, volume included
    assert len(stored) == 6
    for size in ("1H", "1D"):
        got, want = (await feed.ask(GetBars(size, 1), 1))[-1], whole.current(size)
        assert got == want, size
    assert whole.current("1D").volume == sum(t.volume for t in before + after)
    await system.shutdown(5)


async def test_the_forming_bar_is_saved_at_a_bounded_interval_not_per_trade():
    clock, store = ManualClock(T0), Store()
    system, feed = _system(clock, store)
    ticks = _ticks(T0 + 1_000, T0 + 50_000, 3)  # one minute, no close yet
    await _play(clock, feed, ticks)
    await clock.advance(FORMING_SAVE_S + 1.5)  # the snapshot timer, then the writer's flush
    row = store.rows[("005930", "1Min", T0)]
    assert row.volume == sum(t.volume for t in ticks) and row.close == ticks[-1].price
    assert len(ticks) > 40 and store.saved <= 50 / FORMING_SAVE_S + 2  # no write per trade
    await system.shutdown(5)
