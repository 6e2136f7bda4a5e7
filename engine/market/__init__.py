"""Market data: indicators (batch and incremental) and CSV bars.

The public surface is re-exported here and loaded on first use (PEP 562), so
``import engine.market`` stays cheap: ``csv_bars`` pulls in pandas and
``indicators`` scipy only when one of their names is touched.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "indicators": (
        "ema", "rsi", "adx", "plus_di", "minus_di", "obv", "EmaState", "RsiState", "DmiState", "ObvState",
        "ema_lookback", "rsi_lookback", "di_lookback", "adx_lookback",
    ),
    "csv_bars": ("FORMATS", "detect_format", "load_csv", "infer_bar_size", "to_bars"),
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
