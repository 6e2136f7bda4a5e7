"""Helpers shared by the KIS tests: a simulator on 127.0.0.1 (real sockets, a free port), a sink whose
records can be awaited, frames to send (test modules import from here, never from one another or conftest)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from engine.brokers.kis.simulator import SIMULATOR, KisSimulator, SimulatorConfig, create_simulator_app
from engine.market.krx import next_open
from engine.market.messages import Quote, Tick
from engine.runtime.clock import Clock, WallClock


async def approval_key(http, url, key="app1", secret="sec1"):
    async with http.post(f"{url}/oauth2/Approval", json={"grant_type": "client_credentials", "appkey": key, "secretkey": secret}) as r:
        return (await r.json())["approval_key"]


def subscribe_message(approval, tr_type, tr_id, code):
    return json.dumps({
        "header": {"approval_key": approval, "custtype": "P", "tr_type": tr_type, "content-type": "utf-8"},
        "body": {"input": {"tr_id": tr_id, "tr_key": code}},
    })


class SessionClock(WallClock):
    """The wall clock moved into a KRX session, for tests of clients that read today's market.

    It reads 10:30 KST of a session day when made (today's, until 5 h after its open; else the
    next session's) and then runs at wall speed: the simulator's walk prints trades, tokens age,
    and today's minute chart has bars, whatever the wall clock says (a night, a weekend, a
    holiday). It is at most 3.5 h behind the wall clock, so a token it dates (valid 24 h) is
    never expired for a client that checks it on the wall clock."""

    def __init__(self) -> None:
        wall = super().now_ms()
        opens = next_open(wall - 5 * 3_600_000)  # still today's session until 5 h past its open
        assert opens is not None, "the KRX calendar has no session ahead"
        self._offset_ms = opens + 90 * 60_000 - wall

    def now_ms(self) -> int:
        return super().now_ms() + self._offset_ms


class Running:
    def __init__(self, sim: KisSimulator, port: int) -> None:
        self.sim = sim
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/tryitout"


@asynccontextmanager
async def running_simulator(config: SimulatorConfig, clock: Clock | None = None) -> AsyncIterator[Running]:
    app = create_simulator_app(config, clock)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Running(app[SIMULATOR], port)
    finally:
        await runner.cleanup()


class QueueSink:
    """A MarketDataSink whose records and status changes can be awaited."""

    def __init__(self) -> None:
        self.ticks: asyncio.Queue[Tick] = asyncio.Queue()
        self.quotes: asyncio.Queue[Quote] = asyncio.Queue()
        self.statuses: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    def on_tick(self, tick: Tick) -> None:
        self.ticks.put_nowait(tick)

    def on_quote(self, quote: Quote) -> None:
        self.quotes.put_nowait(quote)

    def on_status(self, status: str, detail: str) -> None:
        self.statuses.put_nowait((status, detail))

    async def status(self, wanted: str, timeout: float = 10.0) -> str:
        """The detail of the next status ``wanted`` (other statuses before it are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                status, detail = await self.statuses.get()
                if status == wanted:
                    return detail

    async def tick_of(self, code: str, timeout: float = 10.0) -> Tick:
        async with asyncio.timeout(timeout):
            while True:
                tick = await self.ticks.get()
                if tick.code == code:
                    return tick

    def drain(self) -> None:
        for q in (self.ticks, self.quotes):
            while not q.empty():
                q.get_nowait()
