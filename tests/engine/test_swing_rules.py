"""Every SIGNAL transition of the swing rules, on crafted two-bar snapshots."""

import math

import pytest

from engine.strategy.swing import Fill, Snapshot, SwingParams, SwingState, apply_fill, decide

P = SwingParams(stock_code="005930", unit_amount=1_000_000)
FLAT = dict(ema_short_prev=100.0, ema_short=100.0, ema_medium_prev=100.0, ema_medium=100.0,
            ema_long_prev=100.0, ema_long=100.0)
GOLDEN1 = dict(ema_short_prev=99.0, ema_medium_prev=100.0, ema_short=101.0, ema_medium=100.0)
DEAD1 = dict(ema_short_prev=101.0, ema_medium_prev=100.0, ema_short=99.0, ema_medium=100.0)
GOLDEN2 = dict(ema_medium_prev=99.0, ema_long_prev=100.0, ema_medium=101.0, ema_long=100.0)
DEAD2 = dict(ema_medium_prev=101.0, ema_long_prev=100.0, ema_medium=99.0, ema_long=100.0)
BUY_OK = dict(rsi=55.0, adx=30.0, plus_di=30.0, minus_di=10.0, obv_change=5000.0)
SELL_OK = dict(rsi=45.0, adx=30.0, plus_di=30.0, minus_di=10.0, obv_change=0.0)  # RSI < 50 only
NEITHER = dict(rsi=55.0, adx=30.0, plus_di=30.0, minus_di=10.0, obv_change=0.0)


def snap(*parts: dict, bars: int = 500, close: int = 10_000, **kw) -> Snapshot:
    values = dict(FLAT) | BUY_OK
    for p in parts:
        values |= p
    return Snapshot(bars=bars, start_ms=1_000, close=close, **(values | kw))


HOLD1 = SwingState(signal=1, shares=100, avg_cost=10_000.0)
HOLD2 = SwingState(signal=2, shares=150, avg_cost=10_000.0, stage2_shares=50)


def test_warming_up_until_three_long_terms_and_defined_indicators() -> None:
    d = decide(P, SwingState(), snap(GOLDEN1, bars=179))
    assert (d.status, d.action, d.signal_after) == ("warming_up", "hold", 0)
    assert d.reason == "warming up: 179 of 180 bars"
    d = decide(P, SwingState(), snap(GOLDEN1, bars=180, adx=math.nan))
    assert d.status == "warming_up" and "adx" in d.reason
    assert decide(P, SwingState(), snap(GOLDEN1, bars=180)).action == "buy"


def test_0_to_1_on_confirmed_first_stage_golden_cross() -> None:
    d = decide(P, SwingState(), snap(GOLDEN1, close=30_000))
    assert (d.action, d.quantity_rule, d.quantity, d.signal_after, d.trigger) == (
        "buy", "unit_amount", 33, 1, "first_stage_buy")
    assert d.price == 30_000 and d.indicators["adx"] == 30.0
    state = apply_fill(SwingState(), d, Fill(quantity=33, price=30_100))
    assert state == SwingState(signal=1, shares=33, avg_cost=30_100.0, stage2_shares=0)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({}, None),
        (dict(rsi=29.9), "RSI 29.9 < 30.0"),
        (dict(rsi=70.1), "RSI 70.1 > 70.0"),
        (dict(adx=18.2), "ADX 18.2 < 25"),
        (dict(plus_di=10.0, minus_di=10.0), "+DI 10.0 <= -DI 10.0"),
        (dict(obv_change=999.0), "OBV change 999 < 1000"),
        (dict(rsi=30.0, adx=25.0, obv_change=1000.0), None),  # every bound is inclusive
        (dict(rsi=70.0), None),
    ],
)
def test_buy_confirmation(change: dict, reason: str | None) -> None:
    d = decide(P, SwingState(), snap(GOLDEN1, change))
    if reason is None:
        assert d.action == "buy"
    else:
        assert (d.action, d.signal_after) == ("hold", 0)
        assert d.reason.startswith("golden cross EMA5/EMA20 but") and reason in d.reason


def test_no_cross_no_trade() -> None:
    assert decide(P, SwingState(), snap()).reason == "no golden cross EMA5/EMA20"
    # touching is not crossing: now equal
    d = decide(P, SwingState(), snap(dict(ema_short_prev=99.0, ema_short=100.0)))
    assert d.action == "hold"
    # prev equal then above is a cross (a' <= b')
    assert decide(P, SwingState(), snap(dict(ema_short_prev=100.0, ema_short=100.5))).action == "buy"


def test_unit_amount_below_one_share_holds() -> None:
    d = decide(P, SwingState(), snap(GOLDEN1, close=2_000_000))
    assert d.action == "hold" and "buys no share" in d.reason


def test_1_to_2_on_confirmed_second_stage_golden_cross() -> None:
    d = decide(P, HOLD1, snap(GOLDEN2))
    assert (d.action, d.quantity, d.signal_after, d.trigger) == ("buy", 100, 2, "second_stage_buy")
    state = apply_fill(HOLD1, d, Fill(quantity=100, price=12_000))
    assert state == SwingState(signal=2, shares=200, avg_cost=11_000.0, stage2_shares=100)
    assert decide(P, HOLD1, snap(GOLDEN2, adx=10.0)).action == "hold"
    assert decide(P, HOLD1, snap(GOLDEN1)).action == "hold"  # first stage is already bought


@pytest.mark.parametrize("confirm", [dict(rsi=49.9), dict(minus_di=31.0), dict(obv_change=-1000.0)])
@pytest.mark.parametrize(("cross", "trigger"), [(DEAD1, "first_stage_sell"), (DEAD2, "second_stage_sell")])
def test_1_to_3_on_either_confirmed_dead_cross(confirm: dict, cross: dict, trigger: str) -> None:
    d = decide(P, HOLD1, snap(cross, NEITHER, confirm))
    assert (d.action, d.quantity_rule, d.quantity, d.signal_after, d.trigger) == ("sell", "all", 100, 3, trigger)
    assert apply_fill(HOLD1, d, Fill(quantity=100, price=9_000)) == SwingState(signal=3)


def test_dead_cross_without_sell_confirmation_holds() -> None:
    d = decide(P, HOLD1, snap(DEAD1, NEITHER, obv_change=-999.0))
    assert d.action == "hold" and d.signal_after == 1 and "no sell confirmation" in d.reason


def test_2_to_1_sells_the_second_stage_shares() -> None:
    d = decide(P, HOLD2, snap(DEAD1, SELL_OK))
    assert (d.action, d.quantity_rule, d.quantity, d.signal_after) == ("sell", "stage2_shares", 50, 1)
    assert apply_fill(HOLD2, d, Fill(quantity=50, price=11_000)) == SwingState(
        signal=1, shares=100, avg_cost=10_000.0, stage2_shares=0)


def test_2_to_3_on_second_stage_sell_even_with_first_stage_sell() -> None:
    for parts in ((DEAD2,), (DEAD1, DEAD2)):
        d = decide(P, HOLD2, snap(*parts, SELL_OK))
        assert (d.action, d.quantity, d.signal_after, d.trigger) == ("sell", 150, 3, "second_stage_sell")
    assert decide(P, HOLD2, snap(GOLDEN1)).action == "hold"


@pytest.mark.parametrize("state", [HOLD1, HOLD2])
def test_stop_loss_from_any_holding_state(state: SwingState) -> None:
    p = SwingParams(stock_code="005930", unit_amount=1_000_000, stop_loss_pct=5)
    d = decide(p, state, snap(GOLDEN2, close=9_500))
    assert (d.action, d.quantity, d.signal_after, d.trigger) == ("sell", state.shares, 3, "stop_loss")
    assert "stop loss: close 9500 <= 9500" in d.reason
    assert decide(p, state, snap(close=9_501)).action == "hold"
    assert decide(P, state, snap(close=1)).action == "hold"  # no stop loss set


def test_3_completed_without_repeat_and_restarts_with_repeat() -> None:
    done = SwingState(signal=3)
    d = decide(P, done, snap(GOLDEN1))
    assert (d.status, d.action, d.signal_after) == ("completed", "hold", 3)
    rp = SwingParams(stock_code="005930", unit_amount=1_000_000, repeat=True)
    d = decide(rp, done, snap())
    assert (d.status, d.action, d.signal_before, d.signal_after) == ("active", "hold", 3, 0)
    assert apply_fill(done, d, None) == SwingState(signal=0)
    d = decide(rp, done, snap(GOLDEN1))
    assert (d.action, d.signal_before, d.signal_after) == ("buy", 3, 1)


def test_sells_take_priority_over_a_second_stage_buy() -> None:
    d = decide(P, HOLD1, snap(DEAD1, GOLDEN2, dict(rsi=45.0)))
    assert d.action == "sell" and d.signal_after == 3


def test_apply_fill_refuses_inconsistent_input() -> None:
    buy = decide(P, SwingState(), snap(GOLDEN1))
    with pytest.raises(ValueError):
        apply_fill(SwingState(), buy, None)
    with pytest.raises(ValueError):
        apply_fill(SwingState(), decide(P, SwingState(), snap()), Fill(quantity=1, price=1))
    sell = decide(P, HOLD1, snap(DEAD1, SELL_OK))
    with pytest.raises(ValueError, match="holds 100"):
        apply_fill(HOLD1, sell, Fill(quantity=101, price=1))
    assert decide(P, SwingState(), snap()).signal_after == 0
