"""Each hub keeps its routing when it crashes under traffic, and drops a message it does not know."""

from __future__ import annotations

from types import SimpleNamespace

import msgspec
import pytest

from actors.feed_hub import FeedHub, FeedRouter, Subscribe, Unsubscribe
from actors.quote_board import QuoteBoard, QuoteTap
from actors.session_hub import CountSessions, OrderEvent, Register, SessionHub, ToUser
from actors.strategy import Attach, Detach, StrategyHub, Watch
from actors.swing import CheckSignal
from actors.swing_hub import SwingHub
from actors.wire import OrderView
from engine.brokers.sim import SimulatedMarket
from engine.runtime import Actor, ActorSystem, ChildSpec, ManualClock
from engine.strategy.realtime import BasicParams

pytestmark = pytest.mark.timeout(30)

HUB = ChildSpec(restart="permanent", backoff_base_s=0)
GRACE_S = 5.0


class Seen(msgspec.Struct, frozen=True):
    kind: str


class Stranger(msgspec.Struct, frozen=True):
    """A message no hub knows."""


class Recorder(Actor):
    """A subscriber, a session or a swing: it counts what it receives, by type."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    async def receive(self, msg: object) -> int | None:
        if isinstance(msg, Seen):
            return self.counts.get(msg.kind, 0)
        name = type(msg).__name__
        self.counts[name] = self.counts.get(name, 0) + 1
        return None


@pytest.fixture
def clock():
    return ManualClock(start_ms=1_750_000_000_000)


@pytest.fixture
async def world(clock):
    system = ActorSystem(clock=clock, default_spec=ChildSpec(backoff_base_s=0))
    source = SimulatedMarket(clock, seed=3, trades_per_s=10, quotes_per_s=1)
    router = FeedRouter()
    feeds = system.spawn("/feeds", lambda: FeedHub(source, router, grace_s=GRACE_S, history=50,
                                                     feed_spec=ChildSpec()), HUB)
    await source.start(router)
    yield SimpleNamespace(system=system, source=source, router=router, feeds=feeds)
    await source.stop()
    await system.shutdown(2)


async def crash(system, path):
    before = system.cell_info(path)["restarts"]
    system.inject_fault(path, RuntimeError("chaos"))
    await system.idle()
    assert system.cell_info(path)["restarts"] == before + 1
    assert system.cell_info(path)["state"] == "running"


async def seen(ref, kind):
    return await ref.ask(Seen(kind), 1)


async def test_a_restarted_feed_hub_still_knows_who_watches_what(world, clock):
    system, feeds = world.system, world.feeds
    a, b = system.spawn("/a", Recorder), system.spawn("/b", Recorder)
    for ref in (a, b):
        feeds.tell(Subscribe("005930", "trade", ref))
    await clock.advance(2)  # trades flowing
    await crash(system, "/feeds")
    feeds.tell(Unsubscribe("005930", "trade", a))
    await clock.advance(GRACE_S + 1)
    assert "005930" in world.router.feeds  # b still watches: the feed stays, and b still gets trades
    before = await seen(b, "Tick")
    await clock.advance(1)
    assert await seen(b, "Tick") > before
    feeds.tell(Unsubscribe("005930", "trade", b))
    await clock.advance(GRACE_S + 1)
    await system.idle()
    assert world.router.feeds == {} and world.source.subscribed == {}  # no feed leaks, upstream released
    assert system.lookup("/feeds/005930") is None


async def test_a_grace_period_cut_by_a_crash_still_stops_the_feed(world, clock):
    system, feeds = world.system, world.feeds
    a = system.spawn("/a", Recorder)
    feeds.tell(Subscribe("000660", "trade", a))
    await clock.advance(1)
    feeds.tell(Unsubscribe("000660", "trade", a))
    await system.idle()  # the grace timer is armed
    await crash(system, "/feeds")  # ... and cancelled with the old instance: the new one re-arms it
    await clock.advance(GRACE_S + 1)
    await system.idle()
    assert world.router.feeds == {} and world.source.subscribed == {}


async def test_a_restarted_strategy_hub_never_retires_a_strategy_still_in_use(world, clock):
    system = world.system
    hub = system.spawn("/strategies", lambda: StrategyHub(world.feeds, ChildSpec()), HUB)
    s1, s2 = system.spawn("/s1", Recorder), system.spawn("/s2", Recorder)
    for session in (s1, s2):
        hub.tell(Attach(1, "basic", BasicParams(), session))
    await clock.advance(1)
    await crash(system, "/strategies")
    hub.tell(Detach(1, "basic", s1))
    await system.idle()
    assert system.lookup("/strategies/1/basic") is not None  # s2 still uses it
    assert system.cell_info("/strategies/1/basic")["details"]["sessions"] == 1
    hub.tell(Detach(1, "basic", s2))
    await system.idle()
    assert system.lookup("/strategies/1/basic") is None and system.lookup("/strategies/1") is None


async def test_a_restarted_session_hub_still_reaches_every_session_of_a_user(world, clock):
    system = world.system
    hub = system.spawn("/sessions", SessionHub, HUB)
    s1, s2, other = (system.spawn(f"/sessions/{n}", Recorder) for n in ("a", "b", "c"))
    hub.tell(Register(7, s1))
    hub.tell(Register(7, s2))
    hub.tell(Register(8, other))
    await system.idle()
    await crash(system, "/sessions")
    order = OrderView(order_id="1", account_id=1, client_order_id="c-1", stock_code="005930", order_type="buy",
                      quantity=10, price=None, status="filled", filled_quantity=10, average_price=70_000, reason="")
    hub.tell(ToUser(7, OrderEvent("filled", order)))
    await system.idle()
    assert [await seen(r, "OrderEvent") for r in (s1, s2, other)] == [1, 1, 0]
    assert await hub.ask(CountSessions(), 1) == 3


async def test_a_restarted_swing_hub_adopts_the_running_swings_and_keeps_checking_them(world, clock):
    system = world.system
    live = [SimpleNamespace(id=1, params=SimpleNamespace(bar_size="1Min")),
            SimpleNamespace(id=2, params=SimpleNamespace(bar_size="1Min"))]

    async def load_live():
        return live

    system.spawn("/swings", lambda: SwingHub(lambda swing_id: Recorder(), load_live, ChildSpec(), True), HUB)
    await system.idle()
    await clock.advance(60)
    first = [await seen(system.ref(f"/swings/{i}"), CheckSignal.__name__) for i in (1, 2)]
    assert first == [1, 1]
    await crash(system, "/swings")
    assert system.cell_info("/swings")["details"]["swings"] == 2  # adopted, not spawned twice
    await clock.advance(60)
    assert [await seen(system.ref(f"/swings/{i}"), CheckSignal.__name__) for i in (1, 2)] == [2, 2]


@pytest.mark.parametrize("path", ["/feeds", "/strategies", "/sessions"])
async def test_an_unknown_message_to_a_hub_is_logged_and_dropped(world, path, caplog):
    system = world.system
    if path == "/strategies":
        system.spawn(path, lambda: StrategyHub(world.feeds, ChildSpec()), HUB)
    elif path == "/sessions":
        system.spawn(path, SessionHub, HUB)
    system.ref(path).tell(Stranger())
    await system.idle()
    info = system.cell_info(path)
    assert (info["state"], info["restarts"], info["failed"]) == ("running", 0, 0)
    assert info["details"]["unknown_dropped"] == 1
    assert f"{path}: unknown message Stranger dropped" in caplog.text


async def test_an_upstream_status_reaches_every_subscriber_kind_without_a_crash(world, clock):
    """The feed tells UpstreamStatus to all its subscribers: a strategy and the quote tap take it too."""
    system = world.system
    hub = system.spawn("/strategies", lambda: StrategyHub(world.feeds, ChildSpec()), HUB)
    session = system.spawn("/s1", Recorder)
    hub.tell(Attach(1, "basic", BasicParams(), session))
    board = QuoteBoard(clock)
    system.spawn("/tap", lambda: QuoteTap(board))
    await system.idle()
    hub.tell(Watch(1, "basic", "005930", session))
    board.watch("005930")
    await clock.advance(1)
    world.router.on_status("reconnecting", "upstream dropped")
    await clock.advance(1)
    await system.idle()
    for path in ("/strategies/1/basic", "/tap"):
        info = system.cell_info(path)
        assert (info["restarts"], info["failed"]) == (0, 0), path
