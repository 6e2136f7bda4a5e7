"""The actor base class and the context an actor sees.

An actor owns its state and handles one message at a time:

    class Counter(Actor):
        mailbox = MailboxSpec(limit=100)

        def __init__(self, start: int) -> None:
            self.count = start

        async def receive(self, msg: CounterMsg) -> object:
            match msg:
                case Add(n):
                    self.count += n
                case Get():
                    return self.count
                case _:
                    assert_never(msg)

What ``receive`` returns is the reply to an ``ask``; an exception it raises is
re-raised in the asker, logged with the actor's path and the message type, and
makes the supervisor restart the actor (one-for-one, per its ChildSpec). The
message that crashed the handler is not retried.

``on_start`` runs before the first message (and after every restart: reload
state there); ``on_stop`` runs after the last one. Neither may block the loop.

Time and slow work arrive as messages, so a handler never sleeps (Thespian's
``wakeupAfter``, Akka's ``pipeToSelf``):

- ``self.ctx.tell_later(delay, msg)`` tells ``msg`` to the actor after
  ``delay`` seconds of the system clock; ``self.ctx.tell_every(interval, msg)``
  every ``interval`` seconds. Both return a handle with ``cancel()``.
- ``self.ctx.pipe_to_self(awaitable, wrap, failed=None)`` runs ``awaitable``
  in a task and tells the actor ``wrap(result)`` (or ``failed(exc)``; without
  ``failed`` an exception crashes the actor like a handler's would).

Both belong to the instance: a restart or a stop cancels them.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from engine.runtime.mailbox import MailboxSpec

if TYPE_CHECKING:
    from engine.runtime.cell import Scheduled
    from engine.runtime.clock import Clock
    from engine.runtime.ref import ActorRef
    from engine.runtime.supervisor import ChildSpec
    from engine.runtime.system import ActorSystem

T = TypeVar("T")


class ActorContext:
    """What the runtime gives an actor: its path and ref, the clock, the system."""

    __slots__ = ("path", "self_ref", "system", "failure", "_kept")

    def __init__(self, path: str, self_ref: ActorRef, system: ActorSystem) -> None:
        self.path = path
        self.self_ref = self_ref
        self.system = system
        self.failure: BaseException | None = None  # the last crash (on_stop can tell why it stops)
        self._kept: dict[type, Any] = {}

    @property
    def clock(self) -> Clock:
        return self.system.clock

    def spawn(self, name: str, factory: Any, spec: ChildSpec | None = None) -> ActorRef:
        """Spawn a child at ``<my path>/<name>``."""
        return self.system.spawn(f"{self.path}/{name}", factory, spec)

    def kept(self, kind: type[T]) -> T:
        """The ``kind()`` this path keeps across restarts (built on first use).

        The context outlives the actor instances of its path, so what is kept here
        survives a crash: a hub's routing table, say (see :mod:`engine.runtime`).
        """
        table = self._kept.get(kind)
        if table is None:
            table = self._kept[kind] = kind()
        return table

    def tell_later(self, delay: float, msg: Any) -> Scheduled:
        """Tell myself ``msg`` after ``delay`` seconds of the system clock (a dead letter if I am full)."""
        return self.self_ref._cell.schedule(delay, msg)

    def tell_every(self, interval: float, msg: Any, first: float | None = None) -> Scheduled:
        """Tell myself ``msg`` every ``interval`` seconds (the first after ``first``, default ``interval``)."""
        return self.self_ref._cell.schedule(interval if first is None else first, msg, interval)

    def take_queued(self, kind: type[T]) -> tuple[T, Callable[[Any, BaseException | None], None]] | None:
        """The next message in my mailbox, taken out, if it is a ``kind``: it and the function that
        answers its ask (``reply(result, error)``). None when the next one is something else. For a
        handler that takes a run of like messages at once (one commit for several orders); whoever
        calls it answers every message it took."""
        return self.self_ref._cell.take_queued(kind)

    def pipe_to_self(self, awaitable: Awaitable[T], wrap: Callable[[T], Any],
                     failed: Callable[[Exception], Any] | None = None) -> asyncio.Task[None]:
        """Run ``awaitable`` off my loop and tell me ``wrap(result)`` (or ``failed(exc)``).

        The task ends once the message is in my mailbox; a restart or stop cancels it.
        """
        return self.self_ref._cell.pipe(awaitable, wrap, failed)

    def stop_self(self) -> None:
        """Stop once the messages queued before this call are handled."""
        self.self_ref._cell.request_stop(by_self=True)


class Actor(abc.ABC):
    mailbox: ClassVar[MailboxSpec] = MailboxSpec()
    ctx: ActorContext

    async def on_start(self) -> None:
        """Called before the first message, and after each restart."""

    async def on_stop(self) -> None:
        """Called after the last message, on stop or before a restart."""

    @abc.abstractmethod
    async def receive(self, msg: Any) -> Any:
        """Handle one message; what it returns answers an ``ask``."""

    def state_view(self) -> dict[str, Any]:
        """Extra figures for the admin tree (override to show more)."""
        return {}
