"""The ``autotrader loadtest`` arguments and entry point."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from benchmarks.loadtest.report import print_table, summarize
from benchmarks.loadtest.scenario import Scenario, run_scenario
from benchmarks.loadtest.server import check_loopback


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Load the server with the simulated market and WebSocket clients, then report trades "
        "ingested/s, messages delivered/s, trade-to-client latency (p50/p99/max), conflations and "
        "drops, event-loop lag, server CPU and memory (total and per feed). Starts its own server "
        "on 127.0.0.1 (temporary data directory, bcrypt cost 4) unless --url is given; stops by itself.")
    add = parser.add_argument
    add("--codes", type=int, default=100, metavar="N", help="stock codes (feeds) in the market (default 100)")
    add("--rate", type=float, default=2.0, metavar="R", help="trades per second per code (default 2)")
    add("--clients", type=int, default=10, metavar="K", help="WebSocket clients (default 10)")
    add("--per-client", type=int, default=10, metavar="C",
        help="codes each client subscribes to (trades, H0STCNT0); codes no client covers get extra "
             "'coverage' clients so every feed runs (default 10)")
    add("--swings", type=int, default=0, metavar="W",
        help="auto swings to register before the window (1-minute bars, real paper orders; default 0)")
    add("--strategies", type=int, default=1, metavar="S",
        help="distinct users the clients log in as; each user runs one strategy actor over its "
             "clients' codes (default 1)")
    add("--duration", type=float, default=10.0, metavar="T", help="seconds measured (default 10)")
    add("--warmup", type=float, default=3.0, metavar="W", help="seconds after subscribing before measuring (default 3)")
    add("--client-procs", type=int, default=2, metavar="P",
        help="worker processes the clients are spread over (default 2)")
    add("--coverage-chunk", type=int, default=500, metavar="M",
        help="codes per coverage client (default 500; 40 with --url)")
    add("--slow-clients", type=int, default=0, metavar="X",
        help="extra clients on the first clients' codes that read slowly (default 0)")
    add("--slow-fraction", type=float, default=0.01, metavar="F",
        help="a slow client reads F x its offered message rate (default 0.01)")
    add("--set", action="append", default=[], metavar="NAME=VALUE",
        help="a setting of the started server, e.g. --set feed_history_bars=100 (AUTOTRADER_NAME; repeatable)")
    add("--gc-watch", action="store_true",
        help="record the server's garbage-collector pauses (runs it under benchmarks.loadtest.gcwatch)")
    add("--bare", action="store_true",
        help="drive the bare aiohttp broadcaster of benchmarks/fanout.py instead (same market, same payloads): "
             "the baseline; no server-side metrics")
    add("--nodes", type=int, default=1, metavar="N",
        help="start N nodes of one cluster behind the same NATS (shared MariaDB) and spread the clients "
             "over them (default 1: one process, no NATS)")
    add("--nats-url", default="nats://127.0.0.1:4222", help="with --nodes: the NATS server (JetStream)")
    add("--database-url", default="",
        help="with --nodes: the shared MariaDB (default: a fresh database on 127.0.0.1:3306, dropped after)")
    add("--url", default="", help="target a running server (http://127.0.0.1:PORT only) instead of starting one")
    add("--server-pid", type=int, default=0, help="with --url: the server's pid, for CPU and memory")
    add("--admin-email", default="", help="with --url: an admin user, for /metrics and /admin/actors")
    add("--admin-password", default="", help="with --url: that admin's password")
    add("--json", default="", metavar="FILE", help="also write the figures as JSON ('-' for stdout)")
    add("--no-progress", action="store_true", help="no progress line on stderr")


def scenario_from(args: argparse.Namespace) -> Scenario:
    for name in ("codes", "clients", "per_client", "strategies", "client_procs", "coverage_chunk"):  # swings may be 0
        if getattr(args, name) < (0 if name == "clients" else 1):
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    if not args.rate > 0 or not args.duration > 0 or args.warmup < 0 or args.duration > 3600:
        raise ValueError("--rate and --duration must be > 0 (duration at most 3600 s), --warmup >= 0")
    if args.url:
        check_loopback(args.url)
    if args.nodes < 1 or (args.nodes > 1 and (args.url or args.bare or args.gc_watch)):
        raise ValueError("--nodes must be >= 1, and more than one goes with neither --url, --bare nor --gc-watch")
    if args.bare and (args.url or args.gc_watch):
        raise ValueError("--bare starts its own baseline server: no --url, no --gc-watch")
    settings: dict[str, str] = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE")
        settings["AUTOTRADER_" + name.upper()] = value
    return Scenario(
        codes=args.codes, rate=args.rate, clients=args.clients, per_client=args.per_client,
        strategies=args.strategies, swings=args.swings, duration=args.duration, warmup=args.warmup,
        client_procs=args.client_procs, coverage_chunk=args.coverage_chunk,
        slow_clients=args.slow_clients, slow_fraction=args.slow_fraction, url=args.url,
        server_pid=args.server_pid, admin_email=args.admin_email, admin_password=args.admin_password,
        progress=not args.no_progress, settings=settings, gc_watch=args.gc_watch,
        server_command=[sys.executable, "-m", "benchmarks.fanout", "serve", "--port", "0", "--rate", repr(args.rate)]
        if args.bare else None,
        server_metrics=not args.bare,
        nodes=args.nodes, nats_url=args.nats_url, database_url=args.database_url,
    )


def run(args: argparse.Namespace) -> int:
    try:
        sc = scenario_from(args)
    except ValueError as exc:
        print(f"autotrader loadtest: {exc}", file=sys.stderr)
        return 2
    try:
        raw = asyncio.run(run_scenario(sc))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\nautotrader loadtest: interrupted; server and clients stopped", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, TimeoutError) as exc:
        print(f"autotrader loadtest: {exc}", file=sys.stderr)
        return 1
    summary = summarize(raw)
    if args.json == "-":
        print(json.dumps(summary, indent=2))
    else:
        print_table(summary)
        if args.json:
            Path(args.json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0
