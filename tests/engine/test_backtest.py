"""Backtest accounting on a crafted series, the JSON document, the CLI entry and the plot."""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.strategy import backtest as bt
from engine.strategy.swing import SwingParams
from tests.helpers import data_file

DAILY = str(data_file("krx_daily_005930.csv"))


def _crafted() -> pd.DataFrame:
    """A sawtooth: 25 bars sliding down, 5 bars jumping up, with noise; several swings."""
    rng = np.random.default_rng(11)
    t = np.arange(180)
    steps = np.where(t % 30 < 25, -60, 400) + rng.integers(-40, 40, t.size)
    close = np.rint(10_000 + steps.cumsum()).astype(float)
    open_ = np.concatenate(([close[0]], close[:-1])) + rng.integers(-40, 40, t.size)
    idx = pd.date_range("2024-01-02", periods=t.size, freq="D", tz="UTC")
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) + 60, "low": np.minimum(open_, close) - 60,
                         "close": close, "volume": rng.integers(1_000, 50_000, t.size).astype(float)}, index=idx)


PARAMS = SwingParams(stock_code="005930", unit_amount=2_000_000, short_term=3, medium_term=6, long_term=10,
                     rsi_threshold=5, adx_threshold=10, obv_threshold=0, repeat=True, bar_size="1D")


def test_accounting_identities_on_a_crafted_series() -> None:
    df = _crafted()
    r = bt.backtest(df, PARAMS, cash=5_000_000)
    m = r.metrics
    buys = [t for t in r.trades if t.side == "buy"]
    sells = [t for t in r.trades if t.side == "sell"]
    assert buys and sells and m.trades == len(r.trades) and m.sells == len(sells)
    moves = [(t.signal_before, t.signal_after) for t in r.trades]
    assert moves == [(0, 1), (1, 2), (2, 1), (1, 3)] * 2
    assert "OBV change -38261 <= -0" not in r.trades[2].reason and "<= 0" in r.trades[2].reason
    cash, shares = 5_000_000, 0
    for t in r.trades:
        row = df.loc[pd.Timestamp(t.time)]
        assert t.price == row.open  # filled at the next bar's open
        assert pd.Timestamp(t.decided_at) == df.index[df.index.get_loc(pd.Timestamp(t.time)) - 1]
        value = t.quantity * t.price
        assert t.commission == int(value * 0.015 / 100)
        if t.side == "buy":
            assert t.tax == 0
            cash -= value + t.commission
            shares += t.quantity
        else:
            assert t.tax == value * 3 // 10_000 + value * 15 // 10_000  # 2024 KOSPI: 0.03 % + 0.15 % rural, each floored
            cash += value - t.commission - t.tax
            shares -= t.quantity
        assert t.cash_after == cash and cash >= 0
    assert m.final_equity == cash + shares * int(df.close.iloc[-1]) == r.equity[-1].equity
    assert m.total_return_pct == pytest.approx(100 * (m.final_equity / 5_000_000 - 1), abs=1e-4)
    curve = np.array([e.equity for e in r.equity], dtype=float)
    assert m.max_drawdown_pct == pytest.approx(100 * max(1 - curve / np.maximum.accumulate(curve)), abs=1e-4)
    assert m.exposure_pct == pytest.approx(100 * sum(e.shares > 0 for e in r.equity) / len(df), abs=0.01)
    assert m.win_rate_pct == pytest.approx(100 * sum(t.pnl > 0 for t in sells) / len(sells), abs=0.01)
    first_open, last = int(df.open.iloc[0]), int(df.close.iloc[-1])
    n = 5_000_000 // first_open
    while n * first_open + int(n * first_open * 0.00015) > 5_000_000:
        n -= 1
    left = 5_000_000 - n * first_open - int(n * first_open * 0.00015)
    final = left + n * last - int(n * last * 0.00015) - (n * last * 3 // 10_000 + n * last * 15 // 10_000)
    assert m.buy_and_hold_return_pct == pytest.approx(100 * (final / 5_000_000 - 1), abs=1e-4)
    assert r.equity[0].equity == 5_000_000 and m.rejected_orders == 0


def test_a_buy_the_cash_cannot_cover_is_refused_whole_as_live() -> None:
    df = _crafted()
    small = bt.backtest(df, PARAMS, cash=2_500_000)  # one stage of 2,000,000 fits, the second does not
    assert all(t.cash_after >= 0 for t in small.trades) and small.metrics.rejected_orders > 0
    for t in small.trades:
        if t.side == "buy":  # never shrunk: the decision's quantity, unit_amount // the deciding close
            close = int(df.close.loc[pd.Timestamp(t.decided_at)])
            assert t.quantity == 2_000_000 // close
    assert not any(t.signal_after == 2 for t in small.trades)  # the second stage was refused every time
    broke = bt.backtest(df, PARAMS, cash=5_000)
    assert broke.trades == [] and broke.metrics.rejected_orders > 0
    assert all(e.signal == 0 for e in broke.equity)  # the SIGNAL moves only on a fill


def _args(*extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bt.add_arguments(parser)
    return parser.parse_args(["--csv", DAILY, *extra])


def test_json_document_alone_on_stdout(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / "out.png"
    assert bt.run(_args("--json", "--start", "2015-01-01", "--plot", str(png))) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"parameters", "metrics", "trades", "equity"}
    assert doc["parameters"]["stock_code"] == "005930" and doc["parameters"]["bar_size"] == "1D"
    assert doc["parameters"]["commission_pct"] == 0.015 and doc["parameters"]["tax_pct"] is None  # the schedule
    assert doc["parameters"]["market"] == "KOSPI"
    assert doc["metrics"]["bars"] == len(doc["equity"]) == 2211
    assert doc["metrics"]["start"].startswith("2015-01-02")
    assert set(doc["equity"][0]) == {"time", "close", "equity", "shares", "signal"}
    assert doc["trades"] and {"time", "side", "quantity", "price", "commission", "tax", "reason"} <= set(doc["trades"][0])
    assert all(isinstance(t["price"], int) and isinstance(t["quantity"], int) for t in doc["trades"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_and_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert bt.run(_args("--start", "2020-01-01", "--stop-loss-pct", "5")) == 0
    assert "total return" in capsys.readouterr().out
    assert bt.run(_args("--short-term", "30")) == 2
    assert "medium_term" in capsys.readouterr().err
    assert bt.run(_args("--bar-size", "1H")) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    parser = argparse.ArgumentParser()
    bt.add_arguments(parser)
    assert bt.run(parser.parse_args(["--csv", str(bad)])) == 2
    assert "unknown CSV format" in capsys.readouterr().err


def test_plot_without_matplotlib_says_which_extra_to_install(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the plot extra were not installed
    png = tmp_path / "out.png"
    assert bt.run(_args("--plot", str(png))) == 2
    assert "pip install 'autotrader[plot]'" in capsys.readouterr().err
    assert not png.exists()


def test_a_halted_bar_fills_nothing_the_order_waits_for_the_next_trading_bar() -> None:
    df = _crafted()
    first = bt.backtest(df, PARAMS, cash=5_000_000).trades[0]
    i = df.index.get_loc(pd.Timestamp(first.time))
    halted = df.copy()
    halted.iloc[i, halted.columns.get_loc("volume")] = 0.0  # the fill's bar is a trading halt
    trade = bt.backtest(halted, PARAMS, cash=5_000_000).trades[0]
    assert trade.decided_at == first.decided_at and trade.side == first.side
    assert pd.Timestamp(trade.time) == df.index[i + 1] and trade.price == int(df.open.iloc[i + 1])


def test_bad_input_gets_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    fx = str(Path(DAILY).parent / "fx_1h_EURUSD_backtesting-0.6.6.csv")
    assert bt.run(_args_for(fx)) == 2
    assert "not whole won" in capsys.readouterr().err
    assert bt.run(_args_for(DAILY, "--start", "2030-01-01")) == 2
    assert "no bars between 2030-01-01 and the end" in capsys.readouterr().err
    assert bt.run(_args_for(DAILY, "--start", "1990-09-12", "--end", "1990-12-31", "--json")) == 0
    assert "86 bars in all but the rules warm up on 180" in capsys.readouterr().err  # no decision possible
    assert bt.run(_args_for(DAILY, "--start", "1990-10-01", "--end", "1991-12-31", "--json")) == 0
    assert "17 bars of history before the start, the rules need 180" in capsys.readouterr().err


def _args_for(csv: str, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bt.add_arguments(parser)
    return parser.parse_args(["--csv", csv, *extra])
