"""basic (EMA cross) and rsi strategies: signals exactly where the batch indicators cross."""


import numpy as np
import pytest

from engine.market import indicators as ind
from engine.market.csv_bars import load_csv, to_bars
from engine.market.messages import Bar
from engine.strategy.realtime import Signal, StrategyParamsError, make_strategy
from tests.helpers import data_file

MINUTES = data_file("krx_1m_005930_2025-06-16_to_18.csv")


def _bars(closes: list[int], code: str = "005930") -> list[Bar]:
    return [Bar(code=code, size="1Min", start_ms=60_000 * i, open=c, high=c, low=c, close=c, volume=1)
            for i, c in enumerate(closes)]


def _run(strategy, bars: list[Bar]) -> dict[int, Signal]:
    out = {}
    for i, bar in enumerate(bars):
        sig = strategy.on_bar(bar)
        if sig is not None:
            out[i] = sig
    return out


def test_basic_golden_and_dead_cross_on_crafted_series() -> None:
    closes = [100] * 5 + [90] * 3 + [110, 120] + [80, 70]
    signals = _run(make_strategy("basic", {"short": 2, "long": 4}), _bars(closes))
    sides = [(i, s.side) for i, s in sorted(signals.items())]
    assert sides == [(5, "sell"), (8, "buy"), (10, "sell")]
    sig = signals[8]
    assert sig.price == 110 and sig.code == "005930" and sig.strategy == "basic"
    assert sig.ts_ms == 60_000 * 9 and set(sig.indicators) == {"ema2", "ema4"}
    assert sig.indicators["ema2"] > sig.indicators["ema4"]


def _crossings(a: np.ndarray, b: np.ndarray) -> dict[int, str]:
    out = {}
    for i in range(1, len(a)):
        if np.isnan(a[i - 1]) or np.isnan(b[i - 1]):
            continue
        if a[i - 1] <= b[i - 1] and a[i] > b[i]:
            out[i] = "buy"
        elif a[i - 1] >= b[i - 1] and a[i] < b[i]:
            out[i] = "sell"
    return out


def test_basic_matches_batch_ema_on_real_minutes() -> None:
    bars = to_bars(load_csv(MINUTES), "005930", "1Min")
    close = np.array([b.close for b in bars], dtype=float)
    signals = _run(make_strategy("basic", None), bars)
    expected = _crossings(ind.ema(close, 5), ind.ema(close, 20))
    assert len(expected) > 20
    assert {i: s.side for i, s in signals.items()} == expected


def test_rsi_matches_batch_rsi_on_real_minutes() -> None:
    bars = to_bars(load_csv(MINUTES), "005930", "1Min")
    r = ind.rsi(np.array([b.close for b in bars], dtype=float), 14)
    expected = {}
    for i in range(15, len(r)):
        if r[i - 1] <= 30 < r[i]:
            expected[i] = "buy"
        elif r[i - 1] >= 70 > r[i]:
            expected[i] = "sell"
    signals = _run(make_strategy("rsi", None), bars)
    assert expected and {i: s.side for i, s in signals.items()} == expected
    i = next(iter(signals))
    assert signals[i].indicators["rsi14"] == pytest.approx(r[i], rel=1e-12)


def test_rsi_thresholds_overridable() -> None:
    closes = [100, 99, 98, 97, 96, 100, 110, 120, 130, 140, 150, 160, 140]
    # RSI(3): nan nan nan 0 0 66.7 90.5 95.4 97.4 98.4 99.0 99.4 47.9
    signals = _run(make_strategy("rsi", {"period": 3, "oversold": 10, "overbought": 90}), _bars(closes))
    assert [(i, s.side) for i, s in sorted(signals.items())] == [(5, "buy"), (12, "sell")]
    signals = _run(make_strategy("rsi", {"period": 3, "oversold": 70, "overbought": 99.5}), _bars(closes))
    assert [(i, s.side) for i, s in sorted(signals.items())] == [(6, "buy")]


def test_codes_are_independent_and_repeats_ignored() -> None:
    strat = make_strategy("basic", {"short": 2, "long": 4})
    a, b = _bars([100] * 5 + [90], "005930"), _bars([100] * 6, "000660")
    results = []
    for x, y in zip(a, b):
        results += [strat.on_bar(x), strat.on_bar(y), strat.on_bar(x)]
    fired = [s for s in results if s is not None]
    assert [(s.code, s.side) for s in fired] == [("005930", "sell")]
    assert strat.on_bar(Bar(code="005930", size="5Min", start_ms=10**9, open=1, high=1, low=1, close=1,
                            volume=1)) is None


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("basic", {"short": 20, "long": 5}, "long"),
        ("basic", {"short": "5"}, "short"),
        ("basic", {"fast": 3}, "fast"),
        ("rsi", {"oversold": 0}, "oversold"),
        ("rsi", {"oversold": 60, "overbought": 40}, "overbought"),
        ("rsi", {"period": 1}, "period"),
        ("macd", None, "strategy_type"),
    ],
)
def test_bad_params_name_the_field(name, params, field) -> None:
    with pytest.raises(StrategyParamsError) as err:
        make_strategy(name, params)
    assert field in err.value.fields and isinstance(err.value, ValueError)
