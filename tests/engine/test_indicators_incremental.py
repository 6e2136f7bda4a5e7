"""The incremental states equal the batch functions on every bar (property tests)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.market import indicators as ind

settings.register_profile("indicators", max_examples=50, deadline=None, derandomize=True)
PROFILE = settings.get_profile("indicators")


@st.composite
def bars(draw, min_size: int = 0, max_size: int = 120):
    """Integer KRW closes (often repeating) with highs/lows around them, or small floats."""
    n = draw(st.integers(min_size, max_size))
    if draw(st.booleans()):
        close = draw(st.lists(st.integers(1, 60).map(float), min_size=n, max_size=n))
        spread = draw(st.lists(st.integers(0, 3).map(float), min_size=2 * n, max_size=2 * n))
    else:
        close = draw(st.lists(st.floats(0.5, 2.0), min_size=n, max_size=n))
        spread = draw(st.lists(st.floats(0.0, 0.01), min_size=2 * n, max_size=2 * n))
    c = np.array(close, dtype=np.float64)
    s = np.array(spread, dtype=np.float64).reshape(2, n) if n else np.zeros((2, 0))
    volume = np.array(draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n)), dtype=np.float64)
    return c + s[0], c - s[1], c, volume


def _equal(live: list[float], batch: np.ndarray) -> None:
    np.testing.assert_allclose(np.array(live, dtype=np.float64), batch, rtol=1e-12, atol=1e-12, equal_nan=True)


@settings(PROFILE)
@given(bars(), st.integers(1, 30))
def test_ema_state(data, period) -> None:
    _, _, close, _ = data
    state = ind.EmaState(period)
    _equal([state.update(x) for x in close], ind.ema(close, period))


@settings(PROFILE)
@given(bars(), st.integers(2, 20))
def test_rsi_state(data, period) -> None:
    _, _, close, _ = data
    state = ind.RsiState(period)
    _equal([state.update(x) for x in close], ind.rsi(close, period))


@settings(PROFILE)
@given(bars(), st.integers(2, 20))
def test_dmi_state(data, period) -> None:
    high, low, close, _ = data
    state = ind.DmiState(period)
    adx, pdi, mdi = [], [], []
    for h, lo, c in zip(high, low, close):
        adx.append(state.update(h, lo, c))
        pdi.append(state.plus_di)
        mdi.append(state.minus_di)
        assert state.adx == adx[-1] or np.isnan(adx[-1])
    _equal(adx, ind.adx(high, low, close, period))
    _equal(pdi, ind.plus_di(high, low, close, period))
    _equal(mdi, ind.minus_di(high, low, close, period))


@settings(PROFILE)
@given(bars())
def test_obv_state(data) -> None:
    _, _, close, volume = data
    state = ind.ObvState()
    _equal([state.update(c, v) for c, v in zip(close, volume)], ind.obv(close, volume))
