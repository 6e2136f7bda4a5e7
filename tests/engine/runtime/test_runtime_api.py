"""What the runtime gives every actor: try_tell and dead letters, timers on the clock,
pipe_to_self, the idle barrier, the lifecycle table, cell_info."""

import asyncio

import msgspec
import pytest

from engine.runtime import (
    Actor,
    ActorNotFound,
    ActorState,
    ChildSpec,
    IllegalTransition,
    MailboxSpec,
)
from engine.runtime.lifecycle import TRANSITIONS, Trigger, next_state
from tests.engine.runtime.helpers import Add, Block, Boom, Counter, Get


class Tick(msgspec.Struct, frozen=True):
    n: int = 0


class Loaded(msgspec.Struct, frozen=True):
    value: int


class LoadFailed(msgspec.Struct, frozen=True):
    error: str


class Arm(msgspec.Struct, frozen=True):
    delay: float
    every: bool = False


class Load(msgspec.Struct, frozen=True):
    gate: asyncio.Future
    handle_errors: bool = True


class Seen(msgspec.Struct, frozen=True):
    pass


class Cancel(msgspec.Struct, frozen=True):
    pass


class Scheduler(Actor):
    """Arms timers and pipes on request; records what comes back."""

    mailbox = MailboxSpec(limit=16)

    def __init__(self) -> None:
        self.seen: list[object] = []
        self.timer = None

    async def receive(self, msg: object) -> object:
        match msg:
            case Arm(delay=delay, every=every):
                self.timer = (self.ctx.tell_every(delay, Tick()) if every
                              else self.ctx.tell_later(delay, Tick()))
            case Load(gate=gate, handle_errors=handle):
                return self.ctx.pipe_to_self(gate, Loaded,
                                             (lambda exc: LoadFailed(str(exc))) if handle else None)
            case Tick() | Loaded() | LoadFailed():
                self.seen.append(msg)
            case Seen():
                return list(self.seen)
            case Cancel():
                self.timer.cancel()
            case Boom():
                raise RuntimeError("boom")
        return None


# -- try_tell and dead letters ---------------------------------------------------

async def test_try_tell_counts_a_full_mailbox_as_a_dead_letter_on_the_target(system):
    ref = system.spawn("/c", Counter)
    gate = asyncio.Event()
    ref.tell(Block(gate))
    await asyncio.sleep(0)  # the block is being handled: the mailbox is empty, limit 8
    assert all(ref.try_tell(Add(1)) for _ in range(8))
    assert ref.try_tell(Add(1)) is False
    assert ref.try_tell(Add(1)) is False
    gate.set()
    await system.idle()
    info = system.cell_info("/c")
    assert info["dead_letters"] == 2
    assert info["handled"] == 9  # the block and the eight that fitted
    assert system.totals()["dead_letters"] == 2
    assert await ref.ask(Get(), 1) == 8
    last = system.recent_dead_letters[-1]
    assert (last.target, last.sender, last.msg_type, last.reason) == ("/c", "-", "Add", "mailbox full")


async def test_try_tell_to_a_stopped_actor_is_a_dead_letter_not_an_error(system):
    ref = system.spawn("/c", Counter)
    await system.stop("/c")
    assert ref.try_tell(Add(1)) is False
    assert system.totals()["dead_letters"] == 1
    assert system.recent_dead_letters[-1].reason == "stopped"


async def test_a_dead_letter_names_the_actor_that_sent_it(system):
    target = system.spawn("/t", Counter)
    await system.stop("/t")

    class Sender(Actor):
        async def receive(self, msg: object) -> bool:
            return target.try_tell(Add(1))

    sender = system.spawn("/s", Sender)
    assert await sender.ask(Get(), 1) is False
    assert system.recent_dead_letters[-1].sender == "/s"


# -- timers on the system clock --------------------------------------------------------

async def test_tell_later_fires_on_the_manual_clock_and_can_be_cancelled(system, clock):
    ref = system.spawn("/s", Scheduler)
    await ref.ask(Arm(5.0), 1)
    await clock.advance(4.9)
    assert await ref.ask(Seen(), 1) == []
    await clock.advance(0.2)
    assert await ref.ask(Seen(), 1) == [Tick()]
    await ref.ask(Arm(5.0), 1)
    await ref.ask(Cancel(), 1)
    await clock.advance(10)
    assert await ref.ask(Seen(), 1) == [Tick()]
    assert clock.pending == 0


async def test_tell_every_ticks_at_each_interval_until_cancelled(system, clock):
    ref = system.spawn("/s", Scheduler)
    await ref.ask(Arm(60.0, every=True), 1)
    await clock.advance(60 * 3 + 1)
    assert len(await ref.ask(Seen(), 1)) == 3
    await ref.ask(Cancel(), 1)
    await clock.advance(600)
    assert len(await ref.ask(Seen(), 1)) == 3


async def test_a_restart_cancels_the_timers_of_the_old_instance(system, clock):
    spec = ChildSpec(backoff_base_s=0)
    ref = system.spawn("/s", Scheduler, spec)
    await ref.ask(Arm(5.0, every=True), 1)
    ref.tell(Boom())
    await system.idle()
    assert system.cell_info("/s")["restarts"] == 1
    await clock.advance(20)
    assert await ref.ask(Seen(), 1) == []  # the old instance's ticks never reach the new one
    assert clock.pending == 0


# -- pipe_to_self ----------------------------------------------------------------------

async def test_pipe_to_self_tells_the_wrapped_result_and_idle_waits_for_it(system):
    ref = system.spawn("/s", Scheduler)
    gate = asyncio.get_running_loop().create_future()
    task = await ref.ask(Load(gate), 1)
    idle = asyncio.ensure_future(system.idle())
    await asyncio.sleep(0)
    assert not idle.done()  # a piped task is pending
    gate.set_result(7)
    await idle
    assert task.done()
    assert await ref.ask(Seen(), 1) == [Loaded(7)]


async def test_pipe_to_self_tells_the_failure_when_asked_to(system):
    ref = system.spawn("/s", Scheduler)
    gate = asyncio.get_running_loop().create_future()
    await ref.ask(Load(gate), 1)
    gate.set_exception(OSError("disk"))
    await system.idle()
    assert await ref.ask(Seen(), 1) == [LoadFailed("disk")]


async def test_an_unhandled_pipe_failure_crashes_the_actor_under_its_supervisor(system):
    ref = system.spawn("/s", Scheduler, ChildSpec(backoff_base_s=0))
    gate = asyncio.get_running_loop().create_future()
    await ref.ask(Load(gate, handle_errors=False), 1)
    gate.set_exception(OSError("disk"))
    await system.idle()
    info = system.cell_info("/s")
    assert info["restarts"] == 1
    assert "OSError: disk (while handling piped task)" == info["last_error"]


async def test_stopping_cancels_a_pending_pipe(system):
    ref = system.spawn("/s", Scheduler)
    gate = asyncio.get_running_loop().create_future()
    task = await ref.ask(Load(gate), 1)
    await system.stop("/s")
    assert task.cancelled()


# -- the idle barrier --------------------------------------------------------------------

async def test_idle_returns_after_a_chain_of_tells_is_handled(system):
    class Relay(Actor):
        def __init__(self, nxt):
            self.nxt = nxt

        async def receive(self, msg: Add) -> None:
            await asyncio.sleep(0)
            if self.nxt is not None:
                self.nxt.tell(Add(msg.n + 1))

    last = system.spawn("/c", Counter)
    middle = system.spawn("/m", lambda: Relay(last))
    first = system.spawn("/f", lambda: Relay(middle))
    first.tell(Add(1))
    await system.idle()
    assert await last.ask(Get(), 1) == 3
    assert system.cell_info("/c")["mailbox_depth"] == 0


async def test_idle_names_the_busy_actor_when_it_times_out(system):
    ref = system.spawn("/c", Counter)
    ref.tell(Block(asyncio.Event()))
    with pytest.raises(TimeoutError, match="/c"):
        await system.idle(timeout=0.05)


async def test_an_actor_in_its_restart_back_off_counts_as_idle(system, clock):
    ref = system.spawn("/c", Counter, ChildSpec(backoff_base_s=5))
    ref.tell(Boom())
    ref.tell(Add(1))
    await system.idle()  # waits on the clock now: nothing happens until it moves
    assert system.cell_info("/c")["state"] == "restarting"
    await clock.advance(5)
    await system.idle()
    assert system.cell_info("/c")["state"] == "running"
    assert await ref.ask(Get(), 1) == 1  # what waited in the mailbox is handled by the new instance


# -- the lifecycle table and cell_info --------------------------------------------------------

def test_the_lifecycle_table_refuses_a_change_it_does_not_list():
    assert next_state(ActorState.RUNNING, Trigger.CRASH) is ActorState.RESTARTING
    with pytest.raises(IllegalTransition):
        next_state(ActorState.STOPPED, Trigger.STARTED)
    with pytest.raises(IllegalTransition):
        next_state(ActorState.FAULTED, Trigger.STOP)
    terminal = {ActorState.STOPPED, ActorState.FAULTED}
    assert not any(state in terminal for state, _ in TRANSITIONS)
    every_state_reachable = {ActorState.STARTING} | set(TRANSITIONS.values())
    assert every_state_reachable == set(ActorState)


async def test_cell_info_follows_the_lifecycle_and_raises_for_an_unknown_path(system):
    system.spawn("/c", Counter)
    assert system.cell_info("/c")["state"] == "starting"
    await system.idle()
    assert system.cell_info("/c")["state"] == ActorState.RUNNING
    with pytest.raises(ActorNotFound):
        system.cell_info("/nobody")


async def test_a_faulted_actor_stays_visible_in_cell_info(system):
    ref = system.spawn("/c", Counter, ChildSpec(restart="temporary"))
    ref.tell(Boom())
    await system.idle()
    assert not ref.alive
    assert system.cell_info("/c")["state"] == "faulted"


# -- what a path keeps across restarts ---------------------------------------------------------

class Table:
    def __init__(self) -> None:
        self.rows: list[int] = []


class Keeper(Actor):
    async def on_start(self) -> None:
        self.table = self.ctx.kept(Table)

    async def receive(self, msg: object) -> list[int]:
        if isinstance(msg, Add):
            self.table.rows.append(msg.n)
        return list(self.table.rows)


async def test_what_a_path_keeps_survives_an_injected_crash_and_a_new_instance(system):
    ref = system.spawn("/k", Keeper, ChildSpec(backoff_base_s=0))
    ref.tell(Add(1))
    system.inject_fault("/k", RuntimeError("chaos"))
    ref.tell(Add(2))
    assert await ref.ask(Get(), 1) == [1, 2]
    info = system.cell_info("/k")
    assert info["restarts"] == 1 and info["last_error"] == "RuntimeError: chaos (while handling injected fault)"
    with pytest.raises(ActorNotFound):
        system.inject_fault("/nobody", RuntimeError("chaos"))


class Batcher(Actor):
    """On an Add it takes the Adds queued right behind it and answers each with the running sum."""

    mailbox = MailboxSpec(limit=16)

    def __init__(self) -> None:
        self.total = 0
        self.runs: list[int] = []

    async def receive(self, msg: object) -> object:
        match msg:
            case Block():
                await msg.gate.wait()
            case Add():
                self.total += msg.n
                answer = self.total
                taken = []
                while (queued := self.ctx.take_queued(Add)) is not None:
                    taken.append(queued)
                self.runs.append(1 + len(taken))
                for add, reply in taken:
                    self.total += add.n
                    reply(self.total, None if add.n >= 0 else ValueError("negative"))
                return answer
            case Get():
                return (self.total, list(self.runs))
        return None


async def test_take_queued_hands_a_run_of_like_messages_to_one_handler_and_each_ask_its_answer(system):
    ref = system.spawn("/batcher", Batcher)
    other = system.spawn("/other", Counter)
    gate = asyncio.Event()
    ref.tell(Block(gate))  # everything below queues behind it
    asks = [asyncio.ensure_future(ref.ask(Add(n), 5)) for n in (10, 1, 2, -3)]
    later = asyncio.ensure_future(ref.ask(Get(), 5))  # another kind ends the run
    after = asyncio.ensure_future(ref.ask(Add(100), 5))
    await other.ask(Get(), 5)  # barrier: the asks above have reached the blocked actor's mailbox
    gate.set()
    assert await asks[0] == 10 and await asks[1] == 11 and await asks[2] == 13
    with pytest.raises(ValueError, match="negative"):  # an error given for one message reaches its asker
        await asks[3]
    assert await later == (10, [4])  # one handler run took the three Adds behind its own; the Get waited
    assert await after == 110
    assert system.lookup("/batcher")._cell.handled == 7
