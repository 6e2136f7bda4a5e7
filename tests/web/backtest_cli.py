"""What ``autotrader backtest`` computes for a bundled file with its defaults: the reference the
backtest API (tests/web/test_backtests.py) and the dashboard (tests/browser/) are checked against."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.market.csv_bars import load_csv
from engine.strategy.backtest import BacktestResult, backtest
from engine.strategy.swing import SwingParams

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def cli_run(name: str, start: str | None = None) -> BacktestResult:
    """`autotrader backtest --csv ../shared/data/NAME [--start START]` (daily files), as a result."""
    df = load_csv(DATA / name)
    if start:
        df = df[df.index >= pd.Timestamp(start, tz="UTC")]
    return backtest(df, SwingParams(stock_code=df.attrs.get("code", "000000"), unit_amount=5_000_000,
                                    bar_size="1D", repeat=True))
