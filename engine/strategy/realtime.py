"""Realtime strategies over closed 1-minute bars: ``basic`` (EMA cross) and ``rsi``.

A strategy is fed every closed bar of the codes it watches (:meth:`on_bar`) and
answers a :class:`Signal` or ``None``. It keeps O(1) incremental indicator
state per code, so the StrategyActor calls it straight from ``receive``.
Signals are advice only; nothing here orders.

- ``basic``: EMA ``short`` (5) against EMA ``long`` (20). Golden cross
  (prev short ≤ long, now short > long) → buy; dead cross (prev ≥, now <) → sell.
- ``rsi``: RSI ``period`` (14). Crossing up through ``oversold`` (prev ≤ 30 <
  now) → buy; crossing down through ``overbought`` (prev ≥ 70 > now) → sell.

Parameters come from the optional ``params`` object of the WebSocket auth
message; :func:`make_strategy` validates them and raises
:class:`StrategyParamsError` (a ``ValueError``) whose ``fields`` names each bad one.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal, Protocol

import msgspec

from engine.errors import DomainError
from engine.market.indicators import EmaState, RsiState
from engine.market.messages import Bar

__all__ = [
    "BasicParams", "RsiParams", "Signal", "RealtimeStrategy", "BasicStrategy", "RsiStrategy",
    "StrategyParamsError", "STRATEGY_NAMES", "make_strategy",
]

BAR_SIZE = "1Min"
_BAR_MS = 60_000


class StrategyParamsError(DomainError, ValueError):
    """Bad strategy parameters; ``fields`` maps each bad field to its message."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))


class BasicParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    short: int = 5
    long: int = 20

    def validate(self) -> None:
        errors: dict[str, str] = {}
        if not 1 <= self.short <= 240:
            errors["short"] = "must be between 1 and 240"
        if not 2 <= self.long <= 240:
            errors["long"] = "must be between 2 and 240"
        elif self.short >= self.long:
            errors["long"] = "must be greater than short"
        if errors:
            raise StrategyParamsError(errors)


class RsiParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    period: int = 14
    oversold: float = 30.0
    overbought: float = 70.0

    def validate(self) -> None:
        errors: dict[str, str] = {}
        if not 2 <= self.period <= 240:
            errors["period"] = "must be between 2 and 240"
        if not 0 < self.oversold < 100:
            errors["oversold"] = "must be between 0 and 100 (exclusive)"
        if not 0 < self.overbought < 100:
            errors["overbought"] = "must be between 0 and 100 (exclusive)"
        elif self.oversold >= self.overbought:
            errors["overbought"] = "must be greater than oversold"
        if errors:
            raise StrategyParamsError(errors)


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    """A strategy's buy or sell advice on one closed bar."""

    code: str
    side: Literal["buy", "sell"]
    price: int  # the bar's close, KRW
    indicators: dict[str, float]
    ts_ms: int  # the bar's close time (its end), UTC epoch ms
    strategy: str


class RealtimeStrategy(Protocol):
    name: str

    def on_bar(self, bar: Bar) -> Signal | None: ...


class _PerCode:
    """Remembers the last bar seen per code so repeats and stale bars are ignored."""

    def __init__(self) -> None:
        self._last_start: dict[str, int] = {}

    def _fresh(self, bar: Bar) -> bool:
        if bar.size != BAR_SIZE or bar.start_ms <= self._last_start.get(bar.code, -1):
            return False
        self._last_start[bar.code] = bar.start_ms
        return True


class BasicStrategy(_PerCode):
    name = "basic"

    def __init__(self, params: BasicParams | None = None) -> None:
        super().__init__()
        self.params = params or BasicParams()
        self.params.validate()
        self._state: dict[str, tuple[EmaState, EmaState, list[float]]] = {}

    def on_bar(self, bar: Bar) -> Signal | None:
        if not self._fresh(bar):
            return None
        short, long, prev = self._state.setdefault(
            bar.code, (EmaState(self.params.short), EmaState(self.params.long), [math.nan]))
        s, lg = short.update(float(bar.close)), long.update(float(bar.close))
        diff, (prev_diff,) = s - lg, prev
        prev[0] = diff
        if math.isnan(diff) or math.isnan(prev_diff):
            return None
        if prev_diff <= 0 < diff:
            side: Literal["buy", "sell"] = "buy"
        elif prev_diff >= 0 > diff:
            side = "sell"
        else:
            return None
        p = self.params
        return Signal(code=bar.code, side=side, price=bar.close, ts_ms=bar.start_ms + _BAR_MS,
                      strategy=self.name, indicators={f"ema{p.short}": s, f"ema{p.long}": lg})


class RsiStrategy(_PerCode):
    name = "rsi"

    def __init__(self, params: RsiParams | None = None) -> None:
        super().__init__()
        self.params = params or RsiParams()
        self.params.validate()
        self._state: dict[str, tuple[RsiState, list[float]]] = {}

    def on_bar(self, bar: Bar) -> Signal | None:
        if not self._fresh(bar):
            return None
        state, prev = self._state.setdefault(bar.code, (RsiState(self.params.period), [math.nan]))
        now, (before,) = state.update(float(bar.close)), prev
        prev[0] = now
        if math.isnan(now) or math.isnan(before):
            return None
        p = self.params
        if before <= p.oversold < now:
            side: Literal["buy", "sell"] = "buy"
        elif before >= p.overbought > now:
            side = "sell"
        else:
            return None
        return Signal(code=bar.code, side=side, price=bar.close, ts_ms=bar.start_ms + _BAR_MS,
                      strategy=self.name, indicators={f"rsi{p.period}": now, "rsi_prev": before})


_STRATEGIES: dict[str, tuple[type, type]] = {
    "basic": (BasicStrategy, BasicParams),
    "rsi": (RsiStrategy, RsiParams),
}
STRATEGY_NAMES = tuple(_STRATEGIES)
_PATH = re.compile(r"at `\$\.([A-Za-z_][A-Za-z0-9_]*)`")


StrategyParams = BasicParams | RsiParams


def parse_params(name: str, params: dict[str, Any] | None = None) -> StrategyParams:
    """The typed, validated parameters of strategy ``name`` (defaults filled in); StrategyParamsError
    names the bad field or the unknown strategy."""
    if name not in _STRATEGIES:
        raise StrategyParamsError({"strategy_type": f"unknown strategy {name!r}; expected one of "
                                                    f"{', '.join(STRATEGY_NAMES)}"})
    _, params_type = _STRATEGIES[name]
    try:
        parsed = msgspec.convert(params or {}, params_type)
    except msgspec.ValidationError as exc:
        message = str(exc)
        m = _PATH.search(message)
        if m is None:
            unknown = re.search(r"unknown field `([^`]+)`", message)
            field = unknown.group(1) if unknown else "params"
        else:
            field = m.group(1)
        raise StrategyParamsError({field: message}) from None
    parsed.validate()
    return parsed


def make_strategy(name: str, params: StrategyParams | dict[str, Any] | None = None) -> RealtimeStrategy:
    """A fresh strategy by name, from parsed parameters or a raw object (then parsed first)."""
    if params is None or isinstance(params, dict):
        params = parse_params(name, params)
    cls, params_type = _STRATEGIES[name]
    if type(params) is not params_type:
        raise StrategyParamsError({"params": f"{type(params).__name__} is not the parameters of {name!r}"})
    return cls(params)
