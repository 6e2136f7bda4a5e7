"""Benchmark 11: one heavy user at (and beyond) the per-user limits must not slow a light user.

    python -m benchmarks.fairness [--duration 20] [--rounds 2] [--json out.json]

One server (``autotrader serve``, sim market, 127.0.0.1, its own SQLite database) with the
default limits. The **light** user, in this process: one socket on the trades of 5 codes
(latency = receipt minus the trade's ``seen_ns``), and REST one request at a time, 10 a second,
alternating ``GET /accounts/balance`` (a paper account) and ``GET /realtime/ohlc/005930``.

The **heavy** user, in a subprocess (``python -m benchmarks.fairness heavy``): tries 200 sockets
(20 are admitted), sends 4,000 subscribes over them (trade and quote of 2,000 codes; 200 are
taken, over at most 100 codes), reads everything it gets as fast as it can, and all the time
keeps trying beyond: a new socket every 50 ms (refused ``max_connections``) and subscribes
at each socket's message rate (refused ``max_subscriptions``).

Each round runs the light user alone, then with the heavy user (measured from ``--settle``
seconds after its start, when its feeds are up), ``--duration`` seconds each, on the same server. The server's event-loop delay comes from its cumulative histogram
(``autotrader_event_loop_delay_seconds``), differenced over each window. With ``--unlimited``
a second server, whose limits are raised to what the heavy user asks (200 sockets, 4,000
subscriptions and codes), runs the same heavy phase: what the limits buy.
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
from benchmarks.loadtest.server import ServerProcess, check_loopback, proc_sample

LIGHT_CODES = ["005930", "000660", "035420", "051910", "005380"]
UNLIMITED = {"AUTOTRADER_WS_MAX_CONNECTIONS_PER_USER": "200", "AUTOTRADER_WS_MAX_SUBSCRIPTIONS_PER_USER": "4000",
             "AUTOTRADER_WS_MAX_FEEDS_PER_USER": "4000"}
PAPER = {"account_number": "50123456-01", "api_key": "PSabcdefghijklmnop1234", "secret_key": "Zx9" * 60}


def _q(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0, "p50_ms": float("nan"), "p99_ms": float("nan")}
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(ordered), "p50_ms": pick(0.5), "p99_ms": pick(0.99)}


# -- the server's loop delay: two scrapes of its histogram --------------------------------------

async def loop_buckets(http: aiohttp.ClientSession, base: str, token: str) -> list[tuple[float, int]]:
    try:
        async with http.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"},
                            timeout=aiohttp.ClientTimeout(total=60)) as r:
            text = await r.text() if r.status == 200 else ""
    except (aiohttp.ClientError, TimeoutError):
        text = ""  # an overloaded server: this window has no loop figure
    out = []
    for line in text.splitlines():
        if line.startswith('autotrader_event_loop_delay_seconds_bucket{le="'):
            edge = line.split('"')[1]
            out.append((float("inf") if edge == "+Inf" else float(edge), int(float(line.rsplit(" ", 1)[1]))))
    return out


def delay_quantiles(before: list[tuple[float, int]], after: list[tuple[float, int]]) -> dict[str, float]:
    """p50/p99 (ms, the bucket's upper bound) of the samples taken between two scrapes."""
    if not before or len(before) != len(after):
        return {"samples": 0}
    diff = [(edge, a - b) for (edge, a), (_, b) in zip(after, before, strict=True)]
    total = diff[-1][1] if diff else 0

    def q(p: float) -> float:
        for edge, n in diff:
            if n >= p * total:
                return edge * 1000
        return float("inf")

    return {"samples": total, "p50_ms": q(0.5), "p99_ms": q(0.99)} if total else {"samples": 0}


# -- the light user --------------------------------------------------------------------------------

async def light_phase(http: aiohttp.ClientSession, base: str, token: str, seconds: float) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    ws = await http.ws_connect(base.replace("http", "ws", 1) + "/kis_socket")
    await ws.send_json({"type": "auth", "token": token})
    assert (await ws.receive_json(timeout=10))["message"] == "authenticated"
    for code in LIGHT_CODES:
        await ws.send_json({"tr_type": "1", "tr_id": "H0STCNT0", "st_code": code})
    acks = 0
    while acks < len(LIGHT_CODES):
        acks += (await ws.receive_json(timeout=10))["type"] == "ack"
    trades: list[float] = []
    rest: list[float] = []
    end = time.monotonic() + seconds

    async def read() -> None:
        while time.monotonic() < end:
            try:
                msg = await ws.receive(timeout=max(0.01, end - time.monotonic()))
            except TimeoutError:
                return
            if msg.type != aiohttp.WSMsgType.TEXT:
                return
            if msg.data.startswith('{"type":"trade"'):
                trades.append((time.time_ns() - json.loads(msg.data)["seen_ns"]) / 1e6)

    async def requests() -> None:
        paths = ["/accounts/balance", "/realtime/ohlc/005930?limit=50"]
        i = 0
        while time.monotonic() < end:
            t = time.perf_counter()
            async with http.get(base + paths[i % 2], headers=headers) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"GET {paths[i % 2]}: HTTP {r.status}")
            rest.append((time.perf_counter() - t) * 1000)
            i += 1
            await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - t)))  # 10 requests a second

    await asyncio.gather(read(), requests())
    await ws.close()
    return {"rest": _q(rest), "trades": _q(trades)}


# -- the heavy user (a subprocess) -----------------------------------------------------------------

async def heavy(url: str, token: str, sockets: int, subscribes: int, seconds: float) -> dict[str, Any]:
    ws_url = check_loopback(url).replace("http", "ws", 1) + "/kis_socket"
    errors: dict[str, int] = {}
    counts = {"admitted": 0, "acked": 0, "messages": 0, "attempts_beyond": 0}
    end = time.monotonic() + seconds
    codes = [f"{n:06d}" for n in range(100_001, 100_001 + subscribes // 2)]
    requests = [(tr, code) for code in codes for tr in ("H0STCNT0", "H0STASP0")]
    async with aiohttp.ClientSession() as http:

        async def one(k: int) -> None:
            ws = await http.ws_connect(ws_url)
            await ws.send_json({"type": "auth", "token": token})
            first = await ws.receive_json(timeout=30)
            if first.get("message") != "authenticated":
                errors[first.get("code", "?")] = errors.get(first.get("code", "?"), 0) + 1
                await ws.close()
                return
            counts["admitted"] += 1
            mine = requests[k::sockets]
            for tr, code in mine[:100]:  # the first 100 at once (the socket's burst), the rest paced
                await ws.send_json({"tr_type": "1", "tr_id": tr, "st_code": code})

            async def pace() -> None:
                for tr, code in [*mine[100:], *mine[:100]] * 1000:
                    if time.monotonic() >= end:
                        return
                    await ws.send_json({"tr_type": "1", "tr_id": tr, "st_code": code})
                    await asyncio.sleep(0.05)  # the socket's message rate (20 a second)

            pacer = asyncio.ensure_future(pace())
            while time.monotonic() < end:
                try:
                    msg = await ws.receive(timeout=max(0.01, end - time.monotonic()))
                except TimeoutError:
                    break
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                counts["messages"] += 1
                if msg.data.startswith('{"type":"ack"'):
                    counts["acked"] += '"subscribed"' in msg.data
                elif msg.data.startswith('{"type":"error"'):
                    code = json.loads(msg.data)["code"]
                    errors[code] = errors.get(code, 0) + 1
            pacer.cancel()
            await ws.close()

        async def beyond() -> None:
            while time.monotonic() < end:
                counts["attempts_beyond"] += 1
                await one(sockets)
                await asyncio.sleep(0.05)

        cpu0 = time.process_time()
        await asyncio.gather(*(one(k) for k in range(sockets)), beyond(), return_exceptions=True)
    return {**counts, "errors": errors, "client_cpu_pct": 100 * (time.process_time() - cpu0) / seconds}


async def start_heavy(base: str, token: str, seconds: float) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.fairness", "heavy", "--url", base, "--token", token,
        "--duration", repr(seconds), stdout=asyncio.subprocess.PIPE)


# -- the run ---------------------------------------------------------------------------------------

async def _prepare(server: ServerProcess, http: aiohttp.ClientSession) -> dict[str, str]:
    api = Api(server.url, http)
    tag = uuid.uuid4().hex[:6]
    admin, light, heavy_user = (f"{who}-{tag}@example.com" for who in ("admin", "light", "heavy"))
    await api.tokens([admin])
    await server.promote(admin)
    admin_token, light_token, heavy_token = await api.tokens([admin, light, heavy_user])
    async with http.post(f"{server.url}/accounts/register", json=PAPER,
                         headers={"Authorization": f"Bearer {light_token}"}) as r:
        if r.status != 201:
            raise RuntimeError(f"register the light user's account: HTTP {r.status} {await r.text()}")
    return {"admin": admin_token, "light": light_token, "heavy": heavy_token}


async def phase(http, server: ServerProcess, tokens: dict[str, str], seconds: float,
                with_heavy: bool, settle: float) -> dict[str, Any]:
    proc = None
    if with_heavy:
        proc = await start_heavy(server.url, tokens["heavy"], seconds + settle + 4)
        await asyncio.sleep(settle)  # its sockets open and its 100 new feeds start before we measure
    before = await loop_buckets(http, server.url, tokens["admin"])
    cpu0, t0 = proc_sample(server.pid).cpu_s, time.monotonic()
    out = await light_phase(http, server.url, tokens["light"], seconds)
    out["server_cpu_pct"] = 100 * (proc_sample(server.pid).cpu_s - cpu0) / (time.monotonic() - t0)
    out["loop_delay"] = delay_quantiles(before, await loop_buckets(http, server.url, tokens["admin"]))
    if proc is not None:
        stdout, _ = await proc.communicate()
        out["heavy"] = json.loads(stdout.decode().strip().splitlines()[-1])
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = {"AUTOTRADER_SIM_TRADES_PER_S": repr(args.rate), "AUTOTRADER_SIM_QUOTES_PER_S": repr(args.rate / 2),
                "AUTOTRADER_SIM_PHASES": "20"}
    runs: dict[str, list[dict[str, Any]]] = {"alone": [], "heavy": []}
    async with aiohttp.ClientSession() as http:
        async with ServerProcess(settings) as server:
            tokens = await _prepare(server, http)
            for i in range(args.rounds):
                for name, with_heavy in (("alone", False), ("heavy", True)):
                    runs[name].append(await phase(http, server, tokens, args.duration, with_heavy, args.settle))
                    print(f"round {i + 1} {name}: {json.dumps(runs[name][-1])}", file=sys.stderr, flush=True)
        if args.unlimited:
            runs["unlimited"] = []
            async with ServerProcess({**settings, **UNLIMITED}) as server:
                tokens = await _prepare(server, http)
                for i in range(args.rounds):
                    runs["unlimited"].append(await phase(http, server, tokens, args.duration, True, args.settle))
                    print(f"round {i + 1} unlimited: {json.dumps(runs['unlimited'][-1])}", file=sys.stderr,
                          flush=True)

    def med(name: str, *keys: str) -> float:
        values = []
        for r in runs[name]:
            v: Any = r
            for k in keys:
                v = v.get(k, float("nan"))
            values.append(v)
        return statistics.median(values)

    figures = {name: {"rest_p50_ms": med(name, "rest", "p50_ms"), "rest_p99_ms": med(name, "rest", "p99_ms"),
                      "trade_p50_ms": med(name, "trades", "p50_ms"), "trade_p99_ms": med(name, "trades", "p99_ms"),
                      "loop_p50_ms": med(name, "loop_delay", "p50_ms"),
                      "loop_p99_ms": med(name, "loop_delay", "p99_ms"),
                      "server_cpu_pct": med(name, "server_cpu_pct")} for name in runs}
    ratios = {name: {k: figures[name][k] / figures["alone"][k] for k in figures[name]}
              for name in runs if name != "alone"}
    return {"machine": machine(), "args": vars(args), "runs": runs, "median": figures,
            "ratio_vs_alone": ratios}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fairness", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    hv = sub.add_parser("heavy", help="the heavy user (run by the benchmark)")
    hv.add_argument("--url", required=True)
    hv.add_argument("--token", required=True)
    hv.add_argument("--sockets", type=int, default=200)
    hv.add_argument("--subscribes", type=int, default=4000)
    hv.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds between the heavy user's start and the measurement (its feeds' start-up)")
    parser.add_argument("--rate", type=float, default=2.0, help="simulated trades per second per code")
    parser.add_argument("--unlimited", action="store_true", help="also the heavy phase with the limits raised")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    if args.cmd == "heavy":
        print(json.dumps(asyncio.run(heavy(args.url, args.token, args.sockets, args.subscribes, args.duration))))
        return 0
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text)
    print(json.dumps({"median": result["median"], "ratio_vs_alone": result["ratio_vs_alone"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
