"""Strategies: the swing rules, the realtime strategies and the backtest.

The public surface is re-exported here and loaded on first use (PEP 562), so
``import engine.strategy`` stays cheap: ``backtest`` pulls in pandas only when
one of its names is touched.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "swing": (
        "BAR_SIZES", "RSI_PERIOD", "DMI_PERIOD", "SwingParams", "SwingParamsError", "parse_swing_params",
        "Snapshot", "SwingIndicators", "indicator_arrays", "snapshot_at", "SwingState", "Decision", "Fill",
        "decide", "apply_fill",
    ),
    "realtime": (
        "BasicParams", "RsiParams", "Signal", "RealtimeStrategy", "BasicStrategy", "RsiStrategy",
        "StrategyParamsError", "STRATEGY_NAMES", "make_strategy",
    ),
    # the name `backtest` stays the submodule (the CLI calls backtest.run); the
    # function is engine.strategy.backtest.backtest
    "backtest": ("Trade", "EquityPoint", "Metrics", "BacktestResult", "plot", "kst"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
