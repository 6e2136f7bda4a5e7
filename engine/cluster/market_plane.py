"""One market-data plane for the cluster: each code's upstream is held by exactly one node.

:class:`ClusterMarketData` wraps the node's own source (sim, replay, KIS) and is
what the feeds see (a :class:`~engine.brokers.base.MarketDataSource`). For each
code some feed on this node wants:

- **holder** — this node took the code's lease (``code.<code>``): it subscribes
  the upstream (trades and order books, whatever the channel asked: a follower
  anywhere may want either), delivers to its own feeds directly and publishes
  every record on ``md.<venue>.<trade|quote>.<code>``;
- **follower** — another node holds it: records come from those subjects.

Each node aggregates bars from the trades it gets; the holder alone persists a
code's closed bars and publishes them on ``md.<venue>.bar.<SIZE>.<code>``.
A follower's MarketFeed does not take its bars from that subject, deliberately:
it receives every trade the holder's upstream gave, in the holder's order, and
a bar is a pure function of the trades and market time (``BarAggregator``), so
the bars it closes are the holder's (``test_a_follower_aggregates_the_holders_
very_bars_from_its_trades``). Aggregating there also keeps the bar still forming
(what strategies read between closes), which the bar subject does not carry,
and keeps a follower's bars going across a takeover without a gap. What may
differ: a trade NATS dropped (core NATS is at most once; a slow consumer) is
missing from that follower's bar, and a follower that starts in the middle of
a bar restores the forming part from the stored row (saved every 5 s by the
holder), as after a restart. The persisted bars, which backtests and warm-ups
read, are always the holder's; the bar subject is for consumers outside the
feeds (and for checking a follower against the holder).

Publishing never awaits per record: records queue and one task per loop turn
publishes them. On every heartbeat a follower looks at its codes' leases; a
code without a holder (its node died, or let it go) goes ``reconnecting`` for
this node's feeds, is taken here (if the lease is won) and goes ``live`` again
once records flow, from here or from whoever won. A holder whose last local
watcher leaves releases the code and says so on ``md.<venue>.status.<code>``,
so a follower takes it at once instead of after the TTL.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

import msgspec

from engine.brokers.base import Channel, MarketDataSink, MarketDataSource, StreamStatus
from engine.cluster.node import ClusterNode
from engine.cluster.subjects import Subjects
from engine.market.messages import Bar, Quote, Tick

log = logging.getLogger(__name__)

CHANNELS: tuple[Channel, ...] = ("trade", "quote")


class _Status(msgspec.Struct, frozen=True, array_like=True):
    status: str  # "live" | "reconnecting" | "released"
    detail: str


class ClusterMarketData:
    def __init__(self, local: MarketDataSource, node: ClusterNode, venue: str | None = None) -> None:
        self.local = local
        self.node = node
        self.venue = venue or local.name
        self.name = local.name
        self.sink: MarketDataSink | None = None
        self.wanted: dict[str, set[Channel]] = defaultdict(set)
        self.held: set[str] = set()  # codes whose upstream this node holds
        self.follow: dict[str, Any] = {}  # code -> NATS subscription
        self.down: set[str] = set()  # codes told "reconnecting" and not live again yet
        self._pending: list[tuple[str, bytes]] = []
        self._flush: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._enc = msgspec.msgpack.Encoder()
        self._tick = msgspec.msgpack.Decoder(Tick)
        self._quote = msgspec.msgpack.Decoder(Quote)
        self._status = msgspec.msgpack.Decoder(_Status)
        self.published = 0
        self.received = 0
        self.takeovers = 0
        node.on_heartbeat.append(self.check)

    def __getattr__(self, name: str) -> Any:  # market_time_ms, base_price_of, streams...: the local source's
        return getattr(self.local, name)

    # -- MarketDataSource --------------------------------------------------------------------
    async def start(self, sink: MarketDataSink) -> None:
        self.sink = sink
        await self.local.start(_Upstream(self))

    async def stop(self) -> None:
        for code in list(self.held):
            await self._let_go(code)
        for sub in self.follow.values():
            await _quiet_unsubscribe(sub)
        self.follow.clear()
        await self.local.stop()

    async def subscribe(self, channel: Channel, code: str) -> None:
        async with self._lock:
            self.wanted[code].add(channel)
            if code in self.held:
                return
            if code not in self.follow and await self._take(code):
                return
            await self._follow(code)

    async def unsubscribe(self, channel: Channel, code: str) -> None:
        async with self._lock:
            channels = self.wanted.get(code)
            if channels is None:
                return
            channels.discard(channel)
            if channels:
                return
            del self.wanted[code]
            if code in self.held:
                await self._let_go(code)
            sub = self.follow.pop(code, None)
            if sub is not None:
                await _quiet_unsubscribe(sub)

    async def backfill(self, code: str, bar_size: str, n: int) -> list[Bar]:
        return await self.local.backfill(code, bar_size, n)

    # -- holding and following ----------------------------------------------------------------
    async def _take(self, code: str) -> bool:
        if await self.node.leases.acquire(Subjects.code_key(code)) is None:
            return False
        sub = self.follow.pop(code, None)
        if sub is not None:
            await _quiet_unsubscribe(sub)
        for channel in CHANNELS:  # both: a follower anywhere may want either
            await self.local.subscribe(channel, code)
        self.held.add(code)
        log.info("upstream of %s held by %s", code, self.node.node_id)
        return True

    async def _let_go(self, code: str) -> None:
        self.held.discard(code)
        for channel in CHANNELS:
            try:
                await self.local.unsubscribe(channel, code)
            except Exception as exc:  # the upstream may be down; it forgets on reconnect anyway
                log.warning("unsubscribe %s %s failed: %r", channel, code, exc)
        await self.node.leases.release(Subjects.code_key(code))
        self._queue(self.node.subjects.md(self.venue, "status", code),
                    self._enc.encode(_Status("released", self.node.node_id)))

    async def _follow(self, code: str) -> None:
        if code not in self.follow:
            self.follow[code] = await self.node.subscribe(self.node.subjects.md_code(self.venue, code),
                                                          self._on_record)

    async def check(self) -> None:
        """Heartbeat: codes whose lease was lost are followed; codes without a holder are taken."""
        async with self._lock:
            for code in list(self.held):
                if self.node.leases.valid(Subjects.code_key(code)) is None:  # lost: someone else holds it now
                    self.held.discard(code)
                    for channel in CHANNELS:
                        await self.local.unsubscribe(channel, code)
                    if code in self.wanted:
                        await self._follow(code)
            for code in [c for c in self.follow if c in self.wanted]:
                if await self.node.leases.holder(Subjects.code_key(code)) is None:
                    await self._orphaned(code)

    async def _orphaned(self, code: str) -> None:
        self._code_status(code, "reconnecting", "the node holding the upstream is gone; taking over")
        if await self._take(code):
            self.takeovers += 1
            self._code_status(code, "live", f"upstream now held by {self.node.node_id}")

    # -- records --------------------------------------------------------------------------------
    def _queue(self, subject: str, data: bytes) -> None:
        self._pending.append((subject, data))
        if self._flush is None:
            self._flush = asyncio.get_running_loop().create_task(self._publish())

    async def _publish(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                for subject, data in batch:
                    await self.node.nc.publish(subject, data)
                self.published += len(batch)
        except Exception as exc:  # NATS down: the records are lost for followers, counted by their gap
            log.warning("market data not published: %r", exc)
            self._pending.clear()
        finally:
            self._flush = None

    def publish_tick(self, tick: Tick) -> None:
        if tick.code in self.held:
            self._queue(self.node.subjects.md(self.venue, "trade", tick.code), self._enc.encode(tick))

    def publish_quote(self, quote: Quote) -> None:
        if quote.code in self.held:
            self._queue(self.node.subjects.md(self.venue, "quote", quote.code), self._enc.encode(quote))

    def own_bars(self, bars: list[Bar]) -> list[Bar]:
        """The closed bars of codes this node holds, published on ``md.<venue>.bar.<SIZE>.<code>``: the
        ones this node persists (every node aggregates the same trades; one writer per code is enough)."""
        mine = [bar for bar in bars if bar.code in self.held]
        for bar in mine:
            self._queue(self.node.subjects.md_bar(self.venue, bar.size, bar.code), self._enc.encode(bar))
        return mine

    def publish_status(self, status: StreamStatus, detail: str) -> None:
        data = self._enc.encode(_Status(status, detail))
        for code in self.held:
            self._queue(self.node.subjects.md(self.venue, "status", code), data)

    async def _on_record(self, msg: Any) -> None:
        sink = self.sink
        if sink is None:
            return
        kind = msg.subject.rsplit(".", 2)[-2]
        if kind == "trade":
            tick = self._tick.decode(msg.data)
            if tick.code in self.down:
                self._code_status(tick.code, "live", "records flow again")
            self.received += 1
            sink.on_tick(tick)
        elif kind == "quote":
            self.received += 1
            sink.on_quote(self._quote.decode(msg.data))
        elif kind == "status":
            code = msg.subject.rsplit(".", 1)[-1]
            status = self._status.decode(msg.data)
            if status.status == "released":
                async with self._lock:
                    if code in self.wanted and code in self.follow:
                        await self._orphaned(code)
            else:
                self._code_status(code, status.status, status.detail)  # type: ignore[arg-type]

    def _code_status(self, code: str, status: str, detail: str) -> None:
        if status == "live":
            self.down.discard(code)
        else:
            self.down.add(code)
        on_code_status = getattr(self.sink, "on_code_status", None)
        if on_code_status is not None:
            on_code_status(code, status, detail)

    def view(self) -> dict[str, Any]:
        return {"upstream_codes": sorted(self.held), "followed_codes": sorted(self.follow),
                "published": self.published, "received": self.received, "takeovers": self.takeovers}


class _Upstream:
    """The local source's sink: this node's feeds first, then the other nodes (held codes only)."""

    def __init__(self, plane: ClusterMarketData) -> None:
        self.plane = plane

    def on_tick(self, tick: Tick) -> None:
        assert self.plane.sink is not None
        self.plane.sink.on_tick(tick)
        self.plane.publish_tick(tick)

    def on_quote(self, quote: Quote) -> None:
        assert self.plane.sink is not None
        self.plane.sink.on_quote(quote)
        self.plane.publish_quote(quote)

    def on_status(self, status: StreamStatus, detail: str) -> None:
        assert self.plane.sink is not None
        self.plane.sink.on_status(status, detail)
        self.plane.publish_status(status, detail)


async def _quiet_unsubscribe(sub: Any) -> None:
    try:
        await sub.unsubscribe()
    except Exception as exc:  # the connection is closing: the subscription goes with it
        log.debug("unsubscribe: %r", exc)
