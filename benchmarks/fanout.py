"""Benchmark 4: WebSocket fan-out vs a bare aiohttp server broadcasting the same payloads.

    python -m benchmarks.fanout [--clients 1000] [--codes 100] [--per-client 1] [--rate 20]
                                [--duration 15] [--rounds 3] [--json out.json]

The baseline (``python -m benchmarks.fanout serve``) is the plain idiomatic
aiohttp broadcaster: the same simulated market (``SimulatedMarket``, same seed
and rate), each trade encoded once with the same encoder (``encode_trade``), and
one task per market tick awaiting ``send_frame`` on each subscribed socket in
turn. It speaks just enough of our protocol (register, login, auth, subscribe
acks) for the same load clients to drive it. Subject and baseline run one after
the other in each round, same clients and window; medians over the rounds.

Then the slow-client case, on our server: the same load with one extra client
on the first client's codes that reads at 1 % of its offered rate, interleaved
with runs without it; the other clients' p99 is compared.
"""

from __future__ import annotations

import argparse
import os
import asyncio
import json
import statistics
import sys
from typing import Any

from aiohttp import WSMsgType, web

from actors.wire import encode_trade
from benchmarks.bare import loop_runner
from benchmarks.loadtest.report import machine, summarize
from benchmarks.loadtest.scenario import Scenario, run_scenario
from engine.brokers.sim import SimulatedMarket
from engine.market.messages import Quote, Tick
from engine.runtime.clock import WallClock

_ACK_AUTH = b'{"type":"ack","message":"authenticated","strategy_type":"basic"}'


class Broadcaster:
    """The market sink of the bare server: payloads of a tick, sent by one task."""

    def __init__(self) -> None:
        self.subs: dict[str, list[web.WebSocketResponse]] = {}
        self.pending: list[tuple[str, bytes]] = []
        self.tasks: set[asyncio.Task[None]] = set()

    def on_tick(self, tick: Tick) -> None:
        if not self.pending:
            task = asyncio.get_running_loop().create_task(self._send())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        self.pending.append((tick.code, encode_trade(tick)))

    def on_quote(self, quote: Quote) -> None:
        pass

    def on_status(self, status: str, detail: str) -> None:
        pass

    async def _send(self) -> None:
        await asyncio.sleep(0)  # let the ticker finish the tick
        batch, self.pending = self.pending, []
        for code, data in batch:
            for ws in list(self.subs.get(code, ())):
                try:
                    await ws.send_frame(data, WSMsgType.TEXT)
                except ConnectionError:
                    self.subs[code].remove(ws)


def bare_app(rate: float) -> web.Application:
    app = web.Application()
    out = Broadcaster()
    market = SimulatedMarket(WallClock(), trades_per_s=rate,
                             phases=int(os.environ.get("AUTOTRADER_SIM_PHASES", "1")))  # as the real server

    async def register(request: web.Request) -> web.Response:
        return web.json_response({"message": "ok"}, status=201)

    async def login(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "bare", "token_type": "Bearer", "expires_in": 86400})

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        mine: list[str] = []
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                req = json.loads(msg.data)
                if req.get("type") == "auth":
                    await ws.send_frame(_ACK_AUTH, WSMsgType.TEXT)
                    continue
                code = req["st_code"]
                if code not in out.subs:
                    out.subs[code] = []
                    await market.subscribe("trade", code)
                out.subs[code].append(ws)
                mine.append(code)
                await ws.send_str(json.dumps({"type": "ack", "message": "subscribed", "tr_type": "1",
                                              "tr_id": req["tr_id"], "st_code": code}, separators=(",", ":")))
        finally:
            for code in mine:
                if ws in out.subs.get(code, ()):
                    out.subs[code].remove(ws)
        return ws

    async def lifecycle(app: web.Application):  # type: ignore[no-untyped-def]
        await market.start(out)
        yield
        await market.stop()

    app.router.add_post("/users/register", register)
    app.router.add_post("/users/login", login)
    app.router.add_get("/kis_socket", socket)
    app.cleanup_ctx.append(lifecycle)
    return app


async def serve_bare(port: int, rate: float) -> None:
    runner = web.AppRunner(bare_app(rate))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    host, real_port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
    print(f"listening on http://{host}:{real_port}", flush=True)
    stop = asyncio.Event()
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def _scenario(args: argparse.Namespace, **extra: Any) -> Scenario:
    return Scenario(codes=args.codes, rate=args.rate, clients=args.clients, per_client=args.per_client,
                    duration=args.duration, warmup=args.warmup, client_procs=args.client_procs,
                    progress=False, **extra)


def _brief(s: dict[str, Any]) -> dict[str, Any]:
    cpu = s.get("server_cpu_pct", float("nan"))
    return {"delivered_per_s": s["delivered_per_s"], "p50_ms": s["latency_ms"]["p50_ms"],
            "p99_ms": s["latency_ms"]["p99_ms"], "server_cpu_pct": cpu,
            "msgs_per_cpu_s": s["delivered_per_s"] / (cpu / 100) if cpu else float("nan"),
            "client_cpu_pct": s["client_cpu_pct"], "clients": s["clients"],
            "conflated": s.get("conflated"), "roles": {k: {"p99_ms": v["p99_ms"], "messages": v["messages"],
                                                           "closed": v["close_codes"]} for k, v in s["roles"].items()}}


async def compare(args: argparse.Namespace) -> dict[str, Any]:
    bare_cmd = [sys.executable, "-m", "benchmarks.fanout", "serve", "--port", "0", "--rate", repr(args.rate)]
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "ours": [], "ours_slow": [], "ours_plain": []}
    for i in range(args.rounds):
        for name, sc in (("bare", _scenario(args, server_command=bare_cmd, server_metrics=False)),
                         ("ours", _scenario(args))):
            runs[name].append(_brief(summarize(await run_scenario(sc))))
            print(f"round {i + 1} {name}: {json.dumps(runs[name][-1])}", file=sys.stderr, flush=True)
    for i in range(args.slow_rounds):
        for name, slow in (("ours_slow", 1), ("ours_plain", 0)):
            runs[name].append(_brief(summarize(await run_scenario(_scenario(args, slow_clients=slow)))))
            print(f"slow round {i + 1} {name}: {json.dumps(runs[name][-1])}", file=sys.stderr, flush=True)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name]) if runs[name] else float("nan")

    def med_main_p99(name: str) -> float:
        return statistics.median(r["roles"]["main"]["p99_ms"] for r in runs[name]) if runs[name] else float("nan")

    out = {"machine": machine(), "args": vars(args), "runs": runs, "median": {
        name: {k: med(name, k) for k in ("delivered_per_s", "p50_ms", "p99_ms", "server_cpu_pct", "msgs_per_cpu_s")}
        for name in runs}}
    out["ratio_delivered"] = med("ours", "delivered_per_s") / med("bare", "delivered_per_s")
    out["ratio_per_cpu"] = med("ours", "msgs_per_cpu_s") / med("bare", "msgs_per_cpu_s")
    if runs["ours_slow"]:
        out["slow_p99_change"] = med_main_p99("ours_slow") / med_main_p99("ours_plain") - 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fanout", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    srv = sub.add_parser("serve", help="run the bare baseline server")
    srv.add_argument("--port", type=int, default=0)
    srv.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--codes", type=int, default=100)
    parser.add_argument("--per-client", type=int, default=1)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slow-rounds", type=int, default=3)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    runner = loop_runner()
    if args.cmd == "serve":
        runner(serve_bare(args.port, args.rate))
        return 0
    out = runner(compare(args))
    m = out["median"]
    print(f"machine: {out['machine']}")
    for name in ("bare", "ours", "ours_plain", "ours_slow"):
        if name in m:
            r = m[name]
            print(f"{name:10s} delivered/s {r['delivered_per_s']:10,.0f}  p50 {r['p50_ms']:7.2f} ms  "
                  f"p99 {r['p99_ms']:7.2f} ms  server CPU {r['server_cpu_pct']:5.1f} %  "
                  f"msgs per CPU-s {r['msgs_per_cpu_s']:10,.0f}")
    print(f"ours/bare delivered: {out['ratio_delivered']:.2f}; per server CPU-second: {out['ratio_per_cpu']:.2f}")
    if "slow_p99_change" in out:
        print(f"slow client changes the others' p99 by {100 * out['slow_p99_change']:+.1f} %")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
