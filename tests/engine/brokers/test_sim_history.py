"""The simulated market's history, drawn with numpy all at once: the same rules a bar-by-bar
walk obeyed (on the tick grid, inside the daily limits, OHLC consistent, joined bar to bar,
the last close the base price), the same bars for the same seed, and the tick rounding
exactly :func:`engine.market.krx.round_to_tick`'s."""

from __future__ import annotations

import numpy as np
import pytest

from engine.brokers.sim import _clamp, _grid, _history, _rounded, base_price
from engine.market.krx import BAR_MS, BAR_SIZES, is_on_tick, price_limits, round_to_tick

END = 1_750_000_000_000 - 1_750_000_000_000 % 86_400_000
CODES = [f"{i:06d}" for i in range(0, 999_999, 49_999)] + ["005930", "0001A0"]


@pytest.mark.parametrize("size", BAR_SIZES)
def test_every_bar_obeys_the_rules(size):
    step = BAR_MS[size]
    for code in CODES:
        bars = _history(code, size, 600, 7, END)
        base = base_price(code)
        low, high = price_limits(base)
        assert len(bars) == 600 and bars[-1].close == base
        assert [b.start_ms for b in bars] == list(range(END - 600 * step, END, step))
        assert all(b.code == code and b.size == size for b in bars)
        assert all(low <= b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high <= high
                   for b in bars)
        assert all(b.open == prev.close for prev, b in zip(bars, bars[1:]))
        assert all(is_on_tick(p) for b in bars for p in (b.open, b.high, b.low, b.close))
        assert all(b.volume >= 0 for b in bars) and sum(b.volume for b in bars) > 0


def test_the_walk_moves_and_stays_inside_the_limits_over_600_days():
    """A daily walk (σ ≈ 3.8 % a day) meets the limits within 600 bars: it is folded back, not stuck."""
    touched = 0
    for code in CODES:
        bars = _history(code, "1D", 600, 7, END)
        closes = [b.close for b in bars]
        low, high = price_limits(base_price(code))
        assert len(set(closes)) > 100  # it moves
        touched += any(c in (low, high) for c in closes)
        longest = run = 1
        for a, b in zip(closes, closes[1:]):
            run = run + 1 if a == b else 1
            longest = max(longest, run)
        assert longest < 20  # never parked at a limit
    assert touched > 0


def test_the_same_seed_gives_the_same_bars_and_another_seed_others():
    assert _history("005930", "1Min", 600, 7, END) == _history("005930", "1Min", 600, 7, END)
    assert _history("005930", "1Min", 600, 7, END) != _history("005930", "1Min", 600, 8, END)
    one = [b.close for b in _history("005930", "1Min", 600, 7, END)]
    other = [b.close for b in _history("005930", "5Min", 600, 7, END)]
    assert one != other  # each size its own stream
    shifted = _history("005930", "1Min", 600, 7, END + 60_000)
    assert [b.close for b in shifted] == one  # the end moves the stamps, not the prices


@pytest.mark.parametrize("direction", ["down", "up", "nearest"])
def test_the_grid_is_round_to_tick(direction):
    rng = np.random.default_rng(3)
    prices = np.concatenate([np.exp(rng.uniform(0, np.log(3_000_000), 20_000)),
                             np.arange(1, 12_000, 0.5), np.arange(495_000.0, 505_000.0, 0.25)])
    got = _rounded(*_grid(prices), direction)
    want = [round_to_tick(max(1, int(p)), direction) for p in prices.tolist()]
    assert got.tolist() == want
    assert _clamp(got, 1_000, 100_000).tolist() == [min(100_000, max(1_000, w)) for w in want]
