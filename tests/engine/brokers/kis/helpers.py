"""Helpers shared by the KIS tests: a simulator on 127.0.0.1 (real sockets, a free port), a sink whose
records can be awaited, frames to send (test modules import from here, never from one another or conftest)."""

from __future__ import annotations

import asyncio
import json

from engine.brokers.kis.simulator import Running, running_simulator  # noqa: F401 (the KIS tests import them here)
from engine.market.messages import Quote, Tick
from engine.market.session_clock import SessionClock  # noqa: F401


async def approval_key(http, url, key="app1", secret="sec1"):
    async with http.post(f"{url}/oauth2/Approval", json={"grant_type": "client_credentials", "appkey": key, "secretkey": secret}) as r:
        return (await r.json())["approval_key"]


def subscribe_message(approval, tr_type, tr_id, code):
    return json.dumps({
        "header": {"approval_key": approval, "custtype": "P", "tr_type": tr_type, "content-type": "utf-8"},
        "body": {"input": {"tr_id": tr_id, "tr_key": code}},
    })


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
