"""The text report shows stored UTC times in KST: dates for daily bars, minutes otherwise."""

import argparse

import pytest

from engine.strategy import backtest as bt
from tests.helpers import data_file

MINUTE = str(data_file("krx_1m_005930_2025-06-16_to_18.csv"))


def test_kst() -> None:
    assert bt.kst("2025-06-16T00:00:00+00:00") == "2025-06-16 09:00 KST"
    assert bt.kst("2025-06-16T15:30:00+00:00") == "2025-06-17 00:30 KST"
    assert bt.kst("2019-01-14T00:00:00+00:00", daily=True) == "2019-01-14"


def test_minute_report_in_kst(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    bt.add_arguments(parser)
    args = parser.parse_args(["--csv", MINUTE, "--short-term", "3", "--medium-term", "6", "--long-term", "10",
                              "--adx-threshold", "15", "--obv-threshold", "0"])
    assert bt.run(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("005930 2025-06-16 09:00 KST → 2025-06-18 14:59 KST, 1080 bars of 1Min")
    trade_lines = [line for line in out.splitlines() if "SIGNAL" in line]
    assert trade_lines and all(" KST " in line and "+00:00" not in line for line in trade_lines)
