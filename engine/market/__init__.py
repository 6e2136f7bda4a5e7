"""Market data: indicators (batch and incremental) and CSV bars.

The public surface is re-exported here and loaded on first use (PEP 562), so
``import engine.market`` stays cheap: ``csv_bars`` pulls in pandas and
``indicators`` scipy only when one of their names is touched.
"""

from __future__ import annotations

from engine.lazy import lazy_exports

_EXPORTS = {
    "indicators": (
        "ema", "rsi", "adx", "plus_di", "minus_di", "obv", "EmaState", "RsiState", "DmiState", "ObvState",
        "ema_lookback", "rsi_lookback", "di_lookback", "adx_lookback",
    ),
    "csv_bars": ("FORMATS", "detect_format", "load_csv", "infer_bar_size", "to_bars"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
