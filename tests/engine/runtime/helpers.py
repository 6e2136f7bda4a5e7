"""Small actors the runtime tests drive."""

from __future__ import annotations

import asyncio

import msgspec

from engine.runtime import Actor, MailboxSpec, Overflow


class Add(msgspec.Struct, frozen=True):
    n: int


class Get(msgspec.Struct, frozen=True):
    pass


class Boom(msgspec.Struct, frozen=True):
    pass


class Block(msgspec.Struct, frozen=True):
    """Handling waits until the test releases the gate."""

    gate: asyncio.Event


class BlockThenBoom(msgspec.Struct, frozen=True):
    """Handling waits for the gate, then crashes."""

    gate: asyncio.Event


class StopSelf(msgspec.Struct, frozen=True):
    pass


class GetSeen(msgspec.Struct, frozen=True):
    pass


class Trade(msgspec.Struct, frozen=True):
    code: str
    price: int


class Counter(Actor):
    mailbox = MailboxSpec(limit=8)
    starts = 0  # counts on_start calls across restarts (class-level on purpose)

    def __init__(self, on_stop: list[int] | None = None) -> None:
        self.n = 0
        self.seen: list[object] = []
        self.stopped_with = on_stop  # the count at on_stop is appended here

    async def on_stop(self) -> None:
        if self.stopped_with is not None:
            self.stopped_with.append(self.n)

    async def on_start(self) -> None:
        type(self).starts += 1

    async def receive(self, msg: object) -> object:
        match msg:
            case Add(n=n):
                self.n += n
                self.seen.append(msg)
            case Get():
                return self.n
            case Boom():
                raise RuntimeError("boom")
            case Block(gate=gate):
                await gate.wait()
            case BlockThenBoom(gate=gate):
                await gate.wait()
                raise RuntimeError("boom after the gate")
            case StopSelf():
                self.ctx.stop_self()
            case GetSeen():
                return list(self.seen)
            case Trade():
                self.seen.append(msg)
            case _:
                raise TypeError(f"unexpected {msg!r}")
        return None


class Faulting(Counter):
    mailbox = MailboxSpec(limit=2, overflow=Overflow.FAULT)


class Conflating(Counter):
    mailbox = MailboxSpec(
        limit=6,
        conflate_above=2,
        conflate_key=lambda m: ("trade", m.code) if type(m) is Trade else None,
    )
