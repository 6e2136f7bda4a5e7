"""After a restart a swing decides as an uninterrupted one, on every check (issue 11 §5).

A restarted SwingActor seeds its incremental indicators with the last ``SEED_BARS`` closed bars
and goes on bar by bar. Here, on the real daily and 1-minute files, a swing restarted at every
1000th bar is compared with one that saw the whole file: on every later check the decision
(action, quantity rule, trigger, SIGNAL after) is the same in each SIGNAL state, and the
indicators agree to a small relative error (measured on the daily file with the defaults: 1.4e-15
with 1000 bars of seed, 1.7e-8 with 500, 4e-4 with 200; with long + 20 = 80 bars, 27 of 38,367
checks decide otherwise, which the last test shows the comparison catches).
"""

from __future__ import annotations

import math

import pytest

from engine.market.csv_bars import infer_bar_size, load_csv, to_bars
from engine.market.messages import Bar
from engine.strategy.swing import SEED_BARS, Snapshot, SwingIndicators, SwingParams, SwingState, decide
from tests.helpers import data_file

pytestmark = pytest.mark.timeout(120)

# one state per SIGNAL a check can start from: each exercises other rules of decide()
STATES = (SwingState(), SwingState(signal=1, shares=10, avg_cost=50_000.0),
          SwingState(signal=2, shares=20, avg_cost=50_000.0, stage2_shares=10))
PARAMS = SwingParams(stock_code="005930", unit_amount=5_000_000)  # the PRD defaults: EMA 5/20/60
FIELDS = ("ema_short", "ema_medium", "ema_long", "rsi", "adx", "plus_di", "minus_di", "obv_change")


def _bars(name: str) -> list[Bar]:
    df = load_csv(data_file(name))
    return to_bars(df, "005930", infer_bar_size(df))


def _run(bars: list[Bar], params: SwingParams) -> list[Snapshot]:
    ind = SwingIndicators(params)
    return [ind.update_bar(b) for b in bars]


def _verdicts(params: SwingParams, snap: Snapshot) -> list[tuple[str, str, str, int]]:
    out = []
    for state in STATES:
        d = decide(params, state, snap)
        out.append((d.action, d.quantity_rule, d.trigger, d.signal_after))
    return out


def _compare(bars: list[Bar], params: SwingParams, seed: int) -> tuple[int, int, float]:
    """(checks compared, checks whose decision differs, largest relative indicator error) over
    restarts at every 1000th bar, each seeded with the ``seed`` bars before it."""
    whole = _run(bars, params)
    checks = differ = 0
    worst = 0.0
    for restart in range(seed, len(bars), 1000):
        again = _run(bars[restart - seed:], params)[seed:]  # the checks after the restart
        for a, b in zip(whole[restart:], again, strict=True):
            checks += 1
            differ += _verdicts(params, a) != _verdicts(params, b)
            for f in FIELDS:
                x, y = getattr(a, f), getattr(b, f)
                if not (math.isnan(x) and math.isnan(y)):
                    worst = max(worst, abs(x - y) / max(abs(x), 1.0))
    return checks, differ, worst


@pytest.mark.parametrize(("name", "params"), [
    ("krx_daily_005930.csv", PARAMS),
    ("krx_daily_005930.csv", SwingParams(stock_code="005930", unit_amount=5_000_000, long_term=240,
                                         medium_term=120, short_term=20)),
])
def test_a_swing_restarted_with_seed_bars_decides_as_an_uninterrupted_one(name, params):
    bars = _bars(name)
    checks, differ, worst = _compare(bars, params, SEED_BARS)
    assert checks > 5_000  # the daily file: restarts at 1000, 2000, ... each compared to the end
    assert differ == 0
    assert worst < 1e-3  # EMA240 keeps (1 - 2/241)^1000 ~ 2e-4 of the seed's error; EMA60 ~ e-33


def test_the_minute_file_too():
    # three sessions of 1-minute bars: one restart, at bar 1000, with 1000 bars of seed
    bars = _bars("krx_1m_005930_2025-06-16_to_18.csv")
    checks, differ, worst = _compare(bars, PARAMS, SEED_BARS)
    assert (checks, differ) == (len(bars) - 1000, 0) and worst < 1e-9


def test_too_short_a_seed_is_caught():
    # long + 20 = 80 bars of seed for EMA60: the comparison sees decisions differ
    checks, differ, worst = _compare(_bars("krx_daily_005930.csv"), PARAMS, PARAMS.long_term + 20)
    assert differ > 0 and worst > 1e-2
