"""Bar aggregation cost per trade, against a naive per-size aggregator in the same run.

    python -m benchmarks.bars [--trades N] [--repeat R] [--json]

Both sides aggregate the same trades (one KST trading day, random prices) into
all six bar sizes and must produce the same closed bars. The baseline updates
every size on every trade (the obvious design); ``BarAggregator`` updates the
smallest size only and folds closed bars upward. The figure is the ratio
baseline time / aggregator time (above 1: the aggregator is faster), plus the
aggregator's nanoseconds per trade.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time

from engine.market.bars import BarAggregator
from engine.market.krx import BAR_MS, BAR_SIZES, KST_OFFSET_MS
from engine.market.messages import Bar, Tick


def make_trades(n: int, seed: int = 1) -> list[Tick]:
    rng = random.Random(seed)
    start = 1_749_772_800_000  # 09:00 KST
    span = 6 * 3_600_000 + 1_800_000
    times = sorted(start + rng.randrange(span) for _ in range(n))
    price = 60_000
    out = []
    for ts in times:
        price = max(100, price + 100 * rng.randint(-1, 1))
        out.append(Tick("005930", ts, price, rng.randint(1, 500), 0, 0, 0, 0))
    return out


def naive(trades: list[Tick]) -> list[Bar]:
    """Every size updated on every trade: [start, o, h, l, c, v] per size."""
    steps = [BAR_MS[s] for s in BAR_SIZES]
    cur: list[list[int] | None] = [None] * len(steps)
    out: list[Bar] = []
    for t in trades:
        local = t.ts_ms + KST_OFFSET_MS
        for i, step in enumerate(steps):
            start = local - local % step - KST_OFFSET_MS
            bar = cur[i]
            if bar is not None and bar[0] == start:
                bar[2] = max(bar[2], t.price)
                bar[3] = min(bar[3], t.price)
                bar[4] = t.price
                bar[5] += t.volume
                continue
            if bar is not None:
                out.append(Bar(t.code, BAR_SIZES[i], *bar))
            cur[i] = [start, t.price, t.price, t.price, t.price, t.volume]
    return out


def aggregated(trades: list[Tick]) -> list[Bar]:
    agg = BarAggregator("005930")
    out: list[Bar] = []
    for t in trades:
        out.extend(agg.add(t))
    return out


def timed(fn, trades) -> tuple[float, list[Bar]]:
    t0 = time.perf_counter()
    bars = fn(trades)
    return time.perf_counter() - t0, bars


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    trades = make_trades(args.trades)
    ratios, ns = [], []
    for _ in range(args.repeat):
        t_naive, b_naive = timed(naive, trades)
        t_agg, b_agg = timed(aggregated, trades)
        key = lambda b: (BAR_MS[b.size], b.start_ms)  # noqa: E731
        if sorted(b_naive, key=key) != sorted(b_agg, key=key):
            raise SystemExit("aggregator and baseline disagree")
        ratios.append(t_naive / t_agg)
        ns.append(t_agg / len(trades) * 1e9)
    result = {
        "benchmark": "bars", "trades": len(trades), "repeat": args.repeat,
        "ratio_naive_over_aggregator": round(statistics.median(ratios), 2),
        "aggregator_ns_per_trade": round(statistics.median(ns), 1),
        "python": sys.version.split()[0], "machine": platform.machine(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
