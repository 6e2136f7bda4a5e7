"""A feed started after a restart folds the stored 1Min bars of today back into its forming 1D
(and 1H, ...) bar once it loads its history: GET /realtime/ohlc's daily bar has no hole."""

from __future__ import annotations

from actors.market_feed import GetBars, LoadHistory, MarketFeed
from engine.market.messages import Bar, Tick
from engine.runtime import ActorSystem, ManualClock
from tests.actors.helpers import ClockSource, Sink

START = 1_749_772_800_000  # 2025-06-13 09:00 KST
RESTART = START + 3_600_000 + 30 * 60_000  # 10:30


async def test_the_forming_daily_bar_keeps_the_volume_stored_before_the_restart():
    clock = ManualClock()
    system = ActorSystem(clock=clock)
    stored = [Bar("005930", "1Min", START + i * 60_000, 70_000, 70_100, 69_900, 70_050, 1_000) for i in range(90)]

    async def load(code: str, size: str, n: int) -> list[Bar]:
        return stored[-n:] if size == "1Min" else []

    hub = system.spawn("/feeds", Sink)
    feed = system.spawn("/feeds/005930", lambda: MarketFeed("005930", ClockSource(clock), hub, None, load, 600))
    for i in range(10):
        feed.tell(Tick("005930", RESTART + i * 1_000, 70_010 + i, 50, 0, 0, 0, 0))
    before = await feed.ask(GetBars("1D", 1), 1)
    assert before[-1].volume == 500  # the live part only: the hole the restart made
    await (await feed.ask(LoadHistory(), 1))
    daily = (await feed.ask(GetBars("1D", 1), 1))[-1]
    assert (daily.volume, daily.open, daily.close) == (90_000 + 500, 70_000, 70_019)
    assert daily.start_ms == START - 9 * 3_600_000  # around the clock: the KST day
    hourly = (await feed.ask(GetBars("1H", 1), 1))[-1]
    assert (hourly.start_ms, hourly.volume) == (START + 3_600_000, 30 * 1_000 + 500)
    await system.shutdown(1)
