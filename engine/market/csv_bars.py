"""OHLCV bars from the CSV formats in ``shared/data``, as one pandas shape.

Every loader returns a DataFrame indexed by a UTC ``DatetimeIndex`` named
``time`` (the bar's start), with float64 columns ``open, high, low, close,
volume``, sorted by time. Daily bars are stamped at their KST session's open
(:func:`engine.market.krx.session_open_ms`: 09:00 KST = 00:00 UTC of the same
date, 10:00 on late-opening days; 09:00 for dates outside the calendar), as the
live aggregator stamps a ``1D`` bar. ``df.attrs`` holds ``format`` and,
when the file names one, ``code`` (6-digit string, leading zeros kept).

========== ========================================== ==================
format     header                                     time
========== ========================================== ==================
krx_daily  date,open,high,low,close,volume,...,code   int YYYYMMDD, KST
krx_1m     Datetime,Close,High,Low,Open,Volume        ISO-8601, UTC
yf_daily   Date,Open,High,Low,Close,Volume            YYYY-MM-DD, KST
fx_hourly  ,Open,High,Low,Close,Volume                naive, taken as UTC
========== ========================================== ==================

This is file I/O plus pandas: call it from an executor in async code.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from engine.market import krx
from engine.market.messages import Bar

__all__ = ["FORMATS", "detect_format", "load_csv", "infer_bar_size", "to_bars"]

log = logging.getLogger(__name__)

COLUMNS = ["open", "high", "low", "close", "volume"]
FORMATS: dict[str, tuple[str, ...]] = {
    "krx_daily": ("date", "open", "high", "low", "close", "volume"),
    "krx_1m": ("Datetime", "Close", "High", "Low", "Open", "Volume"),
    "yf_daily": ("Date", "Open", "High", "Low", "Close", "Volume"),
    "fx_hourly": ("", "Open", "High", "Low", "Close", "Volume"),
}
_SIZES = {  # bar spacing -> accepted bar size name
    pd.Timedelta(minutes=1): "1Min", pd.Timedelta(minutes=5): "5Min",
    pd.Timedelta(minutes=15): "15Min", pd.Timedelta(minutes=30): "30Min",
    pd.Timedelta(hours=1): "1H", pd.Timedelta(days=1): "1D",
}


def detect_format(columns: list[str]) -> str:
    """The format whose header starts these columns; ValueError otherwise."""
    cols = ["" if c.startswith("Unnamed:") else c.strip() for c in columns]
    for name, head in FORMATS.items():
        if tuple(cols[: len(head)]) == head:
            return name
    expected = "; ".join(f"{n}: {','.join(h)}" for n, h in FORMATS.items())
    raise ValueError(f"unknown CSV format (header {','.join(columns)!r}); expected one of {expected}")


def load_csv(path: str | Path, fmt: str | None = None) -> pd.DataFrame:
    """Read one CSV of bars; `fmt` forces a format, else it is detected from the header."""
    head = pd.read_csv(path, nrows=0)
    found = detect_format(list(head.columns))
    if fmt is not None and fmt != found:
        if fmt not in FORMATS:
            raise ValueError(f"unknown CSV format {fmt!r}; known: {', '.join(FORMATS)}")
        raise ValueError(f"{path} is in format {found!r}, not {fmt!r}")
    raw = pd.read_csv(path, dtype={"code": str, "ticker": str})
    if found in ("krx_daily", "yf_daily"):
        days = (pd.to_datetime(raw["date"].astype(str), format="%Y%m%d") if found == "krx_daily"
                else pd.to_datetime(raw["Date"], format="%Y-%m-%d"))
        opens = {d: krx.session_open_ms(d.date()) for d in days.unique()}
        time = pd.to_datetime(days.map(opens), unit="ms", utc=True)
    elif found == "krx_1m":
        time = pd.to_datetime(raw["Datetime"], utc=True)
    else:
        time = pd.to_datetime(raw.iloc[:, 0]).dt.tz_localize("UTC")
    df = pd.DataFrame(
        {c: raw[c if found == "krx_daily" else c.capitalize()].to_numpy(np.float64) for c in COLUMNS},
        index=pd.DatetimeIndex(time, name="time").as_unit("ns"),
    )
    df = df.sort_index()
    if df.index.has_duplicates:
        raise ValueError(f"{path}: duplicate bar times, e.g. {df.index[df.index.duplicated()][0]}")
    df.attrs["format"] = found
    code = _code_of(raw, path)
    if code is not None:
        df.attrs["code"] = code
    log.debug("loaded %d bars from %s (%s)", len(df), path, found)
    return df


def _code_of(raw: pd.DataFrame, path: str | Path) -> str | None:
    if "code" in raw.columns and len(raw):
        code = str(raw["code"].iloc[0])
        if re.fullmatch(r"\d{6}", code):
            return code
    m = re.search(r"(?<!\d)(\d{6})(?!\d)", Path(path).name)
    return m.group(1) if m else None


def infer_bar_size(df: pd.DataFrame) -> str:
    """The accepted bar size whose spacing is the most common gap between bars."""
    if len(df) < 2:
        raise ValueError("need at least two bars to infer the bar size")
    gaps = pd.Series(df.index[1:] - df.index[:-1])
    gap = gaps.mode().iloc[0]
    if gap in _SIZES:
        return _SIZES[gap]
    if pd.Timedelta(days=1) <= gap <= pd.Timedelta(days=4):  # weekends and holidays
        return "1D"
    raise ValueError(f"bars are {gap} apart, which is none of {', '.join(_SIZES.values())}")


def to_bars(df: pd.DataFrame, code: str, size: str) -> list[Bar]:
    """The frame as engine Bars: integer prices and volumes (floats rounded half to even)."""
    start_ms = df.index.as_unit("ms").asi8
    cols = [np.rint(df[c].to_numpy(np.float64)).astype(np.int64) for c in COLUMNS]
    return [
        Bar(code=code, size=size, start_ms=int(t), open=int(o), high=int(h), low=int(lo),
            close=int(c), volume=int(v))
        for t, o, h, lo, c, v in zip(start_ms, *cols, strict=True)
    ]
