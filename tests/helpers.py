"""Helpers for every test package: where the shared market data lives.

The CSV files are not in the repository: they sit in ``../shared/data`` next to
the repository root (found from this file, whatever the working folder), or
wherever ``AUTOTRADER_TEST_DATA`` points.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from engine.market.csv_bars import load_csv
from engine.strategy.backtest import backtest
from engine.strategy.swing import SwingParams

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("AUTOTRADER_TEST_DATA") or ROOT.parent / "shared" / "data")


def data_file(name: str) -> Path:
    """A file of the shared data; a clear error when the folder is not where expected."""
    path = DATA / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: put the shared data in {ROOT.parent / 'shared' / 'data'} "
                                "or set AUTOTRADER_TEST_DATA to its folder")
    return path


def cli_run(name: str, start: str | None = None):
    """What `autotrader backtest --csv ../shared/data/NAME [--start]` computes, with its defaults."""
    df = load_csv(data_file(name))
    if start:
        df = df[df.index >= pd.Timestamp(start, tz="UTC")]
    return backtest(df, SwingParams(stock_code=df.attrs.get("code", "000000"), unit_amount=5_000_000,
                                    bar_size="1D", repeat=True))
