"""The blocked recursion behind the batch indicators: chunk seams, NaN, in place, TA-Lib."""

import numpy as np
import pytest
import talib
from scipy.signal import lfilter

from benchmarks.indicators import synthetic_bars
from engine.market import indicators as ind


@pytest.fixture(autouse=True)
def _blocked_from_64_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the blocked path on short inputs too (in production it starts at 131,072)."""
    monkeypatch.setattr(ind, "_BLOCKED_MIN", 64)


def _plain(x: np.ndarray, b0: float, pole: float, y0: float) -> np.ndarray:
    return lfilter([b0], [1.0, -pole], x, zi=[pole * y0])[0]


@pytest.mark.parametrize("n", [63, 64, 16 * 2048, 16 * 2048 * 3 + 5])
@pytest.mark.parametrize(("b0", "pole"), [(2 / 21, 19 / 21), (1.0, 13 / 14), (1.0, 0.0)])
def test_blocked_equals_the_plain_recursion(n: int, b0: float, pole: float) -> None:
    x = np.random.default_rng(n).normal(100.0, 5.0, n)
    np.testing.assert_allclose(ind._first_order(x, b0, pole, 42.0), _plain(x, b0, pole, 42.0), rtol=1e-13)
    inplace = x.copy()
    assert ind._first_order(inplace, b0, pole, 42.0, inplace) is inplace
    np.testing.assert_allclose(inplace, _plain(x, b0, pole, 42.0), rtol=1e-13)


def test_nan_spreads_forward_only() -> None:
    x = np.random.default_rng(1).normal(0.0, 1.0, 5_000)
    x[3_000] = np.nan
    y = ind._first_order(x, 0.1, 0.9, 0.0)
    assert not np.isnan(y[:3_000]).any() and np.isnan(y[3_000:]).all()


def test_long_synthetic_series_equals_talib() -> None:
    """Many chunks and a ragged tail, against TA-Lib at 1e-9."""
    b = synthetic_bars(100_003)
    h, lo, c, v = b["high"], b["low"], b["close"], b["volume"]
    for ours, theirs in (
        (ind.ema(c, 20), talib.EMA(c, 20)), (ind.ema(c, 240), talib.EMA(c, 240)),
        (ind.rsi(c, 14), talib.RSI(c, 14)), (ind.adx(h, lo, c, 14), talib.ADX(h, lo, c, 14)),
        (ind.plus_di(h, lo, c, 14), talib.PLUS_DI(h, lo, c, 14)),
        (ind.minus_di(h, lo, c, 14), talib.MINUS_DI(h, lo, c, 14)), (ind.obv(c, v), talib.OBV(c, v)),
    ):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=0, equal_nan=True)


def test_short_series_stay_bit_identical_to_the_states(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ind, "_BLOCKED_MIN", 1 << 17)
    c = synthetic_bars(5_000)["close"]
    state = ind.EmaState(20)
    assert [state.update(x) for x in c.tolist()][19:] == ind.ema(c, 20)[19:].tolist()
