"""Strategies: the swing rules, the realtime strategies and the backtest.

The public surface is re-exported here and loaded on first use (PEP 562), so
``import engine.strategy`` stays cheap: ``backtest`` pulls in pandas only when
one of its names is touched.
"""

from __future__ import annotations

from engine.lazy import lazy_exports

_EXPORTS = {
    "swing": (
        "BAR_SIZES", "SEED_BARS", "RSI_PERIOD", "DMI_PERIOD", "SwingParams", "SwingParamsError",
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

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
