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


class Trade(msgspec.Struct, frozen=True):
    code: str
    price: int


class Counter(Actor):
    mailbox = MailboxSpec(limit=8)
    starts = 0  # counts on_start calls across restarts (class-level on purpose)

    def __init__(self) -> None:
        self.n = 0
        self.seen: list[object] = []

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
