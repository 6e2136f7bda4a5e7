"""Every CSV format in shared/data loads into one shape; Bars come out as integers."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.market.csv_bars import infer_bar_size, load_csv, to_bars
from tests.helpers import DATA



@pytest.mark.parametrize(
    ("name", "fmt", "rows", "size", "code"),
    [
        ("krx_daily_005930.csv", "krx_daily", 8343, "1D", "005930"),
        ("krx_daily_000660.csv", "krx_daily", 6693, "1D", "000660"),
        ("krx_1m_005930_2025-06-13.csv", "krx_1m", 360, "1Min", "005930"),
        ("yf_daily_005930.KS.csv", "yf_daily", 348, "1D", "005930"),
        ("fx_1h_EURUSD_backtesting-0.6.6.csv", "fx_hourly", 5000, "1H", None),
    ],
)
def test_formats(name: str, fmt: str, rows: int, size: str, code: str | None) -> None:
    df = load_csv(DATA / name)
    assert df.attrs["format"] == fmt and df.attrs.get("code") == code
    assert len(df) == rows and list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert all(df[c].dtype == np.float64 for c in df.columns)
    assert isinstance(df.index, pd.DatetimeIndex) and str(df.index.tz) == "UTC"
    assert df.index.is_monotonic_increasing
    assert infer_bar_size(df) == size


def test_krx_daily_session_date_at_0900_kst() -> None:
    df = load_csv(DATA / "krx_daily_005930.csv")
    first = df.iloc[0]
    assert df.index[0] == pd.Timestamp("1990-09-11 09:00", tz="Asia/Seoul")
    assert (first.open, first.high, first.low, first.close, first.volume) == (364, 365, 364, 364, 471921)


def test_krx_1m_column_order_and_utc() -> None:
    df = load_csv(DATA / "krx_1m_005930_2025-06-13.csv")
    # Datetime,Close,High,Low,Open,Volume / 2025-06-13 00:01:00+00:00,59900,60000,59700,60000,297843
    row = df.loc[pd.Timestamp("2025-06-13 09:01", tz="Asia/Seoul")]
    assert (row.open, row.high, row.low, row.close, row.volume) == (60000, 60000, 59700, 59900, 297843)


def test_to_bars_rounds_floats_to_int() -> None:
    df = load_csv(DATA / "yf_daily_005930.KS.csv")
    bars = to_bars(df.iloc[:2], "005930", "1D")
    assert bars[0].start_ms == int(pd.Timestamp("2025-03-18 00:00", tz="UTC").timestamp() * 1000)
    # 57376.348.., 57571.505.., 55912.665.., 56205.402..
    assert (bars[0].open, bars[0].high, bars[0].low, bars[0].close) == (57376, 57572, 55913, 56205)
    assert all(isinstance(getattr(bars[0], f), int) for f in ("open", "close", "volume"))
    assert bars[1].code == "005930" and bars[1].size == "1D"


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("when,price\n2024-01-01,1\n")
    with pytest.raises(ValueError, match="unknown CSV format.*krx_daily"):
        load_csv(bad)
    with pytest.raises(ValueError, match="not 'krx_1m'"):
        load_csv(DATA / "krx_daily_005930.csv", fmt="krx_1m")
