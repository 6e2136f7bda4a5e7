"""Warm-up lengths, degenerate inputs and TA-Lib's zero rules, checked by hand and against TA-Lib."""

import numpy as np
import pytest
import talib

from engine.market import indicators as ind


def test_warm_up_positions() -> None:
    x = np.arange(1.0, 101.0)
    h, lo = x + 1, x - 1
    assert np.isnan(ind.ema(x, 20)[:19]).all() and not np.isnan(ind.ema(x, 20)[19])
    assert np.isnan(ind.rsi(x, 14)[:14]).all() and not np.isnan(ind.rsi(x, 14)[14])
    assert np.isnan(ind.plus_di(h, lo, x, 14)[:14]).all() and not np.isnan(ind.plus_di(h, lo, x, 14)[14])
    assert np.isnan(ind.adx(h, lo, x, 14)[:27]).all() and not np.isnan(ind.adx(h, lo, x, 14)[27])
    assert ind.obv(x, x)[0] == 1.0


def test_ema_seed_is_the_sma_then_k_weighting() -> None:
    x = np.array([1.0, 2.0, 3.0, 10.0])
    out = ind.ema(x, 3)
    assert out[2] == pytest.approx(2.0)
    assert out[3] == pytest.approx(2.0 + 0.5 * (10.0 - 2.0))


def test_rsi_by_hand() -> None:
    # changes +1, +1, -2, +4 with period 3: seed gain 2/3, loss 2/3 -> 50
    x = np.array([10.0, 11.0, 12.0, 10.0, 14.0])
    out = ind.rsi(x, 3)
    assert out[3] == pytest.approx(50.0)
    gain, loss = (2 / 3 * 2 + 4) / 3, (2 / 3 * 2) / 3
    assert out[4] == pytest.approx(100 * gain / (gain + loss))


def test_short_inputs_are_all_nan() -> None:
    x = np.arange(10.0)
    assert np.isnan(ind.ema(x, 11)).all()
    assert np.isnan(ind.rsi(x, 10)).all()
    assert np.isnan(ind.adx(x, x, x, 6)).all() and not np.isnan(ind.adx(x, x, x, 5)[9])
    assert ind.ema(np.array([]), 3).size == 0 and ind.obv(np.array([]), np.array([])).size == 0


def test_flat_series_zero_rules_match_talib() -> None:
    """Zero true range gives DI 0 and an undefined DX, which holds the ADX."""
    rng = np.random.default_rng(3)
    c = np.concatenate([100 + rng.normal(0, 2, 60).cumsum(), np.full(40, 95.0), 95 + rng.normal(0, 2, 60).cumsum()])
    h, lo = c + rng.uniform(0, 1, c.size), c - rng.uniform(0, 1, c.size)
    h[60:100] = lo[60:100] = c[60:100]
    for ours, theirs in (
        (ind.adx(h, lo, c), talib.ADX(h, lo, c)),
        (ind.plus_di(h, lo, c), talib.PLUS_DI(h, lo, c)),
        (ind.minus_di(h, lo, c), talib.MINUS_DI(h, lo, c)),
        (ind.rsi(c), talib.RSI(c)),
    ):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, equal_nan=True)
    flat = np.full(50, 7.0)
    assert (ind.rsi(flat)[14:] == 0).all() and (ind.plus_di(flat, flat, flat)[14:] == 0).all()
    assert (ind.adx(flat, flat, flat)[27:] == 0).all()


def test_bad_arguments() -> None:
    x = np.arange(30.0)
    with pytest.raises(ValueError, match="period"):
        ind.ema(x, 0)
    with pytest.raises(ValueError, match="period"):
        ind.rsi(x, 1)
    with pytest.raises(ValueError, match="same length"):
        ind.adx(x, x[:-1], x)
    with pytest.raises(ValueError, match="same length"):
        ind.obv(x, x[:-1])
