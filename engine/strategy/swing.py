"""The two-stage auto-swing rules, pure: parameters, indicators, decisions, fills.

One check runs after each closed bar::

    snap = indicators.update_bar(bar)              # SwingIndicators, O(1) per bar
    decision = decide(params, state, snap)         # proposes; never moves the state
    ... order for decision.quantity, wait for the fill ...
    state = apply_fill(state, decision, fill)      # the SIGNAL moves on a fill only
    # a hold: state = apply_fill(state, decision, None)  (3 -> 0 with repeat)

The backtest builds the same :class:`Snapshot` per bar from the batch indicator
arrays (:func:`indicator_arrays` / :func:`snapshot_at`) and calls the same
:func:`decide` and :func:`apply_fill`.

Rules. On the last two closed bars, ``up(a, b)`` = a' ≤ b' and a > b,
``down`` its mirror. Buy confirmation: threshold ≤ RSI ≤ 100 − threshold, ADX ≥
adx_threshold with +DI > −DI, OBV − OBV(short_term bars ago) ≥ obv_threshold.
Sell confirmation: RSI < 50, or −DI > +DI, or that OBV change ≤ −obv_threshold.
First stage: EMA short/medium crosses; second stage: EMA medium/long crosses.

=====  ==========================================  ======  ==================
from   when (checked in this order)                to      order
=====  ==========================================  ======  ==================
0      first-stage buy                             1       buy unit_amount
1, 2   last close ≤ avg cost × (1 − stop_loss%)    3       sell all
1      first- or second-stage sell                 3       sell all
2      second-stage sell                           3       sell all
2      first-stage sell                            1       sell stage-2 shares
1      second-stage buy                            2       buy unit_amount
3      repeat: checked as 0; else completed        0 / 3   —
=====  ==========================================  ======  ==================

Until ``3 × long_term`` bars have closed (and every indicator is defined) the
swing is ``warming_up`` and holds.
"""

from __future__ import annotations

import math
import re
from collections import deque
from typing import Annotated, Literal

import msgspec
import numpy as np

from engine.errors import DomainError
from engine.market import indicators as ind
from engine.market.messages import Bar

__all__ = [
    "BAR_SIZES", "SEED_BARS", "RSI_PERIOD", "DMI_PERIOD", "SwingParams", "SwingParamsError",
    "Snapshot", "SwingIndicators", "indicator_arrays", "snapshot_at",
    "SwingState", "Decision", "Fill", "decide", "apply_fill",
]

BAR_SIZES = ("1Min", "5Min", "15Min", "30Min", "1H", "1D")
# Closed bars a swing seeds its indicators with before its first check (and the backtest before
# --start): EMAs and Wilder averages forget their seed geometrically, so after this many bars a
# swing restarted with this history decides as an uninterrupted one (EMA240: (1-2/241)^1000 ~ 2e-4
# of the seed's error left, EMA60: ~e-33).
SEED_BARS = 1000
RSI_PERIOD = 14
DMI_PERIOD = 14

Action = Literal["buy", "sell", "hold"]
QuantityRule = Literal["none", "unit_amount", "stage2_shares", "all"]
Status = Literal["warming_up", "active", "completed"]


class SwingParamsError(DomainError, ValueError):
    """Bad swing parameters; ``fields`` maps each bad field to its message."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))


class SwingParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A swing's parameters: the request body of ``POST /swing/register`` and the ``params`` of
    its stored row. The single-field rules are ``msgspec.Meta`` constraints (checked when a body
    or a row is decoded, and shown in the OpenAPI document); :meth:`validate` checks them again
    for parameters built in code, and the rules that relate two fields."""

    stock_code: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6}$", description="6 digits")]
    unit_amount: Annotated[int, msgspec.Meta(gt=0, description="KRW per stage")]
    short_term: Annotated[int, msgspec.Meta(ge=1)] = 5
    medium_term: Annotated[int, msgspec.Meta(ge=2, description="greater than short_term")] = 20
    long_term: Annotated[int, msgspec.Meta(ge=3, le=240, description="greater than medium_term")] = 60
    rsi_threshold: Annotated[float, msgspec.Meta(gt=0, lt=50)] = 30.0
    adx_threshold: Annotated[float, msgspec.Meta(ge=0, le=100)] = 25.0
    obv_threshold: Annotated[float, msgspec.Meta(ge=0)] = 1000.0
    account_id: Annotated[int, msgspec.Meta(gt=0)] | None = None  # default: the caller's first account
    bar_size: Annotated[str, msgspec.Meta(pattern=f"^({'|'.join(BAR_SIZES)})$")] = "1H"
    stop_loss_pct: Annotated[float, msgspec.Meta(gt=0, lt=100)] | None = None
    repeat: bool = False

    @property
    def warmup_bars(self) -> int:
        return 3 * self.long_term

    def validate(self) -> SwingParams:
        e: dict[str, str] = {}
        if not re.fullmatch(r"[0-9]{6}", self.stock_code):
            e["stock_code"] = "must be 6 digits"
        if self.unit_amount <= 0:
            e["unit_amount"] = "must be a positive amount of KRW"
        if not 1 <= self.short_term:
            e["short_term"] = "must be at least 1"
        if self.medium_term <= self.short_term:
            e["medium_term"] = "must be greater than short_term"
        if self.long_term <= self.medium_term:
            e["long_term"] = "must be greater than medium_term"
        elif self.long_term > 240:
            e["long_term"] = "must be at most 240"
        if not 0 < self.rsi_threshold < 50:
            e["rsi_threshold"] = "must be between 0 and 50 (exclusive)"
        if not 0 <= self.adx_threshold <= 100:
            e["adx_threshold"] = "must be between 0 and 100"
        if self.obv_threshold < 0:
            e["obv_threshold"] = "must be 0 or more"
        if self.bar_size not in BAR_SIZES:
            e["bar_size"] = f"must be one of {', '.join(BAR_SIZES)}"
        if self.stop_loss_pct is not None and not 0 < self.stop_loss_pct < 100:
            e["stop_loss_pct"] = "must be between 0 and 100 (exclusive)"
        if self.account_id is not None and self.account_id <= 0:
            e["account_id"] = "must be a positive id"
        if e:
            raise SwingParamsError(e)
        return self


# -- indicators on the last two closed bars ------------------------------------


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What one check sees: the last closed bar and its indicators (NaN in warm-up)."""

    bars: int  # closed bars seen so far, this one included
    start_ms: int  # this bar's start
    close: int
    ema_short_prev: float
    ema_short: float
    ema_medium_prev: float
    ema_medium: float
    ema_long_prev: float
    ema_long: float
    rsi: float
    adx: float
    plus_di: float
    minus_di: float
    obv_change: float  # OBV now − OBV short_term bars ago

    def values(self) -> dict[str, float]:
        return {"ema_short": self.ema_short, "ema_medium": self.ema_medium, "ema_long": self.ema_long,
                "rsi": self.rsi, "adx": self.adx, "plus_di": self.plus_di, "minus_di": self.minus_di,
                "obv_change": self.obv_change}


class SwingIndicators:
    """Incremental indicators for a live swing: feed every closed bar in order."""

    def __init__(self, params: SwingParams) -> None:
        self._emas = [ind.EmaState(p) for p in (params.short_term, params.medium_term, params.long_term)]
        self._prev = [math.nan, math.nan, math.nan]
        self._rsi = ind.RsiState(RSI_PERIOD)
        self._dmi = ind.DmiState(DMI_PERIOD)
        self._obv = ind.ObvState()
        self._obv_hist: deque[float] = deque(maxlen=params.short_term + 1)
        self.bars = 0

    def update_bar(self, bar: Bar) -> Snapshot:
        return self.update(bar.start_ms, bar.high, bar.low, bar.close, bar.volume)

    def update(self, start_ms: int, high: int, low: int, close: int, volume: int) -> Snapshot:
        c = float(close)
        prev = self._prev
        now = [e.update(c) for e in self._emas]
        self._prev = now
        r = self._rsi.update(c)
        self._dmi.update(float(high), float(low), c)
        self._obv_hist.append(self._obv.update(c, float(volume)))
        h = self._obv_hist
        self.bars += 1
        return Snapshot(
            bars=self.bars, start_ms=start_ms, close=close,
            ema_short_prev=prev[0], ema_short=now[0], ema_medium_prev=prev[1], ema_medium=now[1],
            ema_long_prev=prev[2], ema_long=now[2], rsi=r, adx=self._dmi.adx,
            plus_di=self._dmi.plus_di, minus_di=self._dmi.minus_di,
            obv_change=h[-1] - h[0] if len(h) == h.maxlen else math.nan,
        )


def indicator_arrays(params: SwingParams, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                     volume: np.ndarray) -> dict[str, np.ndarray]:
    """The batch version of :class:`SwingIndicators` over a whole series."""
    h, lo, c = (np.asarray(a, dtype=np.float64) for a in (high, low, close))
    o = ind.obv(c, volume)
    change = np.full(c.size, np.nan)
    k = params.short_term
    change[k:] = o[k:] - o[:-k]
    return {
        "ema_short": ind.ema(c, params.short_term), "ema_medium": ind.ema(c, params.medium_term),
        "ema_long": ind.ema(c, params.long_term), "rsi": ind.rsi(c, RSI_PERIOD),
        "adx": ind.adx(h, lo, c, DMI_PERIOD), "plus_di": ind.plus_di(h, lo, c, DMI_PERIOD),
        "minus_di": ind.minus_di(h, lo, c, DMI_PERIOD), "obv_change": change, "obv": o,
    }


def snapshot_at(arrays: dict[str, np.ndarray], i: int, start_ms: int, close: int) -> Snapshot:
    def prev(name: str) -> float:
        return float(arrays[name][i - 1]) if i > 0 else math.nan

    return Snapshot(
        bars=i + 1, start_ms=start_ms, close=close,
        ema_short_prev=prev("ema_short"), ema_short=float(arrays["ema_short"][i]),
        ema_medium_prev=prev("ema_medium"), ema_medium=float(arrays["ema_medium"][i]),
        ema_long_prev=prev("ema_long"), ema_long=float(arrays["ema_long"][i]),
        rsi=float(arrays["rsi"][i]), adx=float(arrays["adx"][i]), plus_di=float(arrays["plus_di"][i]),
        minus_di=float(arrays["minus_di"][i]), obv_change=float(arrays["obv_change"][i]),
    )


# -- state, decisions, fills -----------------------------------------------------


class SwingState(msgspec.Struct, frozen=True, kw_only=True):
    signal: int = 0  # SIGNAL 0..3
    shares: int = 0
    avg_cost: float = 0.0  # KRW per share, fees excluded (as brokers report it)
    stage2_shares: int = 0  # shares bought by the second-stage buy


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    quantity: int  # shares filled
    price: int  # average fill price, KRW


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    status: Status
    action: Action
    quantity_rule: QuantityRule
    quantity: int  # shares proposed (a buy: unit_amount // price)
    price: int  # the close the decision was made on
    signal_before: int
    signal_after: int  # the SIGNAL once the order fills (at once for a hold)
    trigger: str  # first_stage_buy, second_stage_buy, first_stage_sell, second_stage_sell, stop_loss or ""
    reason: str
    bar_start_ms: int
    indicators: dict[str, float]


def _up(a0: float, b0: float, a1: float, b1: float) -> bool:
    return a0 <= b0 and a1 > b1


def _down(a0: float, b0: float, a1: float, b1: float) -> bool:
    return a0 >= b0 and a1 < b1


def _f(x: float) -> str:
    return f"{x:.1f}"


def _buy_failures(p: SwingParams, s: Snapshot) -> list[str]:
    out = []
    if s.rsi < p.rsi_threshold:
        out.append(f"RSI {_f(s.rsi)} < {_f(p.rsi_threshold)}")
    elif s.rsi > 100 - p.rsi_threshold:
        out.append(f"RSI {_f(s.rsi)} > {_f(100 - p.rsi_threshold)}")
    if s.adx < p.adx_threshold:
        out.append(f"ADX {_f(s.adx)} < {p.adx_threshold:g}")
    if not s.plus_di > s.minus_di:
        out.append(f"+DI {_f(s.plus_di)} <= -DI {_f(s.minus_di)}")
    if s.obv_change < p.obv_threshold:
        out.append(f"OBV change {s.obv_change:.0f} < {p.obv_threshold:g}")
    return out


def _sell_reasons(p: SwingParams, s: Snapshot) -> list[str]:
    out = []
    if s.rsi < 50:
        out.append(f"RSI {_f(s.rsi)} < 50")
    if s.minus_di > s.plus_di:
        out.append(f"-DI {_f(s.minus_di)} > +DI {_f(s.plus_di)}")
    if s.obv_change <= -p.obv_threshold:
        out.append(f"OBV change {s.obv_change:.0f} <= {-p.obv_threshold or 0:g}")
    return out


def decide(params: SwingParams, state: SwingState, snap: Snapshot) -> Decision:
    """The check after one closed bar: what to do, why, and the SIGNAL a fill would give."""
    p, s = params, snap
    start = 0 if state.signal == 3 and p.repeat else state.signal

    def out(status: Status, action: Action, rule: QuantityRule, qty: int, after: int,
            trigger: str, reason: str) -> Decision:
        return Decision(status=status, action=action, quantity_rule=rule, quantity=qty, price=s.close,
                        signal_before=state.signal, signal_after=after, trigger=trigger, reason=reason,
                        bar_start_ms=s.start_ms, indicators=s.values())

    def hold(reason: str, status: Status = "active") -> Decision:
        return out(status, "hold", "none", 0, start, "", reason)

    if start == 3:
        return hold("cycle complete (SIGNAL 3, repeat off)", "completed")
    if s.bars < p.warmup_bars:
        return hold(f"warming up: {s.bars} of {p.warmup_bars} bars", "warming_up")
    if any(v != v for v in (s.ema_short, s.ema_medium, s.ema_long, s.rsi, s.adx, s.plus_di, s.minus_di,
                            s.obv_change, s.ema_short_prev, s.ema_medium_prev, s.ema_long_prev)):  # NaN
        undefined = [k for k, v in s.values().items() if math.isnan(v)]
        return hold(f"warming up: {', '.join(undefined) or 'previous EMAs'} not defined yet", "warming_up")

    # Only what the branch taken needs is computed: this runs once per bar in backtests.
    sm, ml = f"EMA{p.short_term}/EMA{p.medium_term}", f"EMA{p.medium_term}/EMA{p.long_term}"
    golden1 = _up(s.ema_short_prev, s.ema_medium_prev, s.ema_short, s.ema_medium)
    dead1 = _down(s.ema_short_prev, s.ema_medium_prev, s.ema_short, s.ema_medium)
    golden2 = _up(s.ema_medium_prev, s.ema_long_prev, s.ema_medium, s.ema_long)
    dead2 = _down(s.ema_medium_prev, s.ema_long_prev, s.ema_medium, s.ema_long)

    def buy_ok() -> str:
        return f"RSI {_f(s.rsi)}, ADX {_f(s.adx)} >= {p.adx_threshold:g}, OBV change {s.obv_change:.0f}"

    def no_sell() -> str:
        return (f"no sell confirmation (RSI {_f(s.rsi)} >= 50, +DI {_f(s.plus_di)} >= -DI {_f(s.minus_di)}, "
                f"OBV change {s.obv_change:.0f} > {-p.obv_threshold or 0:g})")

    def buy(after: int, trigger: str, cross: str) -> Decision:
        qty = p.unit_amount // s.close
        if qty <= 0:
            return hold(f"{cross} confirmed but unit_amount {p.unit_amount} buys no share at {s.close}")
        return out("active", "buy", "unit_amount", qty, after, trigger, f"{cross} confirmed: {buy_ok()}")

    def sell(after: int, rule: QuantityRule, qty: int, trigger: str, why: str) -> Decision:
        if qty <= 0:
            return out("active", "hold", "none", 0, after, trigger, f"{why}; no shares to sell")
        return out("active", "sell", rule, qty, after, trigger, why)

    if start == 0:
        if not golden1:
            return hold(f"no golden cross {sm}")
        buy_no = _buy_failures(p, s)
        if buy_no:
            return hold(f"golden cross {sm} but {', '.join(buy_no)}")
        return buy(1, "first_stage_buy", f"golden cross {sm}")

    if p.stop_loss_pct is not None and state.shares > 0:
        limit = state.avg_cost * (1 - p.stop_loss_pct / 100)
        if s.close <= limit:
            return sell(3, "all", state.shares, "stop_loss",
                        f"stop loss: close {s.close} <= {limit:.0f} (average cost {state.avg_cost:.0f} "
                        f"- {p.stop_loss_pct:g}%)")
    sell_yes = _sell_reasons(p, s) if dead1 or dead2 else []
    sell_why = ", ".join(sell_yes)
    if start == 1:
        if dead1 and sell_yes:
            return sell(3, "all", state.shares, "first_stage_sell", f"dead cross {sm} confirmed: {sell_why}")
        if dead2 and sell_yes:
            return sell(3, "all", state.shares, "second_stage_sell", f"dead cross {ml} confirmed: {sell_why}")
        buy_no = _buy_failures(p, s) if golden2 else []
        if golden2 and not buy_no:
            return buy(2, "second_stage_buy", f"golden cross {ml}")
        notes = []
        if dead1 or dead2:
            notes.append(f"dead cross {sm if dead1 else ml} but {no_sell()}")
        if golden2:
            notes.append(f"golden cross {ml} but {', '.join(buy_no)}")
        return hold("; ".join(notes) or f"no golden cross {ml} and no dead cross")

    # start == 2
    if dead2 and sell_yes:
        return sell(3, "all", state.shares, "second_stage_sell", f"dead cross {ml} confirmed: {sell_why}")
    if dead1 and sell_yes:
        return sell(1, "stage2_shares", min(state.stage2_shares, state.shares), "first_stage_sell",
                    f"dead cross {sm} confirmed: {sell_why}")
    if dead1 or dead2:
        return hold(f"dead cross {sm if dead1 else ml} but {no_sell()}")
    return hold(f"no dead cross {sm} or {ml}")


def apply_fill(state: SwingState, decision: Decision, fill: Fill | None) -> SwingState:
    """The state after a decision: a hold at once (fill None), an order on its confirmed fill."""
    if decision.action == "hold":
        if fill is not None:
            raise ValueError("a hold decision has no fill")
        if decision.signal_after == state.signal:
            return state
        if decision.signal_after in (0, 3):  # a new cycle, or closed with nothing left to sell
            return SwingState(signal=decision.signal_after)
        return msgspec.structs.replace(state, signal=decision.signal_after, stage2_shares=0)
    if fill is None or fill.quantity <= 0 or fill.price <= 0:
        raise ValueError(f"a {decision.action} needs a fill with a positive quantity and price")
    if decision.action == "buy":
        shares = state.shares + fill.quantity
        avg = (state.shares * state.avg_cost + fill.quantity * fill.price) / shares
        stage2 = fill.quantity if decision.signal_after == 2 else state.stage2_shares
        return SwingState(signal=decision.signal_after, shares=shares, avg_cost=avg, stage2_shares=stage2)
    if fill.quantity > state.shares:
        raise ValueError(f"sold {fill.quantity} shares but the swing holds {state.shares}")
    shares = state.shares - fill.quantity
    stage2 = 0 if decision.signal_after in (1, 3) else max(0, state.stage2_shares - fill.quantity)
    return SwingState(signal=decision.signal_after, shares=shares,
                      avg_cost=state.avg_cost if shares else 0.0, stage2_shares=stage2)
