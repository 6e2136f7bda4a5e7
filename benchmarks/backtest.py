"""Swing backtest bars per second against backtrader running the same rules, in the same run.

    python -m benchmarks.backtest [--bars N] [--backtrader-bars M] [--repeat R] [--json]

Needs the optional ``bench`` extra (``pip install -e '.[bench]'``: backtrader).

Both sides get the same bars (a pandas DataFrame already in memory) and the same
parameters (the spec's defaults: EMA 5/20/60, RSI 14 with threshold 30, ADX/+DI/-DI
14 with threshold 25, OBV change over 5 bars ≥ 1000, unit 5,000,000 KRW a stage,
repeat on), fill at the next bar's open, and pay the same fees (0.015 % a side,
0.18 % tax on sells, each rounded down to the won). The baseline is the idiomatic
backtrader strategy: backtrader's own EMA, RSI and DirectionalMovement
indicators, a small OBV indicator (backtrader has none), the two-stage SIGNAL
machine in ``next()``, market orders, and a commission scheme; ``Cerebro(stdstats=
False)`` so no observers run. Cash is large enough that no order is ever shrunk.

Before any time counts, the trades of both sides (date, side, shares, price, fees)
and the final equity are checked equal on the real daily series and on the
synthetic slice backtrader runs.

Series: the real ``krx_daily_005930.csv`` (all 8,343 bars), and 1,000,000 synthetic
daily-like bars (``benchmarks.indicators.synthetic_bars``). backtrader runs the
first ``--backtrader-bars`` of the synthetic series (default 100,000: a million
takes it minutes); each side's rate is reported in bars per second, ours on both
the slice and the whole million.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

from benchmarks.indicators import synthetic_bars
from engine.market.csv_bars import load_csv
from engine.strategy.backtest import DEFAULT_COMMISSION_PCT, DEFAULT_TAX_PCT, backtest
from engine.strategy.swing import DMI_PERIOD, RSI_PERIOD, SwingParams

DAILY = Path("/work/shared/data/krx_daily_005930.csv")
CASH = 10**12  # no order is ever shrunk for cash


def synthetic_frame(n: int) -> pd.DataFrame:
    b = synthetic_bars(n)
    idx = pd.date_range("1990-01-01", periods=n, freq="D", tz="UTC")
    return pd.DataFrame({k: b[k] for k in ("open", "high", "low", "close", "volume")}, index=idx)


def ours(df: pd.DataFrame, params: SwingParams) -> tuple[list[tuple], int]:
    r = backtest(df, params, cash=CASH, commission_pct=DEFAULT_COMMISSION_PCT, tax_pct=DEFAULT_TAX_PCT)
    trades = [(t.time[:10], t.side, t.quantity, t.price, t.commission + t.tax) for t in r.trades]
    return trades, r.metrics.final_equity


def backtrader_run(df: pd.DataFrame, params: SwingParams) -> tuple[list[tuple], int]:
    """The same rules as idiomatic backtrader code; returns its trades and final equity."""
    import backtrader as bt

    p = params
    commission_pct, tax_pct = DEFAULT_COMMISSION_PCT, DEFAULT_TAX_PCT

    class OnBalanceVolume(bt.Indicator):
        lines = ("obv",)

        def nextstart(self) -> None:
            self.lines.obv[0] = self.data.volume[0]

        def next(self) -> None:
            c, pc, prev = self.data.close[0], self.data.close[-1], self.lines.obv[-1]
            v = self.data.volume[0]
            self.lines.obv[0] = prev + v if c > pc else prev - v if c < pc else prev

    class KrxFees(bt.CommInfoBase):
        params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_FIXED))

        def _getcommission(self, size: float, price: float, pseudoexec: bool) -> float:
            value = int(round(abs(size) * price))
            fee = int(value * commission_pct / 100)
            return fee + (int(value * tax_pct / 100) if size < 0 else 0)

    class Swing(bt.Strategy):
        def __init__(self) -> None:
            c = self.data.close
            self.ema_s = bt.ind.EMA(c, period=p.short_term)
            self.ema_m = bt.ind.EMA(c, period=p.medium_term)
            self.ema_l = bt.ind.EMA(c, period=p.long_term)
            self.rsi = bt.ind.RSI(c, period=RSI_PERIOD)
            self.dm = bt.ind.DirectionalMovement(self.data, period=DMI_PERIOD)
            self.obv = OnBalanceVolume(self.data)
            self.signal, self.stage2, self.pending = 0, 0, None
            self.trades: list[tuple] = []

        def notify_order(self, order) -> None:
            if order.status != order.Completed:
                if order.status in (order.Canceled, order.Margin, order.Rejected):
                    raise RuntimeError(f"backtrader refused an order: {order.getstatusname()}")
                return
            ex = order.executed
            side = "buy" if order.isbuy() else "sell"
            size = int(abs(ex.size))
            when = bt.num2date(ex.dt).date().isoformat()
            self.trades.append((when, side, size, int(ex.price), int(ex.comm)))
            after = self.pending
            if side == "buy" and after == 2:
                self.stage2 = size
            elif side == "sell":
                self.stage2 = 0
            self.signal, self.pending = after, None

        def _order(self, after: int, size: int, buy: bool) -> None:
            self.pending = after
            (self.buy if buy else self.sell)(size=size)

        def next(self) -> None:
            if len(self) < p.warmup_bars:
                return
            s0, s1 = self.ema_s[-1], self.ema_s[0]
            m0, m1 = self.ema_m[-1], self.ema_m[0]
            l0, l1 = self.ema_l[-1], self.ema_l[0]
            golden1, dead1 = s0 <= m0 and s1 > m1, s0 >= m0 and s1 < m1
            golden2, dead2 = m0 <= l0 and m1 > l1, m0 >= l0 and m1 < l1
            rsi, adx = self.rsi[0], self.dm.adx[0]
            pdi, mdi = self.dm.plusDI[0], self.dm.minusDI[0]
            obv_change = self.obv[0] - self.obv[-p.short_term]
            buy_ok = (p.rsi_threshold <= rsi <= 100 - p.rsi_threshold and adx >= p.adx_threshold
                      and pdi > mdi and obv_change >= p.obv_threshold)
            sell_ok = rsi < 50 or mdi > pdi or obv_change <= -p.obv_threshold
            close, shares = int(self.data.close[0]), int(self.position.size)
            if self.signal == 3:
                if not p.repeat:
                    return
                self.signal = 0
            if self.signal == 0:
                if golden1 and buy_ok and p.unit_amount // close > 0:
                    self._order(1, p.unit_amount // close, True)
                return
            if p.stop_loss_pct is not None and shares > 0 \
                    and close <= self.position.price * (1 - p.stop_loss_pct / 100):
                self._order(3, shares, False)
            elif self.signal == 1:
                if (dead1 or dead2) and sell_ok:
                    self._order(3, shares, False)
                elif golden2 and buy_ok and p.unit_amount // close > 0:
                    self._order(2, p.unit_amount // close, True)
            elif dead2 and sell_ok:
                self._order(3, shares, False)
            elif dead1 and sell_ok:
                self._order(1, min(self.stage2, shares), False)

    cerebro = bt.Cerebro(stdstats=False)
    feed = df[["open", "high", "low", "close", "volume"]].copy()
    feed.index = feed.index.tz_convert(None)
    cerebro.adddata(bt.feeds.PandasData(dataname=feed, openinterest=None))
    cerebro.broker.setcash(float(CASH))
    cerebro.broker.addcommissioninfo(KrxFees())
    cerebro.addstrategy(Swing)
    strategy = cerebro.run()[0]
    return strategy.trades, int(round(cerebro.broker.getvalue()))


def compare(name: str, a: tuple[list[tuple], int], b: tuple[list[tuple], int]) -> int:
    """Both sides' trades and final equity must be equal; returns the number of trades."""
    if a[0] != b[0]:
        first = next((i for i, (x, y) in enumerate(zip(a[0], b[0])) if x != y), min(len(a[0]), len(b[0])))
        raise SystemExit(f"{name}: trades differ at #{first}: ours {a[0][first:first + 2]} "
                         f"backtrader {b[0][first:first + 2]} ({len(a[0])} vs {len(b[0])} trades)")
    if a[1] != b[1]:
        raise SystemExit(f"{name}: final equity differs: ours {a[1]:,} backtrader {b[1]:,}")
    return len(a[0])


def _rate(fn, df: pd.DataFrame, params: SwingParams) -> float:
    t0 = time.perf_counter()
    fn(df, params)
    return len(df) / (time.perf_counter() - t0)


def measure(name: str, df: pd.DataFrame, params: SwingParams, repeat: int) -> dict[str, object]:
    trades = compare(name, ours(df, params), backtrader_run(df, params))
    mine, theirs, ratios = [], [], []
    for r in range(repeat):  # interleaved, alternating who goes first
        if r % 2:
            b, a = _rate(backtrader_run, df, params), _rate(ours, df, params)
        else:
            a, b = _rate(ours, df, params), _rate(backtrader_run, df, params)
        mine.append(a)
        theirs.append(b)
        ratios.append(a / b)
    return {"series": name, "bars": len(df), "trades_checked_equal": trades,
            "backtrader_bars_per_s": round(statistics.median(theirs)),
            "ours_bars_per_s": round(statistics.median(mine)), "ratio": round(statistics.median(ratios), 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000, help="synthetic bars for our side")
    parser.add_argument("--backtrader-bars", type=int, default=100_000, help="synthetic slice both sides run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    params = SwingParams(stock_code="005930", unit_amount=5_000_000, bar_size="1D", repeat=True)
    real = load_csv(DAILY)
    synth = synthetic_frame(args.bars)
    rows = [measure("krx_daily_005930 (real)", real, params, args.repeat),
            measure(f"synthetic, first {args.backtrader_bars:,}", synth.iloc[: args.backtrader_bars], params,
                    args.repeat)]
    whole = statistics.median(_rate(ours, synth, params) for _ in range(args.repeat))
    result = {
        "benchmark": "backtest", "repeat": args.repeat, "rows": rows,
        "ours_bars_per_s_on_all_synthetic": round(whole), "synthetic_bars": len(synth),
        "python": sys.version.split()[0], "machine": platform.machine(), "cores": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"median of {args.repeat} interleaved rounds; trades and final equity checked equal first")
    print(f"{'series':32} {'bars':>9} {'trades':>7} {'backtrader bars/s':>18} {'ours bars/s':>12} {'ratio':>6}")
    for r in rows:
        print(f"{r['series']:32} {r['bars']:>9,} {r['trades_checked_equal']:>7} "
              f"{r['backtrader_bars_per_s']:>18,} {r['ours_bars_per_s']:>12,} {r['ratio']:>6}")
    print(f"ours on all {len(synth):,} synthetic bars: {result['ours_bars_per_s_on_all_synthetic']:,} bars/s")


if __name__ == "__main__":
    main()
