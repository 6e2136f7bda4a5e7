"""A KIS simulator on 127.0.0.1 (real sockets, a free port) for the adapter's tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from engine.brokers.kis.simulator import SIMULATOR, KisSimulator, SimulatorConfig, create_simulator_app
from engine.market.messages import Quote, Tick
from engine.runtime.clock import Clock


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


@pytest.fixture
def start_simulator() -> Callable[..., object]:
    return running_simulator


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
