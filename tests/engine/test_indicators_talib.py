"""The batch indicators equal TA-Lib itself on the real series in shared/data."""

from pathlib import Path

import numpy as np
import pytest
import talib

from engine.market import indicators as ind
from engine.market.csv_bars import load_csv
from tests.helpers import DATA

DAILY = sorted(DATA.glob("krx_daily_*.csv"))
MINUTE = sorted(DATA.glob("krx_1m_*.csv"))


def _series(path: Path) -> tuple[np.ndarray, ...]:
    df = load_csv(path)
    if df.attrs["format"] == "krx_daily":
        df = df[df.index >= "2015-01-01"]
    return tuple(df[c].to_numpy() for c in ("high", "low", "close", "volume"))


def _same(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.dtype == np.float64 and ours.shape == theirs.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=0, equal_nan=True)


@pytest.mark.parametrize("path", DAILY + MINUTE, ids=lambda p: p.stem)
def test_against_talib_on_real_data(path: Path) -> None:
    high, low, close, volume = _series(path)
    assert len(close) > 300
    for period in (5, 20, 60, 14, 2):
        _same(ind.ema(close, period), talib.EMA(close, period))
    for period in (14, 5):
        _same(ind.rsi(close, period), talib.RSI(close, period))
        _same(ind.plus_di(high, low, close, period), talib.PLUS_DI(high, low, close, period))
        _same(ind.minus_di(high, low, close, period), talib.MINUS_DI(high, low, close, period))
        _same(ind.adx(high, low, close, period), talib.ADX(high, low, close, period))
    _same(ind.obv(close, volume), talib.OBV(close, volume))


def test_full_history_with_trading_halts() -> None:
    """035420's whole file has 26 flat zero-volume halt rows (zero true ranges)."""
    df = load_csv(DATA / "krx_daily_035420.csv")
    h, lo, c, v = (df[k].to_numpy() for k in ("high", "low", "close", "volume"))
    _same(ind.adx(h, lo, c), talib.ADX(h, lo, c))
    _same(ind.plus_di(h, lo, c), talib.PLUS_DI(h, lo, c))
    _same(ind.rsi(c), talib.RSI(c))
    _same(ind.obv(c, v), talib.OBV(c, v))


def test_fx_hourly_small_prices() -> None:
    df = load_csv(DATA / "fx_1h_EURUSD_backtesting-0.6.6.csv")
    h, lo, c = (df[k].to_numpy() for k in ("high", "low", "close"))
    _same(ind.ema(c, 60), talib.EMA(c, 60))
    _same(ind.rsi(c), talib.RSI(c))
    _same(ind.adx(h, lo, c), talib.ADX(h, lo, c))
