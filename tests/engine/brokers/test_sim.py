import pytest

from engine.brokers.sim import SimulatedMarket, base_price
from engine.market.krx import BAR_MS, is_on_tick, price_limits
from engine.market.messages import Quote, Tick
from engine.runtime.clock import ManualClock
from engine.settings import Settings

START = 1_750_000_000_000


class Sink:
    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.quotes: list[Quote] = []
        self.statuses: list[str] = []

    def on_tick(self, tick: Tick) -> None:
        self.ticks.append(tick)

    def on_quote(self, quote: Quote) -> None:
        self.quotes.append(quote)

    def on_status(self, status: str, detail: str) -> None:
        self.statuses.append(status)


async def run(codes, seconds, *, seed=7, trades=2.0, quotes=1.0, others=()):
    clock = ManualClock(START)
    market = SimulatedMarket(clock, seed=seed, trades_per_s=trades, quotes_per_s=quotes)
    sink = Sink()
    await market.start(sink)
    for code in (*codes, *others):
        await market.subscribe("trade", code)
        await market.subscribe("quote", code)
    await clock.advance(seconds)
    await market.stop()
    return sink, clock


def strip(ticks):
    return [(t.ts_ms, t.price, t.volume, t.cum_volume, t.ask, t.bid) for t in ticks]


async def test_deterministic_per_seed_and_code_whatever_else_streams():
    a, _ = await run(["005930"], 30)
    b, _ = await run(["005930"], 30, others=["000660", "035420"])
    c, _ = await run(["005930"], 30, seed=8)
    mine = [t for t in b.ticks if t.code == "005930"]
    assert strip(a.ticks) == strip(mine)
    assert strip(a.ticks) != strip(c.ticks)
    assert len({t.price for t in a.ticks}) > 1  # it does move


async def test_rates_grid_book_consistency():
    sink, _ = await run(["005930", "000660"], 10, trades=4.0, quotes=3.0)
    for code in ("005930", "000660"):
        ticks = [t for t in sink.ticks if t.code == code]
        quotes = [q for q in sink.quotes if q.code == code]
        assert len(ticks) >= 40 and len(quotes) >= 30
        assert all(is_on_tick(t.price) and t.bid < t.ask and t.price in (t.ask, t.bid) for t in ticks)
        assert all(t.volume >= 1 for t in ticks)
        assert [t.cum_volume for t in ticks] == [sum(x.volume for x in ticks[: i + 1]) for i in range(len(ticks))]
        for q in quotes:
            assert len(q.asks) == len(q.bids) == len(q.ask_qty) == len(q.bid_qty) == 10
            assert all(is_on_tick(p) for p in q.asks + q.bids if p)
            assert list(q.asks) == sorted(q.asks) and list(q.bids) == sorted(q.bids, reverse=True)
            assert q.total_ask_qty == sum(q.ask_qty) and q.total_bid_qty == sum(q.bid_qty)
            if q.ts_ms % 1000 == 0:
                continue  # a trade at the same instant: either may come first
            last = [t for t in ticks if t.ts_ms < q.ts_ms][-1]
            assert (q.asks[0], q.bids[0]) == (last.ask, last.bid)


async def test_stays_inside_daily_limits():
    sink, _ = await run(["005930"], 400, trades=50.0, quotes=0.1)
    low, high = price_limits(base_price("005930"))
    assert all(low <= t.bid < t.ask <= high for t in sink.ticks)


async def test_unsubscribe_stops_the_stream_and_timers():
    clock = ManualClock(START)
    market = SimulatedMarket.from_settings(Settings(), clock)
    sink = Sink()
    await market.start(sink)
    assert sink.statuses == ["live"]
    await market.subscribe("trade", "005930")
    await clock.advance(2)
    assert len(sink.ticks) == 4 and sink.quotes == []
    await market.unsubscribe("trade", "005930")
    await market.unsubscribe("trade", "005930")  # idempotent
    await clock.advance(5)
    assert len(sink.ticks) == 4 and clock.pending == 0
    with pytest.raises(ValueError):
        await market.subscribe("trade", "5930")
    with pytest.raises(ValueError):
        await market.subscribe("orders", "005930")  # type: ignore[arg-type]
    await market.stop()
    await market.stop()


def test_base_price_deterministic_and_in_range():
    prices = [base_price(f"{i:06d}") for i in range(0, 5000, 7)]
    assert all(5_000 <= p <= 300_000 and is_on_tick(p) for p in prices)
    assert base_price("005930") == base_price("005930")
    assert len(set(prices)) > 100


async def test_backfill_shape_and_join_with_live_walk():
    clock = ManualClock(START)
    market = SimulatedMarket(clock)
    await market.start(Sink())
    await market.subscribe("trade", "005930")
    await clock.advance(3600)
    base = base_price("005930")
    low, high = price_limits(base)
    for size in ("1Min", "1H", "1D"):
        bars = await market.backfill("005930", size, 50)
        assert len(bars) == 50
        step = BAR_MS[size]
        starts = [b.start_ms for b in bars]
        assert starts == list(range(starts[0], starts[0] + 50 * step, step))
        assert starts[-1] + step <= START < starts[-1] + 2 * step  # ends just before the walk started
        assert bars[-1].close == base
        assert all(low <= b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high <= high for b in bars)
        assert all(b.open == prev.close for prev, b in zip(bars, bars[1:]))
        assert all(is_on_tick(p) for b in bars for p in (b.open, b.high, b.low, b.close))
        assert bars == await market.backfill("005930", size, 50)
    assert await market.backfill("005930", "1Min", 0) == []
    with pytest.raises(ValueError):
        await market.backfill("005930", "2Min", 5)
    await market.stop()


async def test_phases_spread_a_periods_trades_without_changing_any_codes_stream():
    from engine.brokers.sim import SimulatedMarket
    from engine.runtime import ManualClock

    class Sink:
        def __init__(self) -> None:
            self.ticks = []

        def on_tick(self, tick) -> None:
            self.ticks.append(tick)

        def on_quote(self, quote) -> None:
            pass

        def on_status(self, status, detail) -> None:
            pass

    codes = [f"{i:06d}" for i in range(1, 41)]
    streams = []
    for phases in (1, 8):
        clock = ManualClock()
        sink = Sink()
        market = SimulatedMarket(clock, seed=3, trades_per_s=2, phases=phases)
        await market.start(sink)
        for code in codes:
            await market.subscribe("trade", code)
        await clock.advance(10)
        await market.stop()
        by_code = {c: [(t.price, t.volume) for t in sink.ticks if t.code == c] for c in codes}
        times = sorted({t.ts_ms for t in sink.ticks})
        streams.append((by_code, len(times)))
    (plain, instants_plain), (phased, instants_phased) = streams
    assert instants_phased > 4 * instants_plain  # the same trades at many more instants
    for code in codes:  # each code's own sequence is the same, only its timing within a period moves
        n = min(len(plain[code]), len(phased[code]))
        assert n >= 19 and plain[code][:n] == phased[code][:n]
