"""ActorRef: the only handle anybody holds on an actor.

``tell`` never waits (it raises when the message is not taken); ``try_tell``
never waits nor raises (a message not taken is a counted dead letter);
``send`` waits for room; ``ask`` waits for the reply,
always with a timeout, and re-raises the handler's exception.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.runtime.cell import ActorCell


class ActorRef:
    __slots__ = ("_cell", "path")

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell
        self.path = cell.path

    def tell(self, msg: Any) -> None:
        """Enqueue ``msg``; raises MailboxFull or ActorStopped, never waits."""
        self._cell.tell(msg)

    def try_tell(self, msg: Any) -> bool:
        """Enqueue ``msg`` if there is room; otherwise it is a dead letter (counted) and False."""
        return self._cell.try_tell(msg)

    async def send(self, msg: Any) -> None:
        """Enqueue ``msg``, waiting for room in the mailbox."""
        await self._cell.send(msg)

    async def ask(self, msg: Any, timeout: float, *, wait_for_room: bool = True) -> Any:
        """The value ``receive(msg)`` returned; its exception re-raised; AskTimeout after ``timeout``.
        ``wait_for_room=False``: MailboxFull at once when the mailbox is full (refuse, don't queue)."""
        return await self._cell.ask(msg, timeout, wait_for_room)

    def stop(self) -> None:
        """Stop once what is queued now is handled (stop is a message)."""
        self._cell.request_stop(by_self=False)

    @property
    def alive(self) -> bool:
        return self._cell.accepting

    def __repr__(self) -> str:
        return f"ActorRef({self.path})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorRef) and other._cell is self._cell

    def __hash__(self) -> int:
        return id(self._cell)
