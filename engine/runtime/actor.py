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
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

from engine.runtime.mailbox import MailboxSpec

if TYPE_CHECKING:
    from engine.runtime.clock import Clock
    from engine.runtime.ref import ActorRef
    from engine.runtime.supervisor import ChildSpec
    from engine.runtime.system import ActorSystem


class ActorContext:
    """What the runtime gives an actor: its path and ref, the clock, the system."""

    __slots__ = ("path", "self_ref", "system", "failure")

    def __init__(self, path: str, self_ref: ActorRef, system: ActorSystem) -> None:
        self.path = path
        self.self_ref = self_ref
        self.system = system
        self.failure: BaseException | None = None  # the last crash (on_stop can tell why it stops)

    @property
    def clock(self) -> Clock:
        return self.system.clock

    def spawn(self, name: str, factory: Any, spec: ChildSpec | None = None) -> ActorRef:
        """Spawn a child at ``<my path>/<name>``."""
        return self.system.spawn(f"{self.path}/{name}", factory, spec)

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
