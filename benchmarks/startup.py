"""Server start-up with and without the KRX calendar's cache file, in the same run.

    python -m benchmarks.startup [--runs N] [--json]

Each run starts ``autotrader serve`` (embedded defaults: SQLite in a fresh temporary data
dir, sim market, but on market time: ``AUTOTRADER_IGNORE_MARKET_HOURS=false``, so the
session table is loaded before the server listens), waits for its "listening on" line,
sends SIGTERM and collects the child's CPU time (user + system, from ``wait4``: start-up,
a few milliseconds of running and the graceful stop). **cold**: the calendar cache dir is
a new empty directory each time (the build from exchange_calendars, as every process paid
before the cache file); **warm**: one directory that the first cold run filled. Runs
alternate cold and warm so that the machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def start_once(cache_dir: str) -> tuple[float, float]:
    """(seconds to "listening", CPU seconds of the whole run) of one server."""
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "AUTOTRADER_DATA_DIR": data, "AUTOTRADER_BCRYPT_COST": "4",
               "AUTOTRADER_IGNORE_MARKET_HOURS": "false", "AUTOTRADER_CALENDAR_CACHE_DIR": cache_dir,
               "AUTOTRADER_LOG_LEVEL": "INFO"}
        t0 = time.perf_counter()
        command = [sys.executable, "-m", "web.cli", "serve", "--host", "127.0.0.1", "--port", "0"]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        listening = None
        for line in proc.stdout:
            if "listening on" in line:
                listening = time.perf_counter() - t0
                break
        proc.terminate()
        proc.stdout.read()
        _pid, _status, usage = os.wait4(proc.pid, 0)
        if listening is None:
            raise RuntimeError("the server exited before it listened")
        return listening, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as warm:
        start_once(warm)  # fills the warm cache (and the OS's file cache with the code)
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as cold:
                out["cold"].append(start_once(cold))
            out["warm"].append(start_once(warm))
    summary: dict[str, float] = {}
    for k, v in out.items():
        summary[f"{k}_listening_s"] = statistics.median(w for w, _ in v)
        summary[f"{k}_cpu_s"] = statistics.median(c for _, c in v)
    summary["ratio_cpu_warm_to_cold"] = summary["warm_cpu_s"] / summary["cold_cpu_s"]
    if args.json:
        print(json.dumps({"runs": out, "summary": summary, "load": os.getloadavg()}))
    else:
        for k in ("cold", "warm"):
            print(f"{k}: listening after {summary[k + '_listening_s']:.2f} s, "
                  f"CPU {summary[k + '_cpu_s']:.2f} s (median of {args.runs})")
        print(f"warm/cold CPU: {summary['ratio_cpu_warm_to_cold']:.2f}; load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
