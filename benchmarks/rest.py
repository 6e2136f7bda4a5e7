"""Benchmark 5: REST requests per second vs a bare aiohttp JSON handler, and /health under bcrypt.

    python -m benchmarks.rest [--duration 8] [--rounds 3] [--connections 50] [--json out.json]

Load: ``wrk`` (Debian package ``wrk``; one thread, ``--connections`` keep-alive
connections, on loopback). Subject: the real server (``autotrader serve``, its own
temporary SQLite database, default bcrypt cost 12) with one user, one paper
account, and one WebSocket client keeping the 005930 feed running so
``/realtime/ohlc/005930`` answers from the feed's bars in memory (200 one-minute
bars). Baseline: the bare aiohttp handlers of ``benchmarks/bare.py`` returning, through ``web.json_response``,
the very bodies our ``/accounts/balance`` and ``/realtime/ohlc/005930`` returned
(each parsed once at start, so the baseline serializes the same JSON per request).
Rounds interleave baseline and subject; medians.

Then ``/health`` latency, one request at a time from an aiohttp client, for a few
seconds alone and then while 50 logins (bcrypt cost 12, 50 distinct users) run
at once: p50/p99/max of each phase. bcrypt runs in an executor with
``AUTOTRADER_BCRYPT_CONCURRENCY`` at a time, so the loop must stay responsive.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import time
from typing import Any

import aiohttp

from benchmarks.loadtest.api import PASSWORD, Api
from benchmarks.loadtest.report import machine
from benchmarks.loadtest.server import ServerProcess

ACCOUNT = {"account_number": "12345678-01", "api_key": "bench-key", "secret_key": "bench-secret"}


async def wrk(url: str, token: str, duration: float, connections: int) -> float:
    """Requests per second ``wrk`` measured; non-2xx answers fail the run."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "-H", f"Authorization: Bearer {token}", url]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), duration + 30)
    text = out.decode()
    if proc.returncode != 0 or "Non-2xx" in text:
        raise RuntimeError(f"wrk {url}: {text} {err.decode()}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if match is None:
        raise RuntimeError(f"wrk {url}: no rate in {text}")
    return float(match.group(1))


async def _keep_feed(base: str, token: str, code: str, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(base.replace("http", "ws", 1) + "/kis_socket") as ws:
        await ws.send_json({"type": "auth", "token": token})
        await ws.send_json({"tr_type": "1", "tr_id": "H0STCNT0", "st_code": code})
        while not stop.is_set():
            try:
                await asyncio.wait_for(ws.receive(), 0.5)
            except TimeoutError:
                continue


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(ordered), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": ordered[-1]}


async def health_under_logins(api: Api, logins: int, quiet_s: float) -> dict[str, Any]:
    emails = [f"bcrypt-{i}@example.com" for i in range(logins)]
    gate = asyncio.Semaphore(8)

    async def reg(email: str) -> None:
        async with gate:
            await api.register(email)

    await asyncio.gather(*(reg(e) for e in emails))

    async def probe(until: asyncio.Event | float) -> list[float]:
        out: list[float] = []
        for _ in range(100_000):  # bounded; ends on the event or the deadline
            if isinstance(until, asyncio.Event) and until.is_set() or (
                    isinstance(until, float) and time.monotonic() >= until):
                break
            t = time.perf_counter()
            async with api.http.get(f"{api.base}/health") as r:
                await r.read()
            out.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.005)
        return out

    quiet = await probe(time.monotonic() + quiet_s)
    done = asyncio.Event()
    prober = asyncio.create_task(probe(done))
    t0 = time.perf_counter()
    await asyncio.gather(*(api.login(e, PASSWORD) for e in emails))
    logins_s = time.perf_counter() - t0
    done.set()
    busy = await prober
    return {"quiet": _quantiles(quiet), "during_logins": _quantiles(busy), "logins": logins, "logins_s": logins_s}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    ours = ServerProcess({"AUTOTRADER_LOGIN_MAX_FAILURES": "1000"})
    bare = ServerProcess(command=[sys.executable, "-m", "benchmarks.bare", "--bodies", ""])
    await ours.start()
    stop = asyncio.Event()
    feed: asyncio.Task[None] | None = None
    try:
        async with aiohttp.ClientSession() as http:
            api = Api(ours.url, http)
            token = (await api.tokens(["rest-bench@example.com"]))[0]
            auth = {"Authorization": f"Bearer {token}"}
            async with http.post(f"{ours.url}/accounts/register", json=ACCOUNT, headers=auth) as r:
                account_id = (await r.json())["account_id"]
            balance_url = f"{ours.url}/accounts/balance?account_id={account_id}"
            ohlc_url = f"{ours.url}/realtime/ohlc/005930"
            feed = asyncio.create_task(_keep_feed(ours.url, token, "005930", stop))
            await asyncio.sleep(2.0)  # the feed starts and loads its history
            async with http.get(balance_url, headers=auth) as r:
                if r.status != 200:
                    raise RuntimeError(f"balance: HTTP {r.status} {await r.text()}")
                body = await r.text()
            async with http.get(ohlc_url, headers=auth) as r:
                ohlc_body = await r.text()
                bars = len(json.loads(ohlc_body)["data"])
            bodies = f"{bare.data_dir}/bodies.json"
            with open(bodies, "w", encoding="utf-8") as f:
                json.dump({"balance": body, "ohlc": ohlc_body}, f)
            bare.command[-1] = bodies
            await bare.start()
            rates: dict[str, list[float]] = {"bare_balance": [], "balance": [], "bare_ohlc": [], "ohlc": []}
            for i in range(args.rounds):
                for name, url in (("bare_balance", f"{bare.url}/balance"), ("balance", balance_url),
                                  ("bare_ohlc", f"{bare.url}/ohlc"), ("ohlc", ohlc_url)):
                    rates[name].append(await wrk(url, token, args.duration, args.connections))
                    print(f"round {i + 1} {name}: {rates[name][-1]:,.0f} req/s", file=sys.stderr, flush=True)
            health = await health_under_logins(api, args.logins, args.quiet)
    finally:
        stop.set()
        if feed is not None:
            await asyncio.gather(feed, return_exceptions=True)
        await bare.stop()
        await ours.stop()
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {"machine": machine(), "args": vars(args), "ohlc_bars": bars, "rates": rates, "median": med,
            "ratio": {k: med[k] / med[f"bare_{k}"] for k in ("balance", "ohlc")}, "health": health}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rest", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--logins", type=int, default=50)
    parser.add_argument("--quiet", type=float, default=3.0, help="seconds of /health alone first")
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    out = asyncio.run(run(args))
    print(f"machine: {out['machine']}")
    for name, rate in out["median"].items():
        ratio = out["ratio"].get(name)
        print(f"{name:10s} {rate:10,.0f} req/s" + (f"   ratio to bare {ratio:.2f}" if ratio else ""))
    h = out["health"]
    for phase in ("quiet", "during_logins"):
        q = h[phase]
        print(f"/health {phase:14s} n={q['n']:5d} p50 {q['p50_ms']:.2f} ms p99 {q['p99_ms']:.2f} ms max {q['max_ms']:.2f} ms")
    print(f"{h['logins']} logins (bcrypt cost 12) took {h['logins_s']:.2f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
