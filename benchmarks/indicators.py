"""Batch indicators against TA-Lib (C) in the same run, and the incremental cost per bar.

    python -m benchmarks.indicators [--bars N] [--repeat R] [--blas-threads T] [--json]

Both sides get the same seeded synthetic OHLCV series (a mean-reverting walk
around 60,000 KRW on the 10-won grid, with gaps, wicks and log-normal volume).
Every output is first checked equal to TA-Lib's (same NaN warm-up, then 1e-9
relative); only then are the runs timed, interleaved (ours, TA-Lib, TA-Lib,
ours, ...) so both sides see the same machine noise, and the median of the
per-round ratios is reported (ours / TA-Lib: below 1 means faster than C).

The incremental ``*State`` classes are timed by feeding a run of bars one at a
time; their values are checked equal to the batch values first. The floor next
to them is a bare Python loop doing one EMA multiply-add per bar.

OpenBLAS is held to one thread (``--blas-threads``), as TA-Lib runs on one core.
"""

from __future__ import annotations

import os
import sys

if "numpy" not in sys.modules:  # must happen before numpy loads OpenBLAS
    _threads = "1"
    for _i, _a in enumerate(sys.argv):
        if _a.startswith("--blas-threads"):
            _threads = _a.split("=", 1)[1] if "=" in _a else sys.argv[_i + 1]
    os.environ["OPENBLAS_NUM_THREADS"] = _threads

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
from scipy.signal import lfilter  # noqa: E402

from engine.market import indicators as ind  # noqa: E402


def synthetic_bars(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Seeded OHLCV: log price mean-reverting around 60,000 KRW, 10-won grid."""
    rng = np.random.default_rng(seed)
    log_price = lfilter([1.0], [1.0, -0.999], rng.normal(0.0, 0.015, n))
    close = np.maximum(np.rint(60_000 * np.exp(log_price) / 10) * 10, 10.0)
    prev = np.concatenate(([close[0]], close[:-1]))
    open_ = np.maximum(np.rint(prev * (1 + rng.normal(0, 0.004, n)) / 10) * 10, 10.0)
    wick = np.abs(rng.normal(0, 0.006, (2, n))) * close
    high = np.maximum(open_, close) + np.rint(wick[0] / 10) * 10
    low = np.maximum(np.minimum(open_, close) - np.rint(wick[1] / 10) * 10, 10.0)
    volume = np.rint(rng.lognormal(11.0, 0.8, n))
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def cases(b: dict[str, np.ndarray]) -> list[tuple[str, Callable[[], np.ndarray], Callable[[], np.ndarray]]]:
    import talib

    h, lo, c, v = b["high"], b["low"], b["close"], b["volume"]
    return [
        ("EMA(20)", lambda: ind.ema(c, 20), lambda: talib.EMA(c, 20)),
        ("EMA(60)", lambda: ind.ema(c, 60), lambda: talib.EMA(c, 60)),
        ("RSI(14)", lambda: ind.rsi(c, 14), lambda: talib.RSI(c, 14)),
        ("ADX(14)", lambda: ind.adx(h, lo, c, 14), lambda: talib.ADX(h, lo, c, 14)),
        ("+DI(14)", lambda: ind.plus_di(h, lo, c, 14), lambda: talib.PLUS_DI(h, lo, c, 14)),
        ("-DI(14)", lambda: ind.minus_di(h, lo, c, 14), lambda: talib.MINUS_DI(h, lo, c, 14)),
        ("OBV", lambda: ind.obv(c, v), lambda: talib.OBV(c, v)),
    ]


def check_equal(name: str, ours: np.ndarray, theirs: np.ndarray) -> float:
    """Same NaN warm-up, then within 1e-9 relative; returns the largest relative error."""
    if ours.shape != theirs.shape or not np.array_equal(np.isnan(ours), np.isnan(theirs)):
        raise SystemExit(f"{name}: warm-up differs from TA-Lib")
    ok = ~np.isnan(ours)
    a, b = ours[ok], theirs[ok]
    err = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))) if a.size else 0.0
    if not np.allclose(a, b, rtol=1e-9, atol=0.0):
        raise SystemExit(f"{name}: differs from TA-Lib (max relative error {err:.3g})")
    return err


def _clock(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def batch(bars: dict[str, np.ndarray], repeat: int) -> list[dict[str, object]]:
    rows = []
    for name, ours, theirs in cases(bars):
        err = check_equal(name, ours(), theirs())
        t_ours, t_ta, ratios = [], [], []
        for r in range(repeat):
            if r % 2:
                b, a = _clock(theirs), _clock(ours)
            else:
                a, b = _clock(ours), _clock(theirs)
            t_ours.append(a)
            t_ta.append(b)
            ratios.append(a / b)
        rows.append({"indicator": name, "talib_ms": round(statistics.median(t_ta) * 1e3, 2),
                     "ours_ms": round(statistics.median(t_ours) * 1e3, 2),
                     "ratio": round(statistics.median(ratios), 2), "max_rel_error": err})
    return rows


def incremental(bars: dict[str, np.ndarray], n: int) -> list[dict[str, object]]:
    h, lo, c, v = (bars[k][:n].tolist() for k in ("high", "low", "close", "volume"))
    ha, la, ca, va = (bars[k][:n] for k in ("high", "low", "close", "volume"))

    def run_ema() -> list[float]:
        s = ind.EmaState(20)
        return [s.update(x) for x in c]

    def run_rsi() -> list[float]:
        s = ind.RsiState(14)
        return [s.update(x) for x in c]

    def run_dmi() -> list[float]:
        s = ind.DmiState(14)
        return [s.update(a, b, x) for a, b, x in zip(h, lo, c)]

    def run_obv() -> list[float]:
        s = ind.ObvState()
        return [s.update(x, y) for x, y in zip(c, v)]

    def floor() -> list[float]:
        y, out = c[0], []
        for x in c:
            y = 0.9 * y + 0.1 * x
            out.append(y)
        return out

    rows = []
    for name, fn, expect in (
        ("EmaState(20)", run_ema, ind.ema(ca, 20)),
        ("RsiState(14)", run_rsi, ind.rsi(ca, 14)),
        ("DmiState(14)", run_dmi, ind.adx(ha, la, ca, 14)),
        ("ObvState", run_obv, ind.obv(ca, va)),
        ("floor: bare multiply-add loop", floor, None),
    ):
        if expect is not None:
            np.testing.assert_allclose(np.array(fn()), expect, rtol=1e-12, atol=1e-12, equal_nan=True)
        ns = statistics.median(_clock(fn) for _ in range(3)) / n * 1e9
        rows.append({"state": name, "ns_per_bar": round(ns)})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=11, help="timed rounds per indicator")
    parser.add_argument("--incremental-bars", type=int, default=200_000)
    parser.add_argument("--blas-threads", default="1", help="OpenBLAS threads (read before numpy loads)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    bars = synthetic_bars(args.bars)
    result = {
        "benchmark": "indicators", "bars": args.bars, "repeat": args.repeat,
        "batch": batch(bars, args.repeat),
        "incremental": incremental(bars, min(args.incremental_bars, args.bars)),
        "python": sys.version.split()[0], "machine": platform.machine(), "cores": os.cpu_count(),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.bars:,} synthetic bars, median of {args.repeat} interleaved rounds "
          f"(OpenBLAS threads: {result['openblas_threads']})")
    print(f"{'indicator':10} {'TA-Lib ms':>10} {'ours ms':>9} {'ours/TA-Lib':>12} {'max rel err':>12}")
    for r in result["batch"]:
        print(f"{r['indicator']:10} {r['talib_ms']:>10.2f} {r['ours_ms']:>9.2f} {r['ratio']:>12.2f} "
              f"{r['max_rel_error']:>12.1e}")
    print(f"incremental, {min(args.incremental_bars, args.bars):,} bars one at a time:")
    for r in result["incremental"]:
        print(f"  {r['state']:32} {r['ns_per_bar']:>6} ns/bar")


if __name__ == "__main__":
    main()
