import asyncio

import pytest

from engine.runtime import (
    ActorNotFound,
    ActorStopped,
    ActorSystem,
    AskTimeout,
    ChildSpec,
    PathTaken,
    Supervisor,
)
from tests.engine.runtime.helpers import Add, Block, BlockThenBoom, Boom, Counter, Get, StopSelf


async def test_crash_restarts_with_exponential_backoff_on_the_clock(system, clock):
    spec = ChildSpec(max_restarts=3, within_s=100, backoff_base_s=1.0, backoff_max_s=3.0)
    ref = system.spawn("/c", Counter, spec)
    ref.tell(Add(5))
    with pytest.raises(RuntimeError, match="boom"):
        await ref.ask(Boom(), 1)
    await clock.settle()
    assert system.cell_info("/c")["state"] == "restarting"
    await clock.advance(0.9)
    assert system.cell_info("/c")["state"] == "restarting"
    await clock.advance(0.2)  # the first back-off is 1 s
    assert system.cell_info("/c")["state"] == "running"
    assert await ref.ask(Get(), 1) == 0  # state reloaded from scratch
    ref.tell(Boom())
    await clock.advance(1.9)
    assert system.cell_info("/c")["state"] == "restarting"  # second back-off is 2 s
    await clock.advance(0.2)
    assert system.cell_info("/c")["state"] == "running"
    assert system.snapshot()[0]["restarts"] == 2


async def test_spent_budget_stops_the_child_and_tells_the_parent(system, clock):
    system.spawn("/group", Supervisor)
    spec = ChildSpec(max_restarts=2, within_s=60, backoff_base_s=0)
    ref = system.spawn("/group/c", Counter, spec)
    for _ in range(3):
        ref.tell(Boom())
    await clock.settle()
    assert system.lookup("/group/c") is None
    assert system.cell_info("/group")["details"]["children_terminated"] == 1
    assert system.cell_info("/group/c")["state"] == "faulted"
    tree = {row["path"]: row for row in system.snapshot()}
    assert tree["/group/c"]["state"] == "faulted"
    assert tree["/group/c"]["restarts"] == 2
    assert tree["/group/c"]["failed"] == 3
    assert "RuntimeError: boom" in tree["/group/c"]["last_error"]
    # a new child may take the path again
    system.spawn("/group/c", Counter)


async def test_budget_window_forgets_old_restarts(system, clock):
    spec = ChildSpec(max_restarts=1, within_s=10, backoff_base_s=0)
    ref = system.spawn("/c", Counter, spec)
    ref.tell(Boom())
    await clock.settle()
    await clock.advance(11)
    ref.tell(Boom())
    await clock.settle()
    assert system.lookup("/c") is not None
    assert system.cell_info("/c")["restarts"] == 2


async def test_temporary_child_is_never_restarted(system, clock):
    ref = system.spawn("/t", Counter, ChildSpec(restart="temporary"))
    ref.tell(Boom())
    await clock.settle()
    assert system.lookup("/t") is None


async def test_permanent_child_restarts_when_it_stops_itself(system, clock):
    ref = system.spawn("/p", Counter, ChildSpec(restart="permanent", backoff_base_s=0))
    ref.tell(Add(3))
    ref.tell(StopSelf())
    await system.idle()
    assert await ref.ask(Get(), 1) == 0
    assert system.cell_info("/p")["restarts"] == 1
    transient = system.spawn("/q", Counter, ChildSpec(restart="transient"))
    transient.tell(StopSelf())
    await clock.settle()
    assert system.lookup("/q") is None and not transient.alive


async def test_stop_is_a_message_and_pending_asks_fail_at_once(system):
    ref = system.spawn("/c", Counter)
    gate = asyncio.Event()
    ref.tell(Block(gate))
    ref.tell(Add(2))
    ask = asyncio.ensure_future(ref.ask(Get(), 5))
    await asyncio.sleep(0)
    ref.stop()
    with pytest.raises(ActorStopped):
        ref.tell(Add(1))  # intake is closed once stop is asked
    assert system.cell_info("/c")["state"] == "running"  # still handling what came before the stop
    gate.set()
    assert await ask == 2  # queued before the stop: still handled
    await system.idle()
    with pytest.raises(ActorNotFound):
        system.cell_info("/c")  # stopped normally: gone from the tree


async def test_asks_left_in_a_stopping_mailbox_fail_with_actor_stopped(system, clock):
    ref = system.spawn("/c", Counter, ChildSpec(restart="temporary"))
    gate = asyncio.Event()
    ref.tell(BlockThenBoom(gate))  # crashes before the ask is reached
    await asyncio.sleep(0)
    ask = asyncio.ensure_future(ref.ask(Get(), 5))
    await asyncio.sleep(0)
    gate.set()
    with pytest.raises(ActorStopped):
        await ask


async def test_ask_times_out_with_an_error_never_none(system):
    ref = system.spawn("/c", Counter)
    gate = asyncio.Event()
    ref.tell(Block(gate))
    with pytest.raises(AskTimeout) as info:
        await ref.ask(Get(), 0.01)
    assert "/c" in str(info.value) and isinstance(info.value, TimeoutError)
    gate.set()


async def test_paths_lookup_and_subtree_stop(system):
    system.spawn("/feeds", Supervisor)
    with pytest.raises(ActorNotFound):
        system.spawn("/nope/x", Counter)
    a = system.spawn("/feeds/005930", Counter)
    system.spawn("/feeds/000660", Counter)
    with pytest.raises(PathTaken):
        system.spawn("/feeds/005930", Counter)
    with pytest.raises(ValueError):
        system.spawn("feeds", Counter)
    assert system.children("/feeds") == ["/feeds/000660", "/feeds/005930"]
    assert system.lookup("/feeds/005930") == a
    a.tell(Add(1))
    await system.stop("/feeds")
    assert len(system) == 0
    assert a.alive is False


async def test_shutdown_drains_then_cancels_after_the_deadline(clock):
    system = ActorSystem(clock=clock)
    counts: list[int] = []
    fast = system.spawn("/fast", lambda: Counter(on_stop=counts))
    stuck = system.spawn("/stuck", Counter)
    for _ in range(5):
        fast.tell(Add(1))
    stuck.tell(Block(asyncio.Event()))  # never released
    await system.shutdown(deadline=0.05)
    assert counts == [5]  # drained, then on_stop ran
    assert len(system) == 0
    with pytest.raises(ActorStopped):
        system.spawn("/late", Counter)
    assert not stuck.alive


async def test_snapshot_counts_after_traffic(system):
    ref = system.spawn("/c", Counter)
    for i in range(7):
        ref.tell(Add(i))
    assert await ref.ask(Get(), 1) == 21
    (row,) = system.snapshot()
    assert row["kind"] == "Counter" and row["state"] == "running"
    assert row["handled"] == 8 and row["failed"] == 0 and row["mailbox_depth"] == 0
    assert system.totals()["handled"] == 8
