"""One market-data plane on the real NATS server: a code's upstream is held by one node, the
other gets its records over NATS; when the holder dies the other takes the code over within
seconds and its feeds see ``reconnecting`` then ``live``."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from engine.brokers.sim import SimulatedMarket
from engine.cluster.codec import Codec
from engine.cluster.market_plane import ClusterMarketData
from engine.cluster.node import ClusterNode
from engine.market.messages import Bar
from engine.runtime import WallClock
from tests.cluster.helpers import NATS_URL, drop_buckets

pytestmark = pytest.mark.timeout(30)


class Sink:
    def __init__(self) -> None:
        self.ticks: asyncio.Queue = asyncio.Queue()
        self.statuses: asyncio.Queue = asyncio.Queue()

    def on_tick(self, tick) -> None:
        self.ticks.put_nowait(tick)

    def on_quote(self, quote) -> None:
        pass

    def on_status(self, status, detail) -> None:
        pass

    def on_code_status(self, code, status, detail) -> None:
        self.statuses.put_nowait((code, status))

    async def next_tick(self):
        return await asyncio.wait_for(self.ticks.get(), 5)


async def test_one_holder_per_code_and_a_takeover_when_it_dies(prefix):
    nodes = [await ClusterNode.join(NATS_URL, node_id=n, prefix=prefix, ttl_s=2.0, codec=Codec([]))
             for n in ("a", "b")]
    a, b = nodes
    planes = [ClusterMarketData(SimulatedMarket(WallClock(), trades_per_s=40.0, quotes_per_s=5.0), n)
              for n in nodes]
    sinks = [Sink(), Sink()]
    try:
        for node, plane, sink in zip(nodes, planes, sinks):
            await plane.start(sink)
            await node.start()
        await planes[0].subscribe("trade", "005930")
        await planes[1].subscribe("trade", "005930")
        assert planes[0].held == {"005930"} and planes[1].held == set()  # one upstream in the cluster
        assert "005930" in planes[1].follow
        tick = await sinks[1].next_tick()  # node b gets a's records over NATS
        assert tick.code == "005930" and tick.price > 0
        assert planes[1].local.subscribed == {}  # b opened no upstream of its own
        bars: asyncio.Queue = asyncio.Queue()

        async def on_bar(msg) -> None:
            bars.put_nowait(msg)

        await b.subscribe(b.subjects.md_bar("sim", "1Min", "005930"), on_bar)
        closed = [Bar(code=code, size="1Min", start_ms=0, open=1, high=2, low=1, close=2, volume=5)
                  for code in ("005930", "000660")]
        assert planes[0].own_bars(closed) == closed[:1]  # the holder persists its codes' bars only...
        assert planes[1].own_bars(closed) == []
        got = await asyncio.wait_for(bars.get(), 5)  # ...and publishes them
        assert msgspec.msgpack.decode(got.data, type=Bar) == closed[0]
        assert got.subject == f"{prefix}.md.sim.bar.1Min.005930"
        # node a dies: no renewal, no goodbye, its connection gone
        a._heartbeat.cancel()
        await planes[0].local.stop()
        await a.nc.close()
        while not sinks[1].ticks.empty():
            sinks[1].ticks.get_nowait()
        assert await asyncio.wait_for(sinks[1].statuses.get(), 10) == ("005930", "reconnecting")
        assert await asyncio.wait_for(sinks[1].statuses.get(), 5) == ("005930", "live")
        assert planes[1].held == {"005930"} and planes[1].takeovers == 1
        assert (await sinks[1].next_tick()).code == "005930"  # from b's own upstream now
        holder = await b.leases.holder("code.005930")
        assert holder is not None and holder.node == "b"
    finally:
        await planes[1].stop()
        await b.leave()
        await drop_buckets(prefix)


async def test_a_holder_that_lets_go_hands_over_at_once(prefix):
    nodes = [await ClusterNode.join(NATS_URL, node_id=n, prefix=prefix, ttl_s=30.0, codec=Codec([]))
             for n in ("a", "b")]
    planes = [ClusterMarketData(SimulatedMarket(WallClock(), trades_per_s=40.0), n) for n in nodes]
    sinks = [Sink(), Sink()]
    try:
        for plane, sink in zip(planes, sinks):
            await plane.start(sink)
        await planes[0].subscribe("trade", "000660")
        await planes[1].subscribe("trade", "000660")
        await sinks[1].next_tick()
        await planes[0].unsubscribe("trade", "000660")  # a's last watcher left: the code is released
        assert await asyncio.wait_for(sinks[1].statuses.get(), 5) == ("000660", "reconnecting")
        assert await asyncio.wait_for(sinks[1].statuses.get(), 5) == ("000660", "live")
        assert planes[1].held == {"000660"}  # taken at once, not after the 30 s TTL
    finally:
        for plane, node in zip(planes, nodes):
            await plane.stop()
            await node.leave()
        await drop_buckets(prefix)


async def test_a_follower_aggregates_the_holders_very_bars_from_its_trades(prefix):
    """Why a follower's MarketFeed aggregates its own bars: it gets every trade the holder's upstream
    gave, in order, and bars are a pure function of the trades and market time, so its closed bars
    are the bars the holder publishes on md.<venue>.bar.SIZE.<code> (see market_plane's docstring)."""
    from engine.market.bars import BarAggregator
    from engine.runtime import ManualClock

    clock = ManualClock(1_796_000_040_000)  # the around-the-clock sim market: bars by the minute
    nodes = [await ClusterNode.join(NATS_URL, node_id=n, prefix=prefix, ttl_s=30.0, codec=Codec([]))
             for n in ("a", "b")]
    planes = [ClusterMarketData(SimulatedMarket(clock, trades_per_s=5.0), n) for n in nodes]
    sinks = [Sink(), Sink()]
    try:
        for plane, sink in zip(planes, sinks):
            await plane.start(sink)
        await planes[0].subscribe("trade", "005930")
        await planes[1].subscribe("trade", "005930")
        published: asyncio.Queue = asyncio.Queue()

        async def on_bar(msg) -> None:
            published.put_nowait(msgspec.msgpack.decode(msg.data, type=Bar))

        await nodes[1].subscribe(nodes[1].subjects.md_bar("sim", "1Min", "005930"), on_bar)
        await clock.advance(3 * 60.0)  # three minutes of trades at the holder
        sent = sinks[0].ticks.qsize()
        assert sent > 100
        holder = [sinks[0].ticks.get_nowait() for _ in range(sent)]
        follower = [await sinks[1].next_tick() for _ in range(sent)]  # over NATS, each awaited
        assert follower == holder  # the same trades, in the same order
        bars = []
        for ticks in (holder, follower):
            agg = BarAggregator("005930", ["1Min"], sessions=False)
            closed = [bar for tick in ticks for bar in agg.add(tick)] + agg.flush(clock.now_ms())
            bars.append(closed)
        assert len(bars[0]) == 3 and bars[1] == bars[0]  # the follower's own bars are the holder's
        assert planes[0].own_bars(bars[0]) == bars[0]
        assert [await asyncio.wait_for(published.get(), 5) for _ in bars[0]] == bars[1]  # and what it publishes
    finally:
        for plane, node in zip(planes, nodes):
            await plane.stop()
            await node.leave()
        await drop_buckets(prefix)
