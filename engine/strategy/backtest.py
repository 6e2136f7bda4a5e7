"""Backtest of the swing rules over a CSV of bars: the very decide/apply_fill of a live swing.

Indicators are computed once with the batch functions; then one pass over the
bars asks :func:`~engine.strategy.swing.decide` after each close, exactly as a
live SwingActor does, and fills an order at the next bar's open. Money is whole
KRW and whole shares. A decision is never filled on a zero-volume (halted)
bar: it waits for the next bar that trades. Commission (default 0.015 %) on both sides and the
sell-side tax are rounded down to the won, with the live paper broker's
:class:`~engine.risk.Fees` (by default the KRX transaction tax of each sale's
settlement date and market, :mod:`engine.market.tax`; ``--tax`` sets a flat one). A sale's
``pnl`` is the realised P&L of :mod:`engine.pnl`, as the paper ledger books it: proceeds less
commission and tax, less the exact cost basis (commission in) its shares take. A buy that the cash
cannot cover (value plus commission at the fill price) is refused whole and the
SIGNAL stays — the live rule: the account refuses it as ``insufficient_cash``
and the swing records the rejection without moving its SIGNAL.

``autotrader backtest`` delegates to :func:`add_arguments` and :func:`run`.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from engine.market.bars import merge_bars
from engine.market.csv_bars import infer_bar_size, load_csv, to_bars
from engine.market.krx import BAR_MS, parse_bar_size
from engine.market.tax import MARKETS
from engine.pnl import CostBasis
from engine.risk import Fees, fee
from engine.strategy.swing import (
    SEED_BARS, Decision, Fill, Snapshot, SwingParams, SwingState, apply_fill, decide, indicator_arrays,
)

__all__ = ["Trade", "EquityPoint", "Metrics", "BacktestResult", "backtest", "plot", "kst", "add_arguments", "run"]

log = logging.getLogger(__name__)

DEFAULT_CASH = 10_000_000
DEFAULT_UNIT_AMOUNT = 5_000_000
DEFAULT_COMMISSION_PCT = 0.015
DEFAULT_TAX_PCT: float | None = None  # the KRX schedule by date and market


class Trade(msgspec.Struct, frozen=True, kw_only=True):
    time: str  # fill: the next bar's start, ISO-8601 UTC
    decided_at: str  # the bar whose close made the decision
    side: str
    quantity: int
    price: int
    commission: int
    tax: int
    cash_after: int
    signal_before: int
    signal_after: int
    trigger: str
    reason: str
    pnl: int | None = None  # sells: realised P&L, the cash round trip of engine.pnl


class EquityPoint(msgspec.Struct, frozen=True, array_like=False):
    time: str
    close: int
    equity: int
    shares: int
    signal: int


class Metrics(msgspec.Struct, frozen=True, kw_only=True):
    bars: int
    start: str
    end: str
    initial_cash: int
    final_equity: int
    total_return_pct: float
    max_drawdown_pct: float
    trades: int
    sells: int
    win_rate_pct: float | None  # share of sells with a positive pnl
    exposure_pct: float  # share of bars closed with shares held
    buy_and_hold_return_pct: float
    rejected_orders: int


class BacktestResult(msgspec.Struct, frozen=True, kw_only=True):
    parameters: dict[str, Any]
    metrics: Metrics
    trades: list[Trade]
    equity: list[EquityPoint]
    decisions: list[Decision]  # one per bar, not part of the JSON document

    def document(self) -> dict[str, Any]:
        return {"parameters": self.parameters, "metrics": msgspec.to_builtins(self.metrics),
                "trades": msgspec.to_builtins(self.trades), "equity": msgspec.to_builtins(self.equity)}


def _fee(value: int, pct: float) -> int:
    return fee(value, pct)


def backtest(df: pd.DataFrame, params: SwingParams, *, cash: int = DEFAULT_CASH,
             commission_pct: float = DEFAULT_COMMISSION_PCT, tax_pct: float | None = DEFAULT_TAX_PCT,
             market: str = "KOSPI", warmup: int = 0,
             progress: Callable[[int, int], None] | None = None) -> BacktestResult:
    """Run the swing rules over `df` (csv_bars shape) and account for every fill.

    The first ``warmup`` bars only seed the indicators (as the history a live swing loads
    before its first check): no decision, no trade, no equity point is made on them.
    ``progress(done, total)``, if given, is called every 1 % of the bars (from
    the thread the backtest runs on).
    """
    params.validate()
    fees = Fees(commission_pct, tax_pct)
    if cash <= 0:
        raise ValueError("cash must be positive")
    if len(df) - warmup < 2:
        raise ValueError("need at least two bars to trade on")
    o, h, lo, c, v = (np.rint(df[k].to_numpy(np.float64)).astype(np.int64)
                      for k in ("open", "high", "low", "close", "volume"))
    arrays = indicator_arrays(params, h, lo, c, v)
    starts = df.index.as_unit("ms").asi8.tolist()
    times = _iso_utc(df.index)
    opens, closes, volumes = o.tolist(), c.tolist(), v.tolist()
    snapshots = _snapshots(arrays, starts, closes)
    state, money, basis = SwingState(), cash, CostBasis()  # the shares held and the KRW they cost, fees in
    pending: Decision | None = None
    decided_at = ""  # the bar whose close made the pending decision
    trades: list[Trade] = []
    equity: list[EquityPoint] = []
    decisions: list[Decision] = []
    rejected = held_bars = 0
    total, every = len(starts), max(1, len(starts) // 100)
    for i, snap in enumerate(snapshots):
        if progress is not None and i % every == 0:
            progress(i, total)
        if i < warmup:
            continue
        if pending is not None and volumes[i] <= 0:
            # a halted bar (no volume): nothing trades, the order waits for the next bar that does, and
            # no new decision is taken meanwhile (as a live swing with an order in flight)
            held_bars += state.shares > 0
            equity.append(EquityPoint(time=times[i], close=closes[i], equity=money + state.shares * closes[i],
                                      shares=state.shares, signal=state.signal))
            continue
        if pending is not None:
            d, pending, price = pending, None, opens[i]
            if d.action == "buy":
                qty = d.quantity
                if qty * price + _fee(qty * price, commission_pct) > money:
                    rejected += 1  # refused whole, as the account refuses it live (insufficient_cash)
                    log.info("%s: buy of %d refused, cash %d < %d", times[i], qty, money,
                             qty * price + _fee(qty * price, commission_pct))
                else:
                    fee = _fee(qty * price, commission_pct)
                    money -= qty * price + fee
                    basis = basis.bought(qty, qty * price, fee)
                    state = apply_fill(state, d, Fill(quantity=qty, price=price))
                    trades.append(Trade(time=times[i], decided_at=decided_at, side="buy", quantity=qty,
                                        price=price, commission=fee, tax=0, cash_after=money,
                                        signal_before=d.signal_before, signal_after=d.signal_after,
                                        trigger=d.trigger, reason=d.reason))
            else:
                qty = min(d.quantity, state.shares)
                value = qty * price
                fee, tax = _fee(value, commission_pct), fees.tax("sell", value, starts[i], market)
                sale = basis.sold(qty, value, fee, tax)  # the one realised P&L (engine.pnl)
                basis = sale.rest
                money += value - fee - tax
                state = apply_fill(state, d, Fill(quantity=qty, price=price))
                trades.append(Trade(time=times[i], decided_at=decided_at, side="sell", quantity=qty,
                                    price=price, commission=fee, tax=tax, cash_after=money,
                                    signal_before=d.signal_before, signal_after=d.signal_after,
                                    trigger=d.trigger, reason=d.reason, pnl=sale.realized))
        d = decide(params, state, snap)
        decisions.append(d)
        if d.action == "hold":
            state = apply_fill(state, d, None)
        else:
            pending, decided_at = d, times[i]
        held_bars += state.shares > 0
        equity.append(EquityPoint(time=times[i], close=closes[i], equity=money + state.shares * closes[i],
                                  shares=state.shares, signal=state.signal))
    if pending is not None:
        log.info("last decision (%s) has no next bar to fill at", pending.action)
    return BacktestResult(
        parameters=msgspec.to_builtins(params) | {"cash": cash, "commission_pct": commission_pct,
                                                  "tax_pct": tax_pct, "market": market},
        metrics=_metrics(equity, trades, cash, opens[warmup], closes[-1], commission_pct,
                         lambda value: fees.tax("sell", value, starts[-1], market), held_bars, rejected),
        trades=trades, equity=equity, decisions=decisions)


def _fold(df: pd.DataFrame, size: str, into: str) -> pd.DataFrame:
    """The file's bars folded into larger ``into`` bars, as the live aggregator builds them
    (:func:`engine.market.bars.merge_bars`: the KRX session's buckets)."""
    if BAR_MS[into] < BAR_MS[size]:
        raise ValueError(f"--bar-size {into} is smaller than the file's {size} bars")
    bars = merge_bars(to_bars(df, df.attrs.get("code", "000000"), size), into)
    out = pd.DataFrame({c: np.array([getattr(b, c) for b in bars], dtype=np.float64)
                        for c in ("open", "high", "low", "close", "volume")},
                       index=pd.DatetimeIndex(pd.to_datetime([b.start_ms for b in bars], unit="ms", utc=True),
                                              name="time").as_unit("ns"))
    out.attrs.update(df.attrs)
    return out


def _check_won(df: pd.DataFrame, path: str) -> None:
    """KRX bars are whole won: a file of fractional prices (an FX series) is refused, not rounded."""
    prices = df[["open", "high", "low", "close"]].to_numpy()
    fractional = int((prices != np.rint(prices)).any(axis=1).sum())
    if fractional:
        raise ValueError(f"{path}: {fractional} of {len(df)} bars have prices that are not whole won "
                         f"(e.g. {prices[(prices != np.rint(prices)).any(axis=1)][0][3]!r}); KRX bars are in KRW")


def _iso_utc(index: pd.DatetimeIndex) -> list[str]:
    """ISO-8601 UTC strings equal to ``Timestamp.isoformat()``, built in one numpy call."""
    utc = index.tz_convert("UTC") if index.tz is not None else index.tz_localize("UTC")
    stamps = utc.tz_localize(None).to_numpy()
    seconds = stamps.astype("datetime64[s]")
    if (seconds != stamps).any():  # sub-second stamps: let pandas spell them
        return [t.isoformat() for t in utc]
    return [t + "+00:00" for t in np.datetime_as_string(seconds).tolist()]


_COLUMNS = ("ema_short", "ema_medium", "ema_long", "rsi", "adx", "plus_di", "minus_di", "obv_change")


def _snapshots(arrays: dict[str, np.ndarray], starts: list[int], closes: list[int]) -> Iterator[Snapshot]:
    """What ``swing.snapshot_at`` gives for each bar in turn, from columns converted once."""
    es, em, el, r, a, pdi, mdi, obv = (arrays[k].tolist() for k in _COLUMNS)
    nan = [math.nan]
    for i, (t, c, s0, s1, m0, m1, l0, l1, *rest) in enumerate(zip(
            starts, closes, nan + es[:-1], es, nan + em[:-1], em, nan + el[:-1], el, r, a, pdi, mdi, obv)):
        yield Snapshot(bars=i + 1, start_ms=t, close=c, ema_short_prev=s0, ema_short=s1, ema_medium_prev=m0,
                       ema_medium=m1, ema_long_prev=l0, ema_long=l1, rsi=rest[0], adx=rest[1],
                       plus_di=rest[2], minus_di=rest[3], obv_change=rest[4])


def _metrics(equity: list[EquityPoint], trades: list[Trade], cash: int, first_open: int, last_close: int,
             commission_pct: float, tax_of: Callable[[int], int], held_bars: int, rejected: int) -> Metrics:
    curve = np.array([p.equity for p in equity], dtype=np.float64)
    peak = np.maximum.accumulate(curve)
    sells = [t for t in trades if t.side == "sell"]
    wins = sum(1 for t in sells if (t.pnl or 0) > 0)
    per_share = first_open + first_open * commission_pct / 100
    bh_shares = int(cash // per_share) if per_share > 0 else 0
    while bh_shares > 0 and bh_shares * first_open + _fee(bh_shares * first_open, commission_pct) > cash:
        bh_shares -= 1
    bh_left = cash - bh_shares * first_open - _fee(bh_shares * first_open, commission_pct)
    bh_value = bh_shares * last_close
    bh_final = bh_left + bh_value - _fee(bh_value, commission_pct) - tax_of(bh_value)
    return Metrics(
        bars=len(equity), start=equity[0].time, end=equity[-1].time, initial_cash=cash,
        final_equity=int(curve[-1]), total_return_pct=round(float(100 * (curve[-1] / cash - 1)), 4),
        max_drawdown_pct=round(float(100 * np.max(1 - curve / peak)), 4), trades=len(trades),
        sells=len(sells), win_rate_pct=round(100 * wins / len(sells), 2) if sells else None,
        exposure_pct=round(100 * held_bars / len(equity), 2),
        buy_and_hold_return_pct=round(100 * (bh_final / cash - 1), 4), rejected_orders=rejected)


# -- command line ------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `autotrader backtest` options; every one has a default except --csv."""
    parser.add_argument("--csv", required=True, help="CSV of bars (any format in shared/data)")
    parser.add_argument("--code", help="6-digit stock code (default: from the file)")
    parser.add_argument("--start", help="first bar date, YYYY-MM-DD (default: the file's first)")
    parser.add_argument("--end", help="last bar date, YYYY-MM-DD (default: the file's last)")
    defaults = msgspec.to_builtins(SwingParams(stock_code="000000", unit_amount=1))
    for name, kind in (("short_term", int), ("medium_term", int), ("long_term", int),
                       ("rsi_threshold", float), ("adx_threshold", float), ("obv_threshold", float)):
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=defaults[name],
                            help=f"default {defaults[name]}")
    parser.add_argument("--unit-amount", type=int, default=DEFAULT_UNIT_AMOUNT,
                        help=f"KRW per stage (default {DEFAULT_UNIT_AMOUNT})")
    parser.add_argument("--stop-loss-pct", type=float, default=None, help="default: no stop loss")
    parser.add_argument("--repeat", action=argparse.BooleanOptionalAction, default=True,
                        help="start a new cycle after SIGNAL 3 (default on in backtests)")
    parser.add_argument("--bar-size", help="the swing's bars: the file's (inferred, the default) or larger, "
                                           "folded on the KRX session (1-minute files into 30Min or 1H)")
    parser.add_argument("--cash", type=int, default=DEFAULT_CASH, help=f"default {DEFAULT_CASH}")
    parser.add_argument("--commission", type=float, default=DEFAULT_COMMISSION_PCT,
                        help=f"percent per side (default {DEFAULT_COMMISSION_PCT})")
    parser.add_argument("--tax", type=float, default=DEFAULT_TAX_PCT,
                        help="flat percent on sells (default: the KRX transaction tax of each sale's date)")
    parser.add_argument("--market", choices=MARKETS, default="KOSPI",
                        help="the code's market, for the transaction tax (default KOSPI)")
    parser.add_argument("--plot", metavar="PNG", help="draw price, EMAs, trades and equity to this file")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def run(args: argparse.Namespace) -> int:
    """Run one backtest from parsed arguments; 0 on success, 2 on bad input."""
    if args.plot and not _can_plot():
        print("backtest: --plot needs matplotlib: pip install 'autotrader[plot]'", file=sys.stderr)
        return 2
    try:
        df = load_csv(args.csv)
        _check_won(df, args.csv)
        size = infer_bar_size(df)
        if args.bar_size and parse_bar_size(args.bar_size) != size:
            df = _fold(df, size, parse_bar_size(args.bar_size))
        full = df
        if args.end:
            df = df[df.index < pd.Timestamp(args.end, tz="Asia/Seoul") + pd.Timedelta(days=1)]
        warmup = 0
        if args.start:
            first = pd.Timestamp(args.start, tz="Asia/Seoul")
            before = df[df.index < first].iloc[-SEED_BARS:]  # seeds the indicators, as a live swing's history
            df = pd.concat([before, df[df.index >= first]])
            warmup = len(before)
        if len(df) - warmup == 0:
            raise ValueError(f"no bars between {args.start or 'the start'} and {args.end or 'the end'} "
                             f"(the file covers {kst(full.index[0].isoformat(), True)} .. "
                             f"{kst(full.index[-1].isoformat(), True)})")
        size = args.bar_size and parse_bar_size(args.bar_size) or size
        params = SwingParams(
            stock_code=args.code or df.attrs.get("code", "000000"), unit_amount=args.unit_amount,
            short_term=args.short_term, medium_term=args.medium_term, long_term=args.long_term,
            rsi_threshold=args.rsi_threshold, adx_threshold=args.adx_threshold,
            obv_threshold=args.obv_threshold, bar_size=size, stop_loss_pct=args.stop_loss_pct,
            repeat=args.repeat).validate()
        if len(df) < params.warmup_bars:
            print(f"backtest: warning: {len(df)} bars in all but the rules warm up on {params.warmup_bars} "
                  f"(3 x long_term): no decision will be taken", file=sys.stderr)
        elif args.start and warmup < params.warmup_bars:
            print(f"backtest: warning: {warmup} bars of history before the start, the rules need "
                  f"{params.warmup_bars}: the first decisions are warm-up holds", file=sys.stderr)
        result = backtest(df, params, cash=args.cash, commission_pct=args.commission, tax_pct=args.tax,
                          market=args.market, warmup=warmup)
    except (OSError, ValueError) as exc:  # SwingParamsError is a ValueError naming the fields
        print(f"backtest: {exc}", file=sys.stderr)
        return 2
    if args.plot:
        plot(df, result, Path(args.plot), warmup=warmup)
        log.info("plot written to %s", args.plot)
    if args.json:
        sys.stdout.write(msgspec.json.encode(result.document()).decode() + "\n")
    else:
        print(_summary(result))
    return 0


_KST = timezone(timedelta(hours=9), "KST")


def kst(iso_utc: str, daily: bool = False) -> str:
    """A stored UTC time as shown to people: '2019-01-14 09:00 KST', or the KST date for daily bars."""
    t = datetime.fromisoformat(iso_utc).astimezone(_KST)
    return t.strftime("%Y-%m-%d") if daily else t.strftime("%Y-%m-%d %H:%M KST")


def _summary(r: BacktestResult) -> str:
    m = r.metrics
    daily = r.parameters.get("bar_size") == "1D"
    lines = [
        f"{r.parameters['stock_code']} {kst(m.start, daily)} → {kst(m.end, daily)}, {m.bars} bars "
        f"of {r.parameters.get('bar_size')} (times in KST; fills at the next bar's open)",
        f"final equity      {m.final_equity:>15,} KRW (from {m.initial_cash:,})",
        f"total return      {m.total_return_pct:>14.2f} %   buy and hold {m.buy_and_hold_return_pct:.2f} %",
        f"max drawdown      {m.max_drawdown_pct:>14.2f} %",
        f"trades            {m.trades:>15}   sells {m.sells}, win rate "
        + (f"{m.win_rate_pct:.1f} %" if m.win_rate_pct is not None else "n/a"),
        f"exposure          {m.exposure_pct:>14.2f} %   rejected orders {m.rejected_orders}",
    ]
    if r.trades:
        lines.append(f"last {min(10, len(r.trades))} of {len(r.trades)} trades (fill time, side, shares @ KRW):")
    for t in r.trades[-10:]:
        lines.append(f"  {kst(t.time, daily)} {t.side:4} {t.quantity:>8} @ {t.price:>9,}  "
                     f"SIGNAL {t.signal_before}->{t.signal_after}  {t.reason}")
    return "\n".join(lines)


def _can_plot() -> bool:
    """matplotlib is the optional ``plot`` extra."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot(df: pd.DataFrame, result: BacktestResult, path: Path, warmup: int = 0) -> None:
    """Price with the three EMAs and the trades, over the equity curve (matplotlib, Agg).
    The first ``warmup`` rows of ``df`` only seed the EMAs (they are not drawn)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    p = result.parameters
    x = df.index.tz_convert("Asia/Seoul").tz_localize(None)
    close = df["close"].to_numpy(np.float64)
    arrays = indicator_arrays(_params_of(p),
                              df["high"].to_numpy(), df["low"].to_numpy(), close, df["volume"].to_numpy())
    x, close = x[warmup:], close[warmup:]
    arrays = {k: v[warmup:] for k, v in arrays.items()}
    fig = Figure(figsize=(12, 7), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot(x, close, color="black", linewidth=0.8, label="close")
    for name, color in (("ema_short", "tab:orange"), ("ema_medium", "tab:blue"), ("ema_long", "tab:purple")):
        period = p[name.replace("ema_", "") + "_term"]
        top.plot(x, arrays[name], color=color, linewidth=0.8, label=f"EMA{period}")
    pos = pd.DatetimeIndex([pd.Timestamp(t) for t in (tr.time for tr in result.trades)])
    if len(pos):
        pos = pos.tz_convert("Asia/Seoul").tz_localize(None)
    for side, marker, color in (("buy", "^", "tab:green"), ("sell", "v", "tab:red")):
        pick = [k for k, t in enumerate(result.trades) if t.side == side]
        if pick:
            top.scatter(pos[pick], [result.trades[k].price for k in pick], marker=marker, color=color,
                        s=40, zorder=3, label=side)
    top.set_title(f"{p['stock_code']} swing backtest ({p['bar_size']} bars, EMA {p['short_term']}/{p['medium_term']}/"
                  f"{p['long_term']}): return {result.metrics.total_return_pct:.1f} %, "
                  f"buy and hold {result.metrics.buy_and_hold_return_pct:.1f} %")
    top.set_ylabel("KRW")
    top.legend(loc="upper left", fontsize=8)
    bottom.plot(x, [e.equity for e in result.equity], color="tab:green", linewidth=0.9)
    bottom.set_ylabel("equity, KRW")
    bottom.set_xlabel("KST")
    for ax in (top, bottom):
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    fig.savefig(path, dpi=100)


def _params_of(p: dict[str, Any]) -> SwingParams:
    fields = set(SwingParams.__struct_fields__)
    return SwingParams(**{k: v for k, v in p.items() if k in fields})
