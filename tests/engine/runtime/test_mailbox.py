import asyncio

import pytest

from engine.runtime import ActorSystem, ChildSpec, MailboxFull
from engine.runtime.mailbox import Mailbox
from tests.engine.runtime.helpers import Add, Block, Conflating, Counter, Faulting, Get, GetSeen, Trade


@pytest.fixture
async def system():
    system = ActorSystem(default_spec=ChildSpec(backoff_base_s=0))
    yield system
    await system.shutdown(1)


async def test_tell_on_full_mailbox_raises_and_counts(system):
    ref = system.spawn("/c", Counter)
    gate = asyncio.Event()
    ref.tell(Block(gate))
    await asyncio.sleep(0)  # let the actor take the Block message (not a wait for time)
    for i in range(8):
        ref.tell(Add(1))
    with pytest.raises(MailboxFull):
        ref.tell(Add(1))
    with pytest.raises(MailboxFull):
        ref.tell(Add(1))
    gate.set()
    assert await ref.ask(Get(), 1) == 8
    info = next(r for r in system.snapshot() if r["path"] == "/c")
    assert info["rejected"] == 2
    assert info["mailbox_limit"] == 8
    assert info["handled"] == 10  # Block + 8 Add + Get


async def test_send_waits_for_room(system):
    ref = system.spawn("/c", Counter)
    gate = asyncio.Event()
    ref.tell(Block(gate))
    await asyncio.sleep(0)
    for _ in range(8):
        ref.tell(Add(1))
    sender = asyncio.ensure_future(ref.send(Add(100)))
    await asyncio.sleep(0)
    assert not sender.done()
    gate.set()
    await sender
    assert await ref.ask(Get(), 1) == 108
    assert next(r for r in system.snapshot() if r["path"] == "/c")["rejected"] == 0


async def test_conflation_only_above_high_water_latest_wins(system):
    ref = system.spawn("/c", Conflating)
    gate = asyncio.Event()
    ref.tell(Block(gate))
    await asyncio.sleep(0)
    ref.tell(Trade("A", 1))
    ref.tell(Trade("A", 2))  # below the mark (depth 1): kept
    ref.tell(Trade("A", 3))  # depth 2: at the mark, takes a conflation slot
    ref.tell(Trade("B", 1))
    ref.tell(Trade("A", 4))  # replaces 3
    ref.tell(Trade("A", 5))  # replaces 4
    ref.tell(Add(1))  # never conflated
    gate.set()
    seen = await ref.ask(GetSeen(), 1)
    assert [(m.code, m.price) for m in seen if isinstance(m, Trade)] == [
        ("A", 1), ("A", 2), ("A", 5), ("B", 1),
    ]
    info = next(r for r in system.snapshot() if r["path"] == "/c")
    assert info["conflated"] == 2


def test_a_newer_message_never_overtakes_an_older_one_of_its_key():
    box = Mailbox("/m", Conflating.mailbox)
    box.put(Add(1))
    box.put(Add(2))
    box.put(Trade("A", 1))  # depth 2: a conflation slot for A
    assert box.get_nowait() == Add(1)
    assert box.get_nowait() == Add(2)
    box.put(Trade("A", 2))  # below the mark, but A's slot is still queued: replace, never reorder
    assert len(box) == 1 and box.conflated == 1
    assert box.get_nowait() == Trade("A", 2)
    box.put(Trade("A", 3))  # no slot left: plain enqueue again
    assert box.get_nowait() == Trade("A", 3) and box.conflated == 1


async def test_fault_overflow_restarts_the_actor_and_keeps_queued_messages(system):
    Faulting.starts = 0
    ref = system.spawn("/f", Faulting)
    gate = asyncio.Event()
    ref.tell(Block(gate))
    await asyncio.sleep(0)
    ref.tell(Add(1))
    ref.tell(Add(1))
    with pytest.raises(MailboxFull):
        ref.tell(Add(1))
    gate.set()
    # the overflow fault is handled first (restart: state reloads, n back to 0),
    # then the two queued Adds
    assert await ref.ask(Get(), 1) == 2
    info = next(r for r in system.snapshot() if r["path"] == "/f")
    assert info["restarts"] == 1
    assert "MailboxOverflow" in info["last_error"]
    assert Faulting.starts == 2
