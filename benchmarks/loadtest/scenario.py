"""One load-test run: a server, users, WebSocket clients in worker processes, a window.

The steps, each bounded in time: start (or reach) the server; register and log
in the users over REST and promote an admin for ``/metrics``; take the server's
RSS with no feed running; start the client workers, which connect, subscribe
and report ready; take the RSS again with every feed up; open the measuring
window after the warm-up; sample ``/metrics`` and ``/proc`` at its ends; collect
the workers' counts and latency histograms; stop everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
from typing import Any

import aiohttp
import msgspec

from benchmarks.loadtest.api import Api, Metrics
from benchmarks.loadtest.clients import LINE_LIMIT, ClientPlan, Window, WorkerPlan, WorkerResult
from benchmarks.loadtest.cluster import Cluster
from benchmarks.loadtest.server import ProcSample, ServerProcess, check_loopback, proc_sample, proc_sample_all

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 180.0
SETTLE_S = 1.0
SETTLE_MAX_S = 90.0  # feeds up: wait at most this long for the server's RSS to hold still
ADMIN_EMAIL = "load-admin@example.com"


class Scenario(msgspec.Struct, frozen=True, kw_only=True):
    codes: int = 100  # N feeds
    rate: float = 2.0  # trades per second per code
    clients: int = 10  # K main clients
    per_client: int = 10  # C codes each
    strategies: int = 1  # distinct users (each runs one strategy actor over its clients' codes)
    swings: int = 0  # auto swings (1-minute bars, real paper orders) registered before the window
    duration: float = 10.0
    warmup: float = 3.0
    client_procs: int = 2
    coverage_chunk: int = 500  # codes per extra client when K*C < N (capped by the server's limit)
    slow_clients: int = 0
    slow_fraction: float = 0.01  # a slow client reads this fraction of its offered rate
    url: str = ""  # target a running server instead of starting one
    server_pid: int = 0  # with url: the pid to read CPU and memory from
    admin_email: str = ""  # with url: an admin's credentials for /metrics
    admin_password: str = ""
    server_command: list[str] | None = None  # a different server (the bare fan-out baseline)
    server_metrics: bool = True  # False for a server without /metrics (the baseline)
    progress: bool = True
    gc_watch: bool = False  # start the server under benchmarks.loadtest.gcwatch (collector pauses)
    settings: dict[str, str] = msgspec.field(default_factory=dict)  # AUTOTRADER_* for the started server
    nodes: int = 1  # > 1: that many nodes of one cluster behind NATS, clients spread over them
    nats_url: str = "nats://127.0.0.1:4222"
    database_url: str = ""  # with nodes > 1: the shared MariaDB; default a fresh database on 127.0.0.1:3306


def code_list(n: int) -> list[str]:
    return [f"{i + 1:06d}" for i in range(n)]


def plan_clients(sc: Scenario, tokens: list[str], chunk: int) -> list[ClientPlan]:
    codes = code_list(sc.codes)
    n = len(codes)
    plans: list[ClientPlan] = []
    for k in range(sc.clients):
        mine = [codes[(k * sc.per_client + j) % n] for j in range(min(sc.per_client, n))]
        plans.append(ClientPlan(tokens[k % len(tokens)], mine))
    covered = min(n, sc.clients * sc.per_client)
    rest = codes[covered:]
    for i in range(0, len(rest), chunk):
        plans.append(ClientPlan(tokens[i % len(tokens)], rest[i:i + chunk], role="coverage"))
    read = sc.slow_fraction * sc.per_client * sc.rate
    for k in range(sc.slow_clients):
        mine = [codes[(k * sc.per_client + j) % n] for j in range(min(sc.per_client, n))]
        plans.append(ClientPlan(tokens[k % len(tokens)], mine, role="slow", read_per_s=read))
    return plans


def server_settings(sc: Scenario, chunk: int) -> dict[str, str]:
    return {
        "AUTOTRADER_SIM_TRADES_PER_S": repr(float(sc.rate)),
        "AUTOTRADER_WS_MAX_SUBSCRIPTIONS": str(max(40, sc.per_client, chunk)),
        "AUTOTRADER_WS_RATE_PER_S": "10000",  # subscribing many codes at once is the point here
        "AUTOTRADER_WS_RATE_BURST": str(max(100, sc.per_client, chunk) + 10),
        "AUTOTRADER_BCRYPT_COST": "4",
        "AUTOTRADER_LOGIN_MAX_FAILURES": "1000",
        # the load clients share a user or a few: the per-user limits would cap the load itself
        "AUTOTRADER_WS_MAX_CONNECTIONS_PER_USER": str(sc.clients + sc.slow_clients + sc.codes // max(1, chunk) + 10),
        "AUTOTRADER_WS_MAX_SUBSCRIPTIONS_PER_USER": str((sc.clients + sc.slow_clients) * max(1, sc.per_client)
                                                        + sc.codes + 10),
        "AUTOTRADER_WS_MAX_FEEDS_PER_USER": str(max(100, sc.codes) + 10),
        "AUTOTRADER_WS_USER_RATE_PER_S": "1000000",
        "AUTOTRADER_WS_USER_RATE_BURST": str(sc.clients * max(100, sc.per_client, chunk) + 10),
        **sc.settings,
    }


class _Worker:
    """One client process speaking JSON lines on stdin/stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, plan: WorkerPlan) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.loadtest.clients",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True,
            limit=LINE_LIMIT)
        worker = cls(proc)
        worker.send(msgspec.json.encode(plan))
        assert proc.stdin is not None
        await proc.stdin.drain()
        return worker

    def send(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")

    async def line(self, timeout: float) -> bytes:
        assert self.proc.stdout is not None
        data = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not data:
            raise RuntimeError(f"client worker {self.proc.pid} exited (code {await self.proc.wait()})")
        return data

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()


def _progress(text: str, enabled: bool) -> None:
    if enabled:
        sys.stderr.write("\r" + text.ljust(100)[:120])
        sys.stderr.flush()


async def run_scenario(sc: Scenario) -> dict[str, Any]:
    """Run ``sc`` once; the raw figures (see :mod:`benchmarks.loadtest.report`)."""
    chunk = sc.coverage_chunk if not sc.url else min(sc.coverage_chunk, 40)
    server: ServerProcess | None = None
    workers: list[_Worker] = []
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    if me is not None:  # SIGTERM unwinds like Ctrl-C: the finally below stops server and clients
        loop.add_signal_handler(signal.SIGTERM, me.cancel)
    gc_file = ""
    command = sc.server_command
    if sc.gc_watch and not sc.url:
        fd, gc_file = tempfile.mkstemp(prefix="autotrader-gc-", suffix=".json")
        os.close(fd)
        command = [sys.executable, "-m", "benchmarks.loadtest.gcwatch", gc_file, "serve", "--port", "0"]
    cluster: Cluster | None = None
    try:
        if sc.url:
            base, pid = check_loopback(sc.url), sc.server_pid
        elif sc.nodes > 1:
            cluster = Cluster(sc.nodes, server_settings(sc, chunk), sc.nats_url, sc.database_url)
            await cluster.start()
            server, base, pid = cluster.servers[0], cluster.servers[0].url, cluster.servers[0].pid
        else:
            server = ServerProcess(server_settings(sc, chunk), command)
            await server.start()
            base, pid = server.url, server.pid
        async with aiohttp.ClientSession() as http:
            raw = await _run(sc, chunk, base, pid, server, http, workers, cluster)
        if server is not None and gc_file:
            await server.stop()
            with open(gc_file, encoding="utf-8") as f:
                text = f.read()
            raw["gc"] = json.loads(text) if text else None
        return raw
    finally:
        if gc_file:
            os.unlink(gc_file)
        await asyncio.gather(*(w.stop() for w in workers))
        if cluster is not None:
            await cluster.stop()
        elif server is not None:
            await server.stop()
        _progress("", sc.progress)
        if sc.progress:
            sys.stderr.write("\r")
        loop.remove_signal_handler(signal.SIGTERM)


async def _run(sc: Scenario, chunk: int, base: str, pid: int, server: ServerProcess | None,
               http: aiohttp.ClientSession, workers: list[_Worker], cluster: Cluster | None = None) -> dict[str, Any]:
    api = Api(base, http)
    pids = cluster.pids if cluster is not None else [pid] if pid else []
    bases = [s.url for s in cluster.servers] if cluster is not None else [base]

    def sample() -> ProcSample:
        return proc_sample_all(pids)

    nats0 = proc_sample(cluster.nats_pid) if cluster is not None and cluster.nats_pid else None
    # one node's /metrics would be a fraction of the cluster's figures: none in a cluster run
    metrics = sc.server_metrics and cluster is None and (server is not None or bool(sc.admin_email))
    if metrics:
        if server is not None:
            await api.register(ADMIN_EMAIL)
            await server.promote(ADMIN_EMAIL)
            api.admin_token = await api.login(ADMIN_EMAIL)
        else:
            api.admin_token = await api.login(sc.admin_email, sc.admin_password)
    users = max(1, sc.strategies)
    tokens = await api.tokens([f"load-user-{i}@example.com" for i in range(users)])
    plans = plan_clients(sc, tokens, chunk)
    if sc.swings:
        await _register_swings(http, base, tokens[0], sc)
    _progress(f"loadtest: {len(plans)} clients over {sc.client_procs} processes connecting...", sc.progress)
    await asyncio.sleep(SETTLE_S)
    idle = sample() if pids else None
    procs = max(1, min(max(sc.client_procs, len(bases)), len(plans)))  # every node gets clients
    for p in range(procs):
        mine = plans[p::procs]
        ws_url = bases[p % len(bases)].replace("http", "ws", 1) + "/kis_socket"
        workers.append(await _Worker.start(WorkerPlan(ws_url, mine, 0.0 if server else 15.0)))
    ready, errors = 0, []
    t_connect = time.monotonic()
    for w in workers:
        msg = msgspec.json.decode(await w.line(READY_TIMEOUT_S))
        ready += msg["ready"]
        errors.extend(msg["errors"])
    connect_s = time.monotonic() - t_connect
    if ready == 0:
        raise RuntimeError(f"no client could connect and subscribe: {errors[:3]}")
    feeds_up = await _settled(pids, sc) if pids else None
    start_ns = time.time_ns() + int(sc.warmup * 1e9)
    end_ns = start_ns + int(sc.duration * 1e9)
    window = msgspec.json.encode(Window(start_ns, end_ns))
    for w in workers:
        w.send(window)
        assert w.proc.stdin is not None
        await w.proc.stdin.drain()
    await _sleep_until(start_ns - 300_000_000, sc, "warming up", pids, None)
    first = asyncio.create_task(_scrape(api)) if metrics else None  # slow under load: never in the way
    await _sleep_until(start_ns, sc, "warming up", pids, None)
    p0 = sample() if pids else None
    n0 = proc_sample(cluster.nats_pid) if nats0 is not None and cluster is not None else None
    w0 = time.monotonic()
    await _sleep_until(end_ns, sc, "measuring", pids, p0)
    p1 = sample() if pids else None
    n1 = proc_sample(cluster.nats_pid) if n0 is not None and cluster is not None else None
    w1 = time.monotonic()
    m0 = m1 = None
    t0 = t1 = 0.0
    if first is not None:  # in order: the second scrape is sent only once the first is back
        m0, t0 = await first
        m1, t1 = await _scrape(api)
    results = [msgspec.json.decode(await w.line(sc.duration + 60.0), type=WorkerResult) for w in workers]
    swings = await _swing_summary(http, base, tokens[0]) if sc.swings else None
    return {
        "swings": swings,
        "scenario": msgspec.to_builtins(msgspec.structs.replace(sc, admin_password="***" if sc.admin_password else "")),
        "clients_planned": len(plans),
        "clients_ready": ready,
        "client_errors": errors[:5],
        "connect_s": connect_s,
        "window_s": (end_ns - start_ns) / 1e9,
        "cpu_wall_s": w1 - w0,
        "metrics_wall_s": t1 - t0,
        "scrape_late_s": t0 - w0 if first is not None else None,  # > 0: the first scrape came after the window opened
        "metrics": [msgspec.to_builtins(m) for m in (m0, m1)] if m0 and m1 else None,
        "proc": {k: msgspec.to_builtins(v) for k, v in
                 (("idle", idle), ("feeds_up", feeds_up), ("start", p0), ("end", p1)) if v is not None},
        "nats_proc": {"start": msgspec.to_builtins(n0), "end": msgspec.to_builtins(n1)} if n0 and n1 else None,
        "nodes": len(bases),
        "workers": [msgspec.to_builtins(r) for r in results],
    }


SWING = {"unit_amount": 1_000_000, "bar_size": "1Min", "short_term": 1, "medium_term": 3, "long_term": 5,
         "rsi_threshold": 1, "adx_threshold": 0, "obv_threshold": 0, "repeat": True}


async def _register_swings(http: aiohttp.ClientSession, base: str, token: str, sc: Scenario) -> None:
    """One paper account for the first user, and ``sc.swings`` swings over the scenario's codes."""
    auth = {"Authorization": f"Bearer {token}"}
    async with http.post(f"{base}/accounts/register", headers=auth, json={
            "account_number": "70000000-01", "api_key": "load-key", "secret_key": "load-secret"}) as resp:
        if resp.status not in (201, 409):
            raise RuntimeError(f"account for the swings: {resp.status} {await resp.text()}")
    codes = code_list(sc.codes)
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        async with gate, http.post(f"{base}/swing/register", headers=auth,
                                   json={**SWING, "stock_code": codes[i % len(codes)]}) as resp:
            if resp.status != 201:
                raise RuntimeError(f"swing {i}: {resp.status} {await resp.text()}")

    await asyncio.gather(*(one(i) for i in range(sc.swings)))


async def _swing_summary(http: aiohttp.ClientSession, base: str, token: str) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{base}/swing/status", headers=auth) as resp:
        swings = (await resp.json())["swings"]
    async with http.get(f"{base}/stocks/orders", headers=auth) as resp:
        orders = (await resp.json())["orders"]
    by_status: dict[str, int] = {}
    for o in orders:
        by_status[o["status"]] = by_status.get(o["status"], 0) + 1
    return {"registered": len(swings), "holding": sum(1 for s in swings if s["shares"] > 0),
            "orders": by_status}


async def _scrape(api: Api) -> tuple[Metrics, float]:
    """The server's figures and when they arrived (the counter delta is over arrival times)."""
    m = await api.metrics()
    return m, m.at


async def _settled(pids: list[int], sc: Scenario) -> ProcSample:
    """The server's sample once its RSS holds still (feeds loaded their history), bounded."""
    last = proc_sample_all(pids)
    steady = 0
    for _ in range(int(SETTLE_MAX_S / SETTLE_S)):
        await asyncio.sleep(SETTLE_S)
        now = proc_sample_all(pids)
        steady = steady + 1 if abs(now.rss_kb - last.rss_kb) <= 0.005 * last.rss_kb else 0
        last = now
        _progress(f"loadtest: feeds starting, server RSS {now.rss_kb / 1024:7.1f} MB", sc.progress)
        if steady >= 2:
            break
    return last


async def _sleep_until(when_ns: int, sc: Scenario, phase: str, pids: list[int], p0: ProcSample | None) -> None:
    """Sleep until wall time ``when_ns``, updating the progress line every second."""
    t_start = time.monotonic()
    while (left := (when_ns - time.time_ns()) / 1e9) > 0:
        await asyncio.sleep(min(1.0, left))
        if not sc.progress:
            continue
        text = f"loadtest: {phase}, {max(0.0, (when_ns - time.time_ns()) / 1e9):5.1f} s left"
        if pids:
            now = proc_sample_all(pids)
            text += f" | server RSS {now.rss_kb / 1024:7.1f} MB"
            if p0 is not None:
                text += f", CPU {100 * (now.cpu_s - p0.cpu_s) / max(1e-9, time.monotonic() - t_start):5.1f} %"
        _progress(text, sc.progress)
