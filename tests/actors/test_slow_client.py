"""A slow WebSocket client is conflated; the others see every trade; a stuck one is closed 1013."""

from __future__ import annotations

import asyncio

from actors.feed_hub import FeedHub, FeedRouter, Subscribe
from actors.session_hub import SessionHub
from actors.strategy import StrategyHub
from actors.ws_session import WsSession, mailbox_for
from engine.brokers.sim import SimulatedMarket
from engine.runtime import ActorSystem, ChildSpec, ManualClock


class FakeWs:
    """A :class:`actors.ws_session.Socket`; ``stuck`` blocks every send until released."""

    def __init__(self, stuck: bool = False) -> None:
        self.frames: list[bytes] = []
        self.closed = False
        self.close_code: int | None = None
        self.gate = asyncio.Event()
        if not stuck:
            self.gate.set()
        self.closed_event = asyncio.Event()

    def write_buffer_size(self) -> int | None:
        return None  # unknown: every send is bounded by the session's send timeout

    async def send_text(self, data: bytes) -> None:
        await self.gate.wait()
        self.frames.append(data)

    async def close(self, code: int, message: bytes) -> None:
        self.closed, self.close_code = True, code
        self.closed_event.set()


async def world(clock: ManualClock, send_timeout_s: float = 30.0, high_water: int = 8):
    system = ActorSystem(clock=clock, default_spec=ChildSpec(backoff_base_s=0))
    source = SimulatedMarket(clock, seed=3, trades_per_s=50, quotes_per_s=50)
    router = FeedRouter()
    feeds = system.spawn("/feeds", lambda: FeedHub(source, router, grace_s=1, history=50,
                                                     feed_spec=ChildSpec()))
    strategies = system.spawn("/strategies", lambda: StrategyHub(feeds, ChildSpec()))
    system.spawn("/sessions", SessionHub)
    await source.start(router)

    def session(name: str, ws: FakeWs):
        return system.spawn(
            f"/sessions/{name}",
            lambda: WsSession(ws, 1, "basic", feeds, strategies, max_subscriptions=40,
                              send_timeout_s=send_timeout_s),
            ChildSpec(restart="temporary"),
            mailbox=mailbox_for(high_water, 64),
        )

    return system, source, router, feeds, session


async def test_only_the_slow_client_is_conflated(clock=None):
    clock = ManualClock()
    system, source, router, feeds, session = await world(clock)
    fast_ws, slow_ws = FakeWs(), FakeWs(stuck=True)
    fast, slow = session("fast", fast_ws), session("slow", slow_ws)
    for ref in (fast, slow):
        for code in ("005930", "000660"):
            feeds.tell(Subscribe(code, "trade", ref, wire=True))
            feeds.tell(Subscribe(code, "quote", ref, wire=True))
    await clock.advance(10)  # 500 trades and 500 books per code
    fast_trades = [f for f in fast_ws.frames if b'"type":"trade"' in f]
    assert len(fast_trades) == source.trades_emitted == 1000
    slow = system.cell_info("/sessions/slow")
    assert slow["conflated"] > 0
    assert slow["mailbox_depth"] <= 8 + 4  # the high-water mark plus one slot per (type, code)
    assert system.cell_info("/sessions/fast")["conflated"] == 0
    feed_rows = [system.cell_info(p) for p in ("/feeds/005930", "/feeds/000660")]
    assert all(row["details"]["delivery_drops"] == 0 for row in feed_rows)
    assert router.dropped == 0
    slow_ws.gate.set()  # the slow client catches up: it gets the latest of each, in order
    await clock.settle()
    last_slow = [f for f in slow_ws.frames if b'"code":"005930"' in f and b'"type":"trade"' in f][-1]
    last_fast = [f for f in fast_trades if b'"code":"005930"' in f][-1]
    assert last_slow == last_fast
    await source.stop()
    await system.shutdown(1)


async def test_a_stuck_client_is_closed_with_1013_and_leaves_its_feeds():
    clock = ManualClock()
    system, source, router, feeds, session = await world(clock, send_timeout_s=0.05)
    stuck_ws = FakeWs(stuck=True)
    stuck = session("stuck", stuck_ws)
    feeds.tell(Subscribe("005930", "trade", stuck, wire=True))
    await clock.advance(1)
    await asyncio.wait_for(stuck_ws.closed_event.wait(), 5)  # the send timeout fires on the loop's clock
    assert stuck_ws.close_code == 1013
    await clock.advance(2)  # the feed's grace period passes once the session has left
    assert system.lookup("/sessions/stuck") is None
    assert router.feeds == {}
    await source.stop()
    await system.shutdown(1)
