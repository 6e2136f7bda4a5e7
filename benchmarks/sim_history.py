"""The simulated market's warm-up history: numpy all at once vs the bar-by-bar walk it replaced.

    python -m benchmarks.sim_history [--codes N] [--bars B] [--repeat R] [--json]

What a burst of new codes costs the event loop in the demo market: each new code's feed
backfills ``B`` bars of each of its backfill sizes (``1Min`` and ``1D``, 600 by default:
``AUTOTRADER_FEED_HISTORY_BARS``), and the generation runs on the loop. Both sides draw
``N`` codes × both sizes; the baseline is the previous implementation (kept verbatim below:
``random.Random`` per bar, ``round_to_tick`` and clamping per price). Each side's figure is
the best of ``R`` rounds, in milliseconds for the whole burst; the ratio is baseline /
numpy (above 1: the numpy walk is faster). The two series differ (different generators, a
reflected instead of a clamped walk); both obey the same rules, checked here on every bar.
Ours is called as a feed calls it, ``await SimulatedMarket.backfill(code, size, n)``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import statistics
import sys
import time

from engine.brokers.sim import SimulatedMarket, base_price
from engine.market.krx import BAR_MS, is_on_tick, price_limits, round_to_tick
from engine.market.messages import Bar
from engine.runtime.clock import ManualClock

SIZES = ("1Min", "1D")
END = 1_750_000_000_000 - 1_750_000_000_000 % 86_400_000


def _volume_mu(price: int) -> float:  # as engine.brokers.sim's
    return math.log(max(1.0, 3_000_000 / price))


def baseline_history(code: str, size: str, n: int, seed: int, end_ms: int) -> list[Bar]:
    """The bar-by-bar walk engine.brokers.sim used before (verbatim, one line wrapped)."""
    step = BAR_MS[size]
    base = base_price(code)
    low_limit, high_limit = price_limits(base)
    rng = random.Random(f"{seed}:{code}:history:{size}")
    sigma = 0.001 * math.sqrt(step / 60_000)
    mu_vol = _volume_mu(base) + math.log(step / 500)

    def clamp(p: float, direction: str) -> int:
        return min(high_limit, max(low_limit, round_to_tick(max(1, int(p)),
                                                            direction)))  # type: ignore[arg-type]

    closes = [base] * n
    for i in range(n - 1, 0, -1):
        closes[i - 1] = clamp(closes[i] * math.exp(rng.gauss(0.0, sigma)), "nearest")
    first_open = clamp(closes[0] * math.exp(rng.gauss(0.0, sigma)), "nearest")
    bars: list[Bar] = []
    start = end_ms - n * step
    for i, close in enumerate(closes):
        open_ = closes[i - 1] if i else first_open
        top = max(open_, close)
        bottom = min(open_, close)
        high = max(top, clamp(top * (1 + abs(rng.gauss(0.0, sigma / 2))), "down"))
        low = min(bottom, clamp(bottom * (1 - abs(rng.gauss(0.0, sigma / 2))), "up"))
        volume = int(rng.lognormvariate(mu_vol, 0.5))
        bars.append(Bar(code, size, start + i * step, open_, high, low, close, volume))
    return bars


def check(bars: list[Bar], code: str) -> None:
    low, high = price_limits(base_price(code))
    assert bars[-1].close == base_price(code)
    assert all(low <= b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high <= high for b in bars)
    assert all(b.open == prev.close for prev, b in zip(bars, bars[1:]))
    assert all(is_on_tick(p) for b in bars for p in (b.open, b.high, b.low, b.close))


def burst(fn, codes: list[str], n: int) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    for code in codes:
        for size in SIZES:
            fn(code, size, n, 7, END)
    return (time.perf_counter() - t0) * 1000


async def burst_market(market: SimulatedMarket, codes: list[str], n: int, steps: list[float]) -> float:
    """The same burst through ``SimulatedMarket.backfill``, as a feed's warm-up calls it; each call's
    milliseconds into ``steps`` (one call is one uninterrupted step of the loop: a feed awaits its
    stored bars between sizes)."""
    t0 = time.perf_counter()
    for code in codes:
        for size in SIZES:
            t = time.perf_counter()
            await market.backfill(code, size, n)
            steps.append((time.perf_counter() - t) * 1000)
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    return asyncio.run(amain())


async def amain() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=100)
    parser.add_argument("--bars", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    codes = [f"{100_000 + 37 * i:06d}" for i in range(args.codes)]
    market = SimulatedMarket(ManualClock(END), seed=7)  # not started: backfill needs no stream
    for code in codes:
        for size in SIZES:
            check(await market.backfill(code, size, args.bars), code)
            check(baseline_history(code, size, args.bars, 7, END), code)
    ours, theirs, steps = [], [], []  # type: ignore[var-annotated]
    for _ in range(args.repeat):  # interleaved, so the machine's load falls on both alike
        ours.append(await burst_market(market, codes, args.bars, steps))
        theirs.append(burst(baseline_history, codes, args.bars))
    result = {
        "codes": args.codes, "bars": args.bars, "sizes": list(SIZES),
        "numpy_ms": min(ours), "baseline_ms": min(theirs), "ratio": min(theirs) / min(ours),
        "numpy_us_per_code": min(ours) * 1000 / args.codes,
        "step_ms_p50": statistics.median(steps), "step_ms_max": max(steps),
        "python": sys.version.split()[0], "machine": platform.machine(), "load": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.codes} new codes x {len(SIZES)} sizes x {args.bars} bars (best of {args.repeat}):")
        print(f"  bar-by-bar walk (before) {result['baseline_ms']:8.1f} ms")
        print(f"  numpy, all at once       {result['numpy_ms']:8.1f} ms  "
              f"({result['numpy_us_per_code']:.0f} us a code)")
        print(f"  one backfill call (a loop step): p50 {result['step_ms_p50']:.2f} ms, "
              f"max {result['step_ms_max']:.2f} ms")
        print(f"  ratio {result['ratio']:.1f}x; load average {result['load']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
