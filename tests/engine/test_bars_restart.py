"""A restart loses no part of the bars still forming above the base size: the stored closed 1Min
bars of today are folded back into today's 1D, this hour's 1H, ... (what the issue saw: a daily bar
that went from 195k to 2k volume)."""

from __future__ import annotations

import random

import pytest

from engine.market.bars import BarAggregator
from engine.market.krx import BAR_SIZES
from engine.market.messages import Bar, Tick

START = 1_749_772_800_000  # 2025-06-13 00:00 UTC = 09:00 KST, a Friday session
RESTART = START + 90 * 60_000 + 7 * 60_000  # 10:37 KST: inside a 1H, 30Min, 15Min, 5Min... bucket


def _ticks(start: int, end: int, seed: int) -> list[Tick]:
    rng = random.Random(seed)
    out, ts, price = [], start, 70_000
    while ts < end:
        price += rng.choice((-10, 0, 10))
        out.append(Tick("005930", ts, price, rng.randint(1, 500), 0, 0, 0, 0))
        ts += rng.randint(200, 9_000)
    return out


@pytest.mark.parametrize("restart", [RESTART, RESTART + 25_000])  # at a minute boundary, and inside one
def test_forming_bars_after_a_restart_match_an_uninterrupted_run(restart):
    before = _ticks(START, restart, seed=1)
    after = _ticks(restart, START + 4 * 3_600_000, seed=2)
    whole = BarAggregator("005930", BAR_SIZES, 600)
    for tick in before + after:
        whole.add(tick)

    first = BarAggregator("005930", BAR_SIZES, 600)
    for tick in before:
        first.add(tick)
    first.flush(restart - restart % 60_000)  # what the bar writer had: the minutes closed by the restart
    stored = first.history("1Min")
    lost = [t for t in before if t.ts_ms >= restart - restart % 60_000]  # the forming minute died with it

    second = BarAggregator("005930", BAR_SIZES, 600)
    for tick in after:
        second.add(tick)
    assert second.current("1D").volume == sum(t.volume for t in after)  # what a restart showed before
    second.preload(stored)
    second.resume_forming(stored)
    assert second.resume_forming(stored) == 0  # once
    for size in ("5Min", "15Min", "30Min", "1H", "1D"):
        want, got = whole.current(size), second.current(size)
        assert (got.start_ms, got.open, got.close) == (want.start_ms, want.open, want.close), size
        assert got.volume == want.volume - sum(t.volume for t in lost if t.ts_ms >= want.start_ms), size
    assert second.current("1D").volume > sum(t.volume for t in after)


def test_stored_bars_after_the_first_live_trade_are_not_counted_twice():
    live = _ticks(RESTART, RESTART + 600_000, seed=3)
    agg = BarAggregator("005930", BAR_SIZES, 600)
    for tick in live:
        agg.add(tick)
    own = agg.history("1Min")  # written by this very process after it started
    before = agg.current("1D").volume
    agg.resume_forming([*own, Bar("005930", "1Min", RESTART - 60_000, 1, 2, 1, 2, 1000)])
    assert agg.current("1D").volume == before + 1000
