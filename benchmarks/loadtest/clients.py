"""WebSocket load clients, run as ``python -m benchmarks.loadtest.clients`` worker processes.

A worker speaks JSON lines with the load generator:

1. stdin: a :class:`WorkerPlan` (URL, and per client its token, codes, role and
   read rate). The worker connects every client, authenticates, subscribes to
   trades of each code, waits for every ack, and prints ``{"ready": n, "errors": [...]}``.
2. stdin: a :class:`Window` (wall-clock ns): only trades received inside it are
   counted. Latency is ``time.time_ns()`` at receipt minus the trade's ``seen_ns``
   (the server's wall clock when the trade entered it; same machine, same clock).
3. The worker stops at the window's end, closes its sockets and prints one
   :class:`WorkerResult`.

Latencies go into a log histogram (1 % wide buckets) so a result stays small
whatever the rate. Every wait is bounded; a worker exits on its own at the
window's end plus a grace, or when stdin closes.
"""

from __future__ import annotations

import asyncio
import math
import socket
import sys
import time
from collections import Counter

import aiohttp
import msgspec

CONNECT_CONCURRENCY = 32
SUBSCRIBE_TIMEOUT_S = 60.0
CLOSE_TIMEOUT_S = 2.0
BUCKETS_PER_E = 100  # bucket b holds latencies near exp(b / 100) microseconds: 1 % wide
_TRADE_PREFIX = '{"type":"trade"'
FAR_NS = 1 << 62
LINE_LIMIT = 1 << 26  # bytes in one JSON line (plans and results)
SLOW_RCVBUF = 4096  # bytes: the kernel's floor is about this; a slow reader's backlog then sits in the server


class ClientPlan(msgspec.Struct, frozen=True):
    token: str
    codes: list[str]
    role: str = "main"  # main | coverage | slow: reported apart
    read_per_s: float = 0.0  # 0 = read as fast as possible


class WorkerPlan(msgspec.Struct, frozen=True):
    url: str  # ws://127.0.0.1:PORT/kis_socket
    clients: list[ClientPlan]
    subscribe_per_s: float = 0.0  # per client; 0 = send every subscription at once


class Window(msgspec.Struct, frozen=True):
    start_ns: int
    end_ns: int


class RoleResult(msgspec.Struct):
    clients: int = 0
    messages: int = 0  # trades received inside the window
    messages_total: int = 0  # trades received at any time
    closed_by_server: int = 0  # clients the server closed before the end (e.g. 1013 too slow)
    close_codes: dict[str, int] = msgspec.field(default_factory=dict)
    hist: dict[int, int] = msgspec.field(default_factory=dict)  # bucket -> count
    max_us: float = 0.0


class WorkerResult(msgspec.Struct):
    roles: dict[str, RoleResult]
    cpu_s: float  # this worker's own CPU time while measuring


def bucket(latency_us: float) -> int:
    return int(math.log(latency_us) * BUCKETS_PER_E) if latency_us >= 1.0 else 0


def bucket_value_us(b: int) -> float:
    return math.exp((b + 0.5) / BUCKETS_PER_E) if b > 0 else 1.0


def percentile_us(hist: dict[int, int], q: float) -> float:
    """The q-quantile (0..1) of a merged histogram, to the bucket's 1 %."""
    total = sum(hist.values())
    if not total:
        return math.nan
    rank = q * total
    seen = 0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= rank:
            return bucket_value_us(b)
    return bucket_value_us(max(hist))


class _Client:
    def __init__(self, plan: ClientPlan, result: RoleResult) -> None:
        self.plan = plan
        self.result = result
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.hist: Counter[int] = Counter()

    async def open(self, http: aiohttp.ClientSession, url: str, subscribe_per_s: float) -> None:
        ws = self.ws = await http.ws_connect(url, max_msg_size=1 << 20, autoping=True)
        await ws.send_json({"type": "auth", "token": self.plan.token, "strategy_type": "basic"})
        hello = await ws.receive_json(timeout=SUBSCRIBE_TIMEOUT_S)
        if hello.get("type") != "ack":
            raise RuntimeError(f"auth refused: {hello}")
        for code in self.plan.codes:
            await ws.send_json({"tr_type": "1", "tr_id": "H0STCNT0", "st_code": code})
            if subscribe_per_s > 0:
                await asyncio.sleep(1.0 / subscribe_per_s)
        acks = 0
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
            while acks < len(self.plan.codes):
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise RuntimeError(f"closed while subscribing: {msg.type.name} {msg.data}")
                data = msg.data
                if data.startswith('{"type":"ack"'):
                    acks += 1
                elif data.startswith('{"type":"error"'):
                    raise RuntimeError(f"subscribe refused: {data}")

    async def read(self, window: list[int]) -> None:
        """Read until the window's end; ``window`` is ``[start_ns, end_ns]``, filled in later.

        Reading starts as soon as the client is subscribed (a client that stops
        reading is rightly closed by the server as too slow); only trades
        received inside the window are counted.
        """
        ws = self.ws
        assert ws is not None
        result, hist = self.result, self.hist
        pause = 1.0 / self.plan.read_per_s if self.plan.read_per_s > 0 else 0.0
        inside = total = 0
        max_us = 0.0
        now_ns = time.time_ns
        log = math.log
        try:
            while True:
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                        result.closed_by_server += 1
                        code = str(ws.close_code)
                        result.close_codes[code] = result.close_codes.get(code, 0) + 1
                    return
                data = msg.data
                if not data.startswith(_TRADE_PREFIX):
                    continue
                now = now_ns()
                total += 1
                if window[0] <= now < window[1]:
                    inside += 1
                    us = (now - int(data[data.rindex(":") + 1:-1])) / 1000.0
                    hist[int(log(us) * BUCKETS_PER_E) if us >= 1.0 else 0] += 1
                    if us > max_us:
                        max_us = us
                elif now >= window[1]:
                    return
                if pause:
                    await asyncio.sleep(pause)
        finally:
            result.messages += inside
            result.messages_total += total
            result.max_us = max(result.max_us, max_us)
            for b, n in hist.items():
                result.hist[b] = result.hist.get(b, 0) + n


def _small_buffer_socket(addr_info) -> socket.socket:  # type: ignore[no-untyped-def]
    """A slow client's socket: a small receive buffer, so its backlog reaches the server soon."""
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
    return sock


async def _read_line(reader: asyncio.StreamReader, timeout: float) -> bytes:
    line = await asyncio.wait_for(reader.readline(), timeout)
    if not line:
        raise EOFError("the load generator went away")
    return line


async def work(reader: asyncio.StreamReader, out) -> int:  # type: ignore[no-untyped-def]
    plan = msgspec.json.decode(await _read_line(reader, 60.0), type=WorkerPlan)
    roles: dict[str, RoleResult] = {}
    clients = []
    for c in plan.clients:
        role = roles.setdefault(c.role, RoleResult())
        role.clients += 1
        clients.append(_Client(c, role))
    errors: list[str] = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http, aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, socket_factory=_small_buffer_socket)) as slow_http:

        async def open_one(client: _Client) -> None:
            async with gate:
                try:
                    session = slow_http if client.plan.role == "slow" else http
                    await client.open(session, plan.url, plan.subscribe_per_s)
                except (aiohttp.ClientError, RuntimeError, TimeoutError, ValueError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])

        await asyncio.gather(*(open_one(c) for c in clients))
        bounds = [FAR_NS, FAR_NS]  # no window yet: read, count nothing
        live = [c for c in clients if c.ws is not None and not c.ws.closed]
        tasks = [asyncio.create_task(c.read(bounds)) for c in live]
        try:
            out.write(msgspec.json.encode({"ready": len(clients) - len(errors), "errors": errors[:5]}) + b"\n")
            out.flush()
            window = msgspec.json.decode(await _read_line(reader, 600.0), type=Window)
            cpu0 = time.process_time()
            bounds[:] = [window.start_ns, window.end_ns]
            deadline = (window.end_ns - time.time_ns()) / 1e9 + 1.0
            await asyncio.wait(tasks, timeout=max(1.0, deadline))
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        cpu = time.process_time() - cpu0

        async def close(client: _Client) -> None:
            if client.ws is not None:
                try:
                    await asyncio.wait_for(client.ws.close(), CLOSE_TIMEOUT_S)
                except (TimeoutError, aiohttp.ClientError, ConnectionError):
                    pass  # the process ends next: the kernel closes what is left

        await asyncio.gather(*(close(c) for c in clients))
    out.write(msgspec.json.encode(WorkerResult(roles, cpu)) + b"\n")
    out.flush()
    return 0


async def _main() -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)  # a plan carries every client's token
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return await work(reader, sys.stdout.buffer)


def main() -> int:
    try:
        import uvloop
    except ImportError:  # not on this platform: the default loop works too
        return asyncio.run(_main())
    return uvloop.run(_main())


if __name__ == "__main__":
    raise SystemExit(main())
