"""Benchmark 9b: KIS orders per second against the app key's REST rate limit.

    python -m benchmarks.kis_orders [--orders 200] [--concurrency 20] [--paper-orders 20] [--json out.json]

Issue 17 §3: on KIS, the app key's rate limit is the only bound on an account's orders
(KIS allows 20 REST calls a second per app key on the real server, 2 on 모의투자; we keep
19 and 2). Subject: the real web app (``create_app``, its own temporary SQLite database,
market data from KIS) in this process, with one user and one KIS account on the same app key
as the market data, against the KIS simulator on 127.0.0.1 (in this process too) enforcing
the limit with KIS's ``EGW00201``. Both run on a :class:`SessionClock` (the wall clock moved
into a KRX session), so orders are taken at any hour. ``POST /stocks/order`` limit buys of one
share below the market (they rest: no fill changes the account between orders), each with its
own ``Idempotency-Key``, ``--concurrency`` in flight (benchmark 9's client); then the same on a 모의투자 (paper)
simulator and account.

Baseline: the limit itself. The figure is orders/s ÷ the limit, and the REST calls the app
key made per order (the simulator counts them); ``rate_limited`` must stay 0 (our throttle
keeps under KIS's limit rather than relying on its refusals).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from typing import Any

import aiohttp
from aiohttp import web

from benchmarks.loadtest.api import Api
from benchmarks.loadtest.report import machine
from benchmarks.orders import PENDING, orders
from engine.brokers.kis.throttle import default_rate
from engine.brokers.kis.simulator import SimulatorConfig, running_simulator
from engine.market.krx import price_limits, round_to_tick, tick_size
from engine.market.session_clock import SessionClock
from engine.settings import load_settings
from web.app import create_app

APP_KEY, APP_SECRET = "bench-app-key", "bench-app-secret"
CODE = "005930"


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def one_run(paper: bool, n: int, concurrency: int) -> dict[str, Any]:
    clock = SessionClock()
    limit = 2 if paper else 20  # KIS's own limit, which the simulator enforces
    async with running_simulator(SimulatorConfig(rest_rate_per_s=limit, paper=paper), clock) as sim:
        with tempfile.TemporaryDirectory(prefix="autotrader-kis-bench-") as data_dir:
            prefix = "kis_paper_" if paper else "kis_"
            settings = load_settings({}, data_dir=data_dir, market_data="kis", kis_app_key=APP_KEY,
                                     kis_app_secret=APP_SECRET, kis_paper=paper, bcrypt_cost=4,
                                     ignore_market_hours=False, max_position_value=0,
                                     max_open_orders_per_account=100_000,  # they rest: more than 200 at once
                                     **{f"{prefix}rest_url": sim.url, f"{prefix}ws_url": sim.ws_url})
            runner, url = await _serve(create_app(settings, clock=clock))
            try:
                async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                    return await _orders(http, url, sim, paper, n, concurrency, limit)
            finally:
                await runner.cleanup()
                sim.sim.orders.release()


async def _orders(http: aiohttp.ClientSession, url: str, sim: Any, paper: bool, n: int, concurrency: int,
                  limit: int) -> dict[str, Any]:
    token = (await Api(url, http).tokens([f"kis-bench-{int(paper)}@example.com"]))[0]
    auth = {"Authorization": f"Bearer {token}"}
    account = {"account_number": "50123456-01", "api_key": APP_KEY, "secret_key": APP_SECRET,
               "broker": "kis", "paper_trading": paper}
    async with http.post(f"{url}/accounts/register", json=account, headers=auth) as r:
        if r.status != 201:
            raise RuntimeError(f"register: HTTP {r.status} {await r.text()}")
    state = sim.sim.market.state(CODE)
    low = price_limits(state.prev_close)[0]
    price = round_to_tick(max(low, state.price - 20 * tick_size(state.price)), "up")  # rests below the market
    body = {"stock_code": CODE, "order_type": "buy", "quantity": 1, "price": price}
    calls_before = sum(sim.sim.rest_calls.values())
    timed = await orders(http, f"{url}/stocks/order", auth, n, concurrency, body)
    calls = sum(sim.sim.rest_calls.values()) - calls_before
    ours = default_rate(paper)
    return {"paper": paper, "orders": n, "concurrency": concurrency, "kis_limit_per_s": limit,
            "our_throttle_per_s": ours, "per_s": timed["per_s"], "ratio_to_limit": timed["per_s"] / limit,
            "ratio_to_throttle": timed["per_s"] / ours, "rest_calls_per_order": calls / n,
            "rate_limited": sum(sim.sim.rate_limited.values()), "p50_ms": timed["p50_ms"],
            "p99_ms": timed["p99_ms"], "orders_at_kis": len(sim.sim.orders.orders),
            "answered_202": len(PENDING)}  # journalled, outcome still coming (none expected)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    out["real"] = await one_run(False, args.orders, args.concurrency)
    out["paper"] = await one_run(True, args.paper_orders, args.concurrency)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kis_orders", description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--paper-orders", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    out = asyncio.run(run(args))
    for leg in ("real", "paper"):
        r = out[leg]
        print(f"{leg:5}: {r['orders']} orders in flight {r['concurrency']}: {r['per_s']:.1f}/s = "
              f"{r['ratio_to_limit']:.2f} of KIS's {r['kis_limit_per_s']}/s ({r['ratio_to_throttle']:.2f} of our "
              f"{r['our_throttle_per_s']:g}/s), {r['rest_calls_per_order']:.2f} REST calls/order, "
              f"p50 {r['p50_ms']:.0f} ms p99 {r['p99_ms']:.0f} ms, EGW00201 {r['rate_limited']}, "
              f"at KIS {r['orders_at_kis']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
