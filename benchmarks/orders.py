"""Benchmark 9: paper orders per second and their latency vs a bare aiohttp handler doing one insert.

    python -m benchmarks.orders [--orders 500] [--concurrency 20] [--accounts 20] [--json out.json]

Subject: the real server (``autotrader serve``, its own temporary SQLite database) with one
user and one paper account on the simulated market. ``POST /stocks/order`` market buys of one
005930 share, each with its own ``Idempotency-Key``: first ``--orders`` one after another
(p50/p99 of POST → 201), then ``--orders`` with ``--concurrency`` in flight, then
``--accounts`` accounts × 10 orders at once, twice: first as each account's actor starts
(``accounts``), then with them running (``accounts_warm``). Every answer must be 201 or 202
(a 202's order is looked up at the end; the run fails on anything else). Then
``GET /accounts/balance`` and ``GET /stocks/orders`` for a few seconds each with
``--concurrency`` clients.

Baseline, in the same run: the bare aiohttp server of ``benchmarks/bare.py``, whose ``POST /order``
inserts one row into its own SQLite file (aiosqlite, one connection, committed per request) and
answers 201, and whose ``GET /balance`` returns the body our balance returned (parsed once,
serialized per request). Both sides are driven by the same aiohttp client code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from typing import Any

import aiohttp

from benchmarks.loadtest.api import Api
from benchmarks.loadtest.report import machine
from benchmarks.loadtest.server import ServerProcess

BUY = {"stock_code": "005930", "order_type": "buy", "quantity": 1}


def _q(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(ordered), "p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": ordered[-1]}


PENDING: list[str] = []  # order ids answered 202 (journalled, outcome still coming)


async def _post(http: aiohttp.ClientSession, url: str, headers: dict[str, str], body: Any) -> float:
    t = time.perf_counter()
    async with http.post(url, json=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}) as r:
        text = await r.text()
        if r.status == 202:
            PENDING.append(json.loads(text)["order_id"])
        elif r.status != 201:
            raise RuntimeError(f"POST {url}: HTTP {r.status} {text}")
    return (time.perf_counter() - t) * 1000


async def orders(http, url, headers, n: int, concurrency: int, body: Any = BUY) -> dict[str, Any]:
    lat: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            lat.append(await _post(http, url, headers, body))

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    elapsed = time.perf_counter() - t0
    return {"per_s": n / elapsed, **_q(lat)}


async def many_accounts(http, url, headers, accounts: list[int]) -> dict[str, Any]:
    """10 orders on each account at once (10 in flight per account)."""
    t0 = time.perf_counter()
    many = await asyncio.gather(*(orders(http, url, headers, 10, 10, {**BUY, "account_id": a})
                                  for a in accounts))
    return {"accounts": len(accounts), "orders": 10 * len(accounts),
            "per_s": 10 * len(accounts) / (time.perf_counter() - t0),
            "p50_ms": statistics.median(m["p50_ms"] for m in many), "p99_ms": max(m["p99_ms"] for m in many)}


async def reads(http, url, headers, seconds: float, concurrency: int) -> float:
    done = 0
    until = time.monotonic() + seconds

    async def client() -> None:
        nonlocal done
        while time.monotonic() < until:
            async with http.get(url, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"GET {url}: HTTP {r.status}")
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return done / (time.perf_counter() - t0)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    ours = ServerProcess({"AUTOTRADER_MAX_POSITION_VALUE": "0", "AUTOTRADER_MAX_ACCOUNTS_PER_USER": "1000"})
    if args.profile:  # the server under cProfile: its stats are written when it stops (SIGTERM ends it cleanly)
        ours.command[1:1] = ["-m", "cProfile", "-o", args.profile]
    bare = ServerProcess(command=[sys.executable, "-m", "benchmarks.bare", "--bodies", ""])
    await ours.start()
    out: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            api = Api(ours.url, http)
            token = (await api.tokens(["orders-bench@example.com"]))[0]
            auth = {"Authorization": f"Bearer {token}"}
            ids = []
            for i in range(args.accounts + 1):
                account = {"account_number": f"{20000000 + i:08d}-01", "api_key": "bench-key",
                           "secret_key": "bench-secret"}
                async with http.post(f"{ours.url}/accounts/register", json=account, headers=auth) as r:
                    ids.append((await r.json())["account_id"])
            url = f"{ours.url}/stocks/order"
            await _post(http, url, auth, {**BUY, "account_id": ids[0]})  # the first waits for a book
            async with http.get(f"{ours.url}/accounts/balance?account_id={ids[0]}", headers=auth) as r:
                balance_body = await r.text()
            bodies = f"{bare.data_dir}/bodies.json"
            with open(bodies, "w", encoding="utf-8") as f:
                json.dump({"balance": balance_body}, f)
            bare.command[-1] = bodies
            await bare.start()
            one = {**BUY, "account_id": ids[0]}
            out["bare_sequential"] = await orders(http, f"{bare.url}/order", auth, args.orders, 1, one)
            out["sequential"] = await orders(http, url, auth, args.orders, 1, one)
            out["bare_concurrent"] = await orders(http, f"{bare.url}/order", auth, args.orders, args.concurrency, one)
            out["concurrent"] = await orders(http, url, auth, args.orders, args.concurrency, one)
            out["accounts"] = await many_accounts(http, url, auth, ids[1:])  # each account's actor starts
            out["accounts_warm"] = await many_accounts(http, url, auth, ids[1:])  # the same, running
            out["pending"] = []
            for order_id in PENDING:
                async with http.get(f"{ours.url}/stocks/orders/{order_id}", headers=auth) as r:
                    got = await r.json()
                out["pending"].append({"order_id": order_id, "status": got["status"], "reason": got["reason"]})
            balance_url = f"{ours.url}/accounts/balance?account_id={ids[0]}"
            out["bare_balance_per_s"] = await reads(http, f"{bare.url}/balance", auth, args.seconds, args.concurrency)
            out["balance_per_s"] = await reads(http, balance_url, auth, args.seconds, args.concurrency)
            out["orders_list_per_s"] = await reads(http, f"{ours.url}/stocks/orders?account_id={ids[1]}", auth,
                                                   args.seconds, args.concurrency)
    finally:
        await bare.stop()
        await ours.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.orders", description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=4.0, help="per read endpoint")
    parser.add_argument("--json", default="")
    parser.add_argument("--profile", default="", help="run our server under cProfile, its stats to this file")
    args = parser.parse_args(argv)
    out = asyncio.run(run(args))
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
