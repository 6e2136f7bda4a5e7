"""What the engine needs from a market-data source and (later) a broker.

A source pushes parsed records into a :class:`MarketDataSink` synchronously
(no awaiting per tick: the sink only enqueues into feed actors' mailboxes).
Sources: ``sim`` (engine.brokers.sim), ``replay`` (engine.brokers.replay),
``kis`` (engine.brokers.kis).
"""

from __future__ import annotations

from typing import Literal, Protocol

from engine.market.messages import Bar, Quote, Tick

Channel = Literal["trade", "quote"]
StreamStatus = Literal["live", "reconnecting"]


class MarketDataSink(Protocol):
    def on_tick(self, tick: Tick) -> None: ...

    def on_quote(self, quote: Quote) -> None: ...

    def on_status(self, status: StreamStatus, detail: str) -> None:
        """The upstream connection changed (e.g. dropped and reconnecting, live again)."""


class MarketDataSource(Protocol):
    name: str

    async def start(self, sink: MarketDataSink) -> None:
        """Open upstream connections; records flow to ``sink`` from now on."""

    async def stop(self) -> None:
        """Close every upstream connection; idempotent."""

    async def subscribe(self, channel: Channel, code: str) -> None:
        """Start the upstream stream of ``channel`` for ``code`` (idempotent)."""

    async def unsubscribe(self, channel: Channel, code: str) -> None:
        """Stop it (idempotent)."""

    async def backfill(self, code: str, bar_size: str, n: int) -> list[Bar]:
        """Up to ``n`` most recent closed bars, oldest first. May raise; callers log and go on."""
