import numpy as np
import pandas as pd
import pytest

from engine.market.bars import BarAggregator, merge_bars
from engine.market.krx import BAR_SIZES, KST, pandas_alias
from engine.market.messages import Bar, Tick

START = 1_749_772_800_000  # 2025-06-13 00:00 UTC = 09:00 KST


def ticks(n: int, seed: int, span_ms: int, start: int = START) -> list[Tick]:
    rng = np.random.default_rng(seed)
    ts = np.sort(start + rng.integers(0, span_ms, n))
    prices = 60_000 + 100 * np.cumsum(rng.integers(-2, 3, n))
    vols = rng.integers(0, 500, n)
    return [Tick("005930", int(t), int(p), int(v), 0, 0, 0, 0) for t, p, v in zip(ts, prices, vols)]


def resampled(trades: list[Tick], size: str) -> list[tuple]:
    idx = pd.to_datetime([t.ts_ms for t in trades], unit="ms", utc=True).tz_convert(KST)
    df = pd.DataFrame({"price": [t.price for t in trades], "volume": [t.volume for t in trades]}, index=idx)
    r = df.resample(pandas_alias(size), label="left", closed="left")
    out = r["price"].ohlc().join(r["volume"].sum()).dropna()
    starts = out.index.tz_convert("UTC").as_unit("ms").asi8
    return [(int(s), int(o), int(h), int(lo), int(c), int(v))
            for s, (o, h, lo, c, v) in zip(starts, out.itertuples(index=False))]


def as_rows(bars: list[Bar]) -> list[tuple]:
    return [(b.start_ms, b.open, b.high, b.low, b.close, b.volume) for b in bars]


@pytest.mark.parametrize("seed", [1, 2])
def test_matches_pandas_resample_every_size(seed):
    trades = ticks(20_000, seed, span_ms=5 * 86_400_000)  # five days, gaps included
    agg = BarAggregator("005930", history=100_000, sessions=False)
    emitted: dict[str, list[Bar]] = {s: [] for s in BAR_SIZES}
    for t in trades:
        for bar in agg.add(t):
            emitted[bar.size].append(bar)
    for bar in agg.flush(trades[-1].ts_ms + 2 * 86_400_000):
        emitted[bar.size].append(bar)
    assert agg.late == 0
    for size in BAR_SIZES:
        expected = resampled(trades, size)
        assert as_rows(emitted[size]) == expected, size
        assert as_rows(agg.history(size)) == expected, size
        assert all(b.size == size and b.code == "005930" for b in emitted[size])


def test_closed_bars_come_out_when_a_later_trade_arrives_smallest_first():
    agg = BarAggregator("005930", sessions=False)
    assert agg.add(Tick("005930", START + 1_000, 100, 1, 0, 0, 0, 0)) == []
    closed = agg.add(Tick("005930", START + 3_600_000, 101, 2, 0, 0, 0, 0))  # 10:00 KST
    assert [b.size for b in closed] == ["1Min", "5Min", "15Min", "30Min", "1H"]
    assert all(b.start_ms == START and b.open == b.close == 100 and b.volume == 1 for b in closed)


def test_current_matches_pandas_for_forming_bars():
    trades = ticks(3_000, 5, span_ms=86_400_000)
    agg = BarAggregator("005930", sessions=False)
    for t in trades[:1_777]:
        agg.add(t)
    for size in BAR_SIZES:
        last = resampled(trades[:1_777], size)[-1]
        assert as_rows([agg.current(size)]) == [last], size


def test_late_trade_is_counted_not_aggregated():
    agg = BarAggregator("005930", sizes=("1Min", "1H"))
    agg.add(Tick("005930", START + 61_000, 100, 5, 0, 0, 0, 0))
    agg.add(Tick("005930", START + 30_000, 999, 7, 0, 0, 0, 0))  # earlier minute: late
    assert agg.late == 1
    assert agg.current("1Min").high == 100 and agg.current("1H").volume == 5


def test_flush_closes_without_a_trade_and_later_trades_in_closed_buckets_are_late():
    agg = BarAggregator("005930", sizes=("1Min", "5Min"))
    agg.add(Tick("005930", START + 10_000, 100, 5, 0, 0, 0, 0))
    assert agg.flush(START + 59_999) == []
    assert [b.size for b in agg.flush(START + 60_000)] == ["1Min"]
    assert agg.current("1Min") is None and agg.current("5Min").volume == 5
    assert [b.size for b in agg.flush(START + 10 * 60_000)] == ["5Min"]
    agg.add(Tick("005930", START + 7 * 60_000, 100, 1, 0, 0, 0, 0))  # bucket already flushed
    assert agg.late == 1 and agg.current("1Min") is None
    assert agg.history("5Min")[0].volume == 5 and len(agg.history("5Min")) == 1


def test_history_is_bounded_and_preload_keeps_order():
    agg = BarAggregator("005930", sizes=("1Min",), history=3)
    for i in range(10):
        agg.add(Tick("005930", START + i * 60_000, 100 + i, 1, 0, 0, 0, 0))
    assert [b.open for b in agg.history("1Min")] == [106, 107, 108]
    fresh = BarAggregator("005930", sizes=("1Min", "1D"), history=5)
    old = [Bar("005930", "1Min", START - k * 60_000, 1, 1, 1, 1, 1) for k in (3, 1, 2)]
    assert fresh.preload(old + [Bar("005930", "5Min", START, 1, 1, 1, 1, 1)]) == 3
    assert [b.start_ms for b in fresh.history("1min")] == [START - 180_000, START - 120_000, START - 60_000]
    with pytest.raises(ValueError):
        fresh.history("5Min")
    with pytest.raises(ValueError):
        BarAggregator("005930", sizes=("2Min",))


def test_merge_bars_matches_resample_of_trades():
    trades = ticks(5_000, 9, span_ms=3 * 86_400_000)
    minute = [Bar("005930", "1Min", *row) for row in resampled(trades, "1Min")]
    for size in ("5Min", "1H", "1D"):
        assert as_rows(merge_bars(minute, size, sessions=False)) == resampled(trades, size)
    with pytest.raises(ValueError):
        merge_bars(merge_bars(minute, "1H"), "5Min")


def test_idle_aggregator_is_small():
    agg = BarAggregator("005930", sessions=False)
    assert not hasattr(agg, "__dict__")
