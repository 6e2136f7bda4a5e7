import asyncio
from pathlib import Path

import pandas as pd
import pytest

from engine.brokers.replay import ReplayMarket, bar_trades, load_minute_bars
from engine.market.bars import BarAggregator
from engine.market.krx import KST, pandas_alias
from engine.market.messages import Bar, Quote, Tick
from engine.runtime.clock import ManualClock
from engine.settings import Settings
from tests.helpers import data_file

THREE_DAYS = data_file("krx_1m_005930_2025-06-16_to_18.csv")
ONE_DAY = data_file("krx_1m_005930_2025-06-13.csv")


class Sink:
    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.quotes: list[Quote] = []

    def on_tick(self, tick: Tick) -> None:
        self.ticks.append(tick)

    def on_quote(self, quote: Quote) -> None:
        self.quotes.append(quote)

    def on_status(self, status: str, detail: str) -> None:
        pass


def file_bars(path: Path, size: str) -> list[tuple]:
    df = pd.read_csv(path)
    df.index = pd.to_datetime(df["Datetime"], utc=True).dt.tz_convert(KST)
    # 1D bars are the session [09:00, 15:30], stamped at the open (these June days open at 09:00)
    r = df.resample("24h" if size == "1D" else pandas_alias(size), label="left", closed="left",
                    offset="9h" if size == "1D" else None)
    out = pd.DataFrame({"o": r["Open"].first(), "h": r["High"].max(), "l": r["Low"].min(),
                        "c": r["Close"].last(), "v": r["Volume"].sum()}).dropna()
    starts = out.index.tz_convert("UTC").as_unit("ms").asi8
    return [(int(s), *map(int, row)) for s, row in zip(starts, out.itertuples(index=False))]


def rows(bars: list[Bar]) -> list[tuple]:
    return [(b.start_ms, b.open, b.high, b.low, b.close, b.volume) for b in bars]


async def test_replaying_the_file_aggregates_back_to_the_file_exactly():
    clock = ManualClock()
    market = ReplayMarket(clock, THREE_DAYS, code="005930", speed=600)
    sink = Sink()
    await market.start(sink)
    await market.subscribe("trade", "005930")
    await clock.advance(3 * 360 * 60 / 600 + 10)
    assert market.finished and len(sink.ticks) == 4 * 1080 and sink.quotes == []
    agg = BarAggregator("005930", history=10_000)
    for tick in sink.ticks:
        agg.add(tick)
    agg.flush(sink.ticks[-1].ts_ms + 2 * 86_400_000)
    assert agg.late == 0
    for size in ("1Min", "5Min", "1H", "1D"):
        assert rows(agg.history(size)) == file_bars(THREE_DAYS, size), size
    # the 09:00 bars have volume 0 in this file and still come back with their O/H/L/C
    assert agg.history("1Min")[0].volume == 0
    assert [t.cum_volume for t in sink.ticks[:8]] == list(__import__("itertools").accumulate(
        t.volume for t in sink.ticks[:8]))
    assert all(t.bid <= t.price <= t.ask and t.bid < t.ask for t in sink.ticks)
    await market.stop()


async def test_pacing_pause_resume_other_codes_and_quotes():
    clock = ManualClock()
    market = ReplayMarket.from_settings(Settings(replay_csv=str(ONE_DAY), replay_speed=60.0), clock)
    sink = Sink()
    await market.start(sink)
    await market.subscribe("trade", "000660")  # not the replayed code: nothing
    await clock.advance(5)
    assert sink.ticks == [] and market.position == 0
    await market.subscribe("trade", "005930")
    await market.subscribe("quote", "005930")
    await clock.advance(2.0)  # two market minutes at x60: 8 trades, plus the one at t=2.0
    assert len(sink.ticks) == 9 and len(sink.quotes) == 9
    assert sink.ticks[4].ts_ms - sink.ticks[0].ts_ms == 60_000
    assert market.market_time_ms() == sink.ticks[-1].ts_ms
    await clock.advance(0.1)  # 6 market seconds later, before the next trade
    assert market.market_time_ms() == sink.ticks[-1].ts_ms + 6_000
    for tick, quote in zip(sink.ticks, sink.quotes):
        assert (quote.asks[0], quote.bids[0]) == (tick.ask, tick.bid) and quote.ts_ms == tick.ts_ms
    await market.unsubscribe("trade", "005930")
    await market.unsubscribe("quote", "005930")
    await clock.advance(30)
    assert len(sink.ticks) == 9 and clock.pending == 0
    assert market.market_time_ms() == sink.ticks[-1].ts_ms
    await market.subscribe("trade", "005930")
    await clock.advance(0.25)
    assert [t.ts_ms - sink.ticks[0].ts_ms for t in sink.ticks[9:]] == [135_000, 150_000]
    await market.stop()


async def test_backfill_returns_played_bars_only():
    clock = ManualClock()
    market = ReplayMarket(clock, ONE_DAY, speed=60)
    await market.start(Sink())
    assert await market.backfill("005930", "1Min", 10) == []
    await market.subscribe("trade", "005930")
    await clock.advance(65.5)  # 65 whole minutes played, 66th under way
    expected = file_bars(ONE_DAY, "1Min")
    got = await market.backfill("005930", "1Min", 10)
    assert rows(got) == expected[55:65]
    hourly = await market.backfill("005930", "1H", 5)
    assert rows(hourly) == file_bars(ONE_DAY, "1H")[:1]  # 10:00 bar still forming
    assert await market.backfill("000660", "1Min", 10) == []
    await market.stop()


def test_bar_trades_cover_ohlcv_and_zero_volume():
    bar = Bar("005930", "1Min", 0, 100, 130, 90, 95, 10)
    trades = bar_trades(bar)
    assert [p for _, p, _ in trades] == [100, 130, 90, 95]  # falling bar: high before low
    assert sum(v for _, _, v in trades) == 10
    flat = bar_trades(Bar("005930", "1Min", 0, 100, 100, 100, 100, 0))
    assert [v for _, _, v in flat] == [0, 0, 0, 0]


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="AUTOTRADER_REPLAY_CSV"):
        ReplayMarket(ManualClock(), "")
    with pytest.raises(ValueError):
        ReplayMarket(ManualClock(), ONE_DAY, speed=0)
    bad = tmp_path / "bad.csv"
    bad.write_text("date,open,high,low,close,volume\n20240102,1,1,1,1,1\n")
    with pytest.raises(ValueError, match="missing column"):
        load_minute_bars(bad, "005930")
    bad.write_text("Datetime,Close,High,Low,Open,Volume\n2025-06-13 00:00:00+00:00,100,90,95,100,5\n")
    with pytest.raises(ValueError, match="inconsistent"):
        load_minute_bars(bad, "005930")


async def test_market_time_replay_refuses_non_won_files_and_empty_ranges():
    from engine.runtime.replay_clock import ReplayClock

    fx = ReplayMarket(ReplayClock(0, speed=None), data_file("fx_1h_EURUSD_backtesting-0.6.6.csv"), code="005930")
    with pytest.raises(ValueError, match="not whole won"):
        await fx.start(Sink())
    empty = ReplayMarket(ReplayClock(0, speed=None), data_file("krx_daily_005930.csv"), code="005930",
                         start="2024-01-01")
    with pytest.raises(ValueError, match="no bar between 2024-01-01 and the end"):
        await empty.start(Sink())
    with pytest.raises(ValueError, match="before its start"):
        ReplayMarket(ReplayClock(0, speed=None), ONE_DAY, start="2025-06-13", end="2025-06-01")


async def test_market_time_replay_plays_a_daily_bar_inside_its_session():
    from engine.market import krx
    from engine.runtime.replay_clock import ReplayClock

    clock = ReplayClock(0, speed=None, paused=False)
    market = ReplayMarket(clock, data_file("krx_daily_005930.csv"), code="005930", start="2023-12-22")
    sink = Sink()
    await market.start(sink)
    await market.subscribe("trade", "005930")
    assert krx.to_kst(clock.now_ms()).isoformat() == "2023-12-22T08:29:00+09:00"
    warm = await market.backfill("005930", "1D", 3)  # the warm-up: the file's bars before the start
    assert [krx.kst_date(b.start_ms).isoformat() for b in warm] == ["2023-12-19", "2023-12-20", "2023-12-21"]
    clock.start()
    await asyncio.wait_for(clock.finished.wait(), 10)
    await clock.stop()
    # 2023-12-22: O 75,800 H 76,300 L 75,400 C 75,900 (a rising bar: low before high), close at 15:30:00
    assert [(krx.to_kst(t.ts_ms).strftime("%H:%M:%S"), t.price) for t in sink.ticks] == [
        ("09:00:00", 75_800), ("11:10:00", 75_400), ("13:20:00", 76_300), ("15:30:00", 75_900)]
    assert sum(t.volume for t in sink.ticks) == 14_515_608 and market.progress() == 1.0
