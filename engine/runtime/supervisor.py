"""Supervision: how a child is restarted, and the group actors that watch children.

A :class:`ChildSpec` is declared when spawning. One-for-one: a crashed child
is restarted alone, after an exponential back-off (``backoff_base_s`` doubled
per recent restart, capped at ``backoff_max_s``), at most ``max_restarts``
times within ``within_s`` seconds. When the budget is spent the child is
stopped for good (state ``faulted``) and its parent is told
:class:`ChildTerminated`. Restart types follow OTP:

- ``permanent``: restarted after a crash, and also when it stops itself;
- ``transient``: restarted after a crash only;
- ``temporary``: never restarted.

A stop asked from outside (``system.stop(path)``, shutdown) never restarts.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Literal

import msgspec

from engine.runtime.actor import Actor

log = logging.getLogger(__name__)

RestartType = Literal["permanent", "transient", "temporary"]


class ChildSpec(msgspec.Struct, frozen=True):
    restart: RestartType = "transient"
    max_restarts: int = 5
    within_s: float = 60.0
    backoff_base_s: float = 0.1
    backoff_max_s: float = 10.0

    def backoff(self, recent: int) -> float:
        """Delay before the ``recent``-th restart inside the window (1-based)."""
        if self.backoff_base_s <= 0:
            return 0.0
        return min(self.backoff_max_s, self.backoff_base_s * (2 ** max(0, recent - 1)))


class ChildTerminated(msgspec.Struct, frozen=True):
    """Told to a parent when a child stopped for good after a failure."""

    path: str
    reason: str


class Supervisor(Actor):
    """A group node (``/feeds``, ``/swings``, ``/strategies/7``...): the base of every hub.

    A hub's ``receive`` matches its own protocol and hands everything else to
    ``super().receive``: :class:`ChildTerminated` goes to
    :meth:`on_child_terminated` (override it); any other message is logged and
    dropped (counted in ``unknown_dropped``), never a crash, so one bad sender
    cannot take a hub's routing down.
    """

    def __init__(self, keep: int = 100) -> None:
        self.terminated: deque[ChildTerminated] = deque(maxlen=keep)
        self.unknown_dropped = 0

    async def receive(self, msg: Any) -> None:
        match msg:
            case ChildTerminated():
                self.terminated.append(msg)
                await self.on_child_terminated(msg)
            case _:
                self.unknown_dropped += 1
                log.warning("%s: unknown message %s dropped", self.ctx.path, type(msg).__name__)

    async def on_child_terminated(self, msg: ChildTerminated) -> None:
        log.error("%s: child %s stopped for good: %s", self.ctx.path, msg.path, msg.reason)

    def state_view(self) -> dict[str, Any]:
        return {"children_terminated": len(self.terminated), "unknown_dropped": self.unknown_dropped}
