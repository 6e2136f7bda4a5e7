"""Benchmark: KIS H0STCNT0 frames into typed trades, against baselines in the same run.

    python -m benchmarks.frames [--frames N] [--repeat R]

- floor: a bare ``str.split`` of the same frames (envelope and fields, no typing);
- ours: :func:`engine.brokers.kis.frames.split_frame` + :func:`parse_ticks` into ``Tick``s;
- common practice: KIS's own sample, ``pandas.read_csv(StringIO(data), sep="^")``
  per frame (one row per frame: it keeps only the last record of a batch, §6 of
  KIS_PROTOCOL.md), then ``pd.to_numeric`` on the needed columns.
Frames come from the KIS simulator's market (47-field records, a quarter of the
frames carrying 4 records). Reported: records per second, best of R runs.
"""

from __future__ import annotations

import argparse
import io
import random
import time
from datetime import datetime, timedelta, timezone

from engine.brokers.kis.frames import parse_ticks, split_frame
from engine.brokers.kis.sim_market import SimMarket

COLUMNS = [f"c{i}" for i in range(47)]


def make_frames(n: int, seed: int = 7) -> tuple[list[str], int]:
    market = SimMarket(seed)
    rng = random.Random(seed)
    now = datetime(2025, 6, 13, 10, 0, tzinfo=timezone(timedelta(hours=9)))
    frames, records = [], 0
    codes = [f"{i:06d}" for i in range(1, 51)]
    for _ in range(n):
        count = 4 if rng.random() < 0.25 else 1
        code = rng.choice(codes)
        frames.append(f"0|H0STCNT0|{count:03d}|" + "^".join(market.trade_record(code, now) for _ in range(count)))
        records += count
    return frames, records


def floor(frames: list[str]) -> int:
    n = 0
    for raw in frames:
        _, _, count, data = raw.split("|", 3)
        data.split("^")
        n += int(count)
    return n


def ours(frames: list[str]) -> int:
    n = 0
    for raw in frames:
        f = split_frame(raw)
        n += len(parse_ticks(f.data, f.count))
    return n


def pandas_sample(frames: list[str]) -> int:
    import pandas as pd

    n = 0
    for raw in frames:
        data = raw.split("|")[3]
        df = pd.read_csv(io.StringIO(data), header=None, sep="^", names=COLUMNS, dtype=object)
        for col in ("c2", "c12", "c13", "c4", "c10", "c11"):
            pd.to_numeric(df[col])
        n += len(df)
    return n


def best(fn, frames: list[str], repeat: int) -> tuple[float, int]:
    times, out = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(frames)
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pandas-frames", type=int, default=2_000)
    args = parser.parse_args()
    frames, records = make_frames(args.frames)
    t_floor, n_floor = best(floor, frames, args.repeat)
    t_ours, n_ours = best(ours, frames, args.repeat)
    assert n_floor == n_ours == records
    small = frames[: args.pandas_frames]
    t_pd, n_pd = best(pandas_sample, small, 1)
    small_records = sum(int(f.split("|")[2]) for f in small)
    r_floor, r_ours = records / t_floor, records / t_ours
    r_pd = small_records / t_pd  # records the frames held (pandas keeps fewer: n_pd)
    print(f"frames {len(frames)}, records {records} (47 fields each)")
    print(f"bare str.split      {r_floor:12,.0f} records/s")
    print(f"parse_ticks -> Tick {r_ours:12,.0f} records/s  ratio vs split {r_ours / r_floor:.2f}")
    print(f"pandas read_csv     {r_pd:12,.0f} records/s  (kept {n_pd} of {small_records}); speed-up {r_ours / r_pd:.0f}x")


if __name__ == "__main__":
    main()
