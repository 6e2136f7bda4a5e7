"""The backtest decides exactly what a live swing stepping bar by bar decides, on real data."""


import msgspec
import pytest

from engine.market.csv_bars import load_csv, to_bars
from engine.strategy.backtest import backtest
from engine.strategy.swing import Fill, SwingIndicators, SwingParams, SwingState, apply_fill, decide
from tests.helpers import DATA



def _live(params: SwingParams, bars) -> list:
    """What a SwingActor does: incremental indicators, decide, fill at the next bar's open."""
    ind, state, pending, out = SwingIndicators(params), SwingState(), None, []
    for bar in bars:
        if pending is not None:
            state = apply_fill(state, pending, Fill(quantity=pending.quantity, price=bar.open))
            pending = None
        d = decide(params, state, ind.update_bar(bar))
        out.append(d)
        if d.action == "hold":
            state = apply_fill(state, d, None)
        else:
            pending = d
    return out


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("krx_daily_005930.csv", {"repeat": True}),
        ("krx_daily_000660.csv", {"repeat": True, "stop_loss_pct": 3.0, "adx_threshold": 20}),
        ("krx_1m_005930_2025-06-16_to_18.csv", {"repeat": True, "adx_threshold": 15, "obv_threshold": 0}),
    ],
)
def test_backtest_decisions_equal_live_stepping(name: str, extra: dict) -> None:
    df = load_csv(DATA / name)
    params = SwingParams(stock_code=df.attrs["code"], unit_amount=1_000_000, **extra)
    result = backtest(df, params, cash=10**13)  # enough cash that no order is shrunk
    live = _live(params, to_bars(df, params.stock_code, "1D"))
    assert len(live) == len(result.decisions) == len(df)
    for i, (a, b) in enumerate(zip(result.decisions, live)):
        assert msgspec.json.encode(a) == msgspec.json.encode(b), i
    transitions = {(d.signal_before, d.signal_after) for d in live if d.action != "hold"}
    assert (0, 1) in transitions and any(after == 3 for _, after in transitions)
    assert result.metrics.trades >= 2
