"""Bounded mailboxes with a declared overflow rule.

A mailbox holds at most ``limit`` messages. What happens when a ``tell``
finds it full is the mailbox's rule (:class:`Overflow`):

- ``REJECT``: ``tell`` raises :class:`MailboxFull` (counted in ``rejected``);
- ``FAULT``: the same, and the owning actor is faulted, so its supervisor
  restarts it and it reloads its state (used where a lost message would be
  wrong: closed bars, orders);

``send`` (awaited) always waits for room instead: that is back-pressure.

Conflation is orthogonal: with ``conflate_above`` set, a message for which
``conflate_key(msg)`` returns a key, arriving while the depth is at or above
that high-water mark, replaces the pending message with the same key (latest
wins, counted in ``conflated``). Below the mark nothing is conflated, so a
consumer that keeps up sees every message.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

import msgspec

from engine.runtime.errors import MailboxFull

ConflateKey = Callable[[Any], Hashable | None]


class Overflow(enum.Enum):
    REJECT = "reject"
    FAULT = "fault"


class MailboxSpec(msgspec.Struct, frozen=True):
    limit: int = 1024
    overflow: Overflow = Overflow.REJECT
    conflate_above: int | None = None
    conflate_key: ConflateKey | None = None


class _Latest:
    """A placeholder in the queue for the latest message of one key."""

    __slots__ = ("key",)

    def __init__(self, key: Hashable) -> None:
        self.key = key


class Mailbox:
    __slots__ = (
        "path", "limit", "overflow", "_high", "_key", "_queue", "_latest", "_waiter",
        "_room", "rejected", "conflated", "peak", "on_fault",
    )

    def __init__(self, path: str, spec: MailboxSpec) -> None:
        self.path = path
        self.limit = spec.limit
        self.overflow = spec.overflow
        self._high = spec.conflate_above if spec.conflate_key is not None else None
        self._key = spec.conflate_key
        self._queue: deque[Any] = deque()
        self._latest: dict[Hashable, Any] = {}
        self._waiter: asyncio.Future[None] | None = None
        self._room: asyncio.Event | None = None
        self.rejected = 0
        self.conflated = 0
        self.peak = 0
        self.on_fault: Callable[[Any], None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, msg: Any) -> None:
        """Enqueue without waiting; conflate or raise per the rule."""
        queue = self._queue
        depth = len(queue)
        if self._high is not None and (depth >= self._high or self._latest):
            # Above the mark, or while a conflated slot of this key is still
            # queued (so a newer message never overtakes an older one).
            key = self._key(msg)  # type: ignore[misc]
            if key is not None and (depth >= self._high or key in self._latest):
                if key in self._latest:
                    self._latest[key] = msg
                    self.conflated += 1
                    return
                if depth < self.limit:
                    self._latest[key] = msg
                    self._push(_Latest(key))
                    return
        if depth >= self.limit:
            self.rejected += 1
            if self.overflow is Overflow.FAULT and self.on_fault is not None:
                self.on_fault(msg)
            raise MailboxFull(self.path, self.limit)
        self._push(msg)

    def put_urgent(self, msg: Any) -> None:
        """Enqueue past the limit (lifecycle messages such as stop)."""
        self._push(msg)

    def put_front(self, msg: Any) -> None:
        """Enqueue ahead of everything, past the limit (a fault to handle now)."""
        self._queue.appendleft(msg)
        self._push_done()

    def _push(self, msg: Any) -> None:
        queue = self._queue
        queue.append(msg)
        if len(queue) > self.peak:
            self.peak = len(queue)
        self._push_done()

    def _push_done(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def put_wait(self, msg: Any) -> None:
        """Enqueue, waiting for room (back-pressure)."""
        while len(self._queue) >= self.limit:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()
        self._push(msg)

    def get_nowait(self) -> Any:
        """Pop the next message; the caller checked it is not empty."""
        item = self._queue.popleft()
        if type(item) is _Latest:
            item = self._latest.pop(item.key)
        room = self._room
        if room is not None and len(self._queue) < self.limit:
            room.set()
        return item

    def peek(self) -> Any:
        """The next message without taking it (None when empty or when it is a conflated one)."""
        if not self._queue:
            return None
        item = self._queue[0]
        return None if type(item) is _Latest else item

    async def wait(self) -> None:
        """Return when a message is queued."""
        if self._queue:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        await waiter

    def drain(self) -> list[Any]:
        """Take everything left (used when the owner stops)."""
        items = []
        while self._queue:
            items.append(self.get_nowait())
        return items
