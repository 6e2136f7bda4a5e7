"""The sessions' supervisor (``/sessions``): who is connected, per user.

Sessions register on start and leave on stop; anybody with a message for a
user's open sockets (order events from an AccountActor) tells the hub
``ToUser`` and it forwards to that user's sessions only. Who is connected
(:class:`SessionTable`) is kept by the runtime across the hub's restarts.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import msgspec

from actors.wire import ORDER_EVENTS, OrderEventKind, OrderView
from engine.runtime import ActorRef, ChildTerminated, MailboxSpec, Supervisor

log = logging.getLogger(__name__)


class Register(msgspec.Struct, frozen=True):
    user_id: int
    session: ActorRef


class Unregister(msgspec.Struct, frozen=True):
    user_id: int
    session: ActorRef


class OrderEvent(msgspec.Struct, frozen=True):
    """An order of the session's user changed (sent by its AccountActor)."""

    event: OrderEventKind
    order: OrderView

    def __post_init__(self) -> None:  # every producer is held to the names the socket documents
        if self.event not in ORDER_EVENTS:
            raise ValueError(f"{self.event!r} is not an order event; expected one of {', '.join(ORDER_EVENTS)}")


UserMsg = OrderEvent  # what goes to every socket of a user (a union as more kinds join); a WsSession takes it


class ToUser(msgspec.Struct, frozen=True):
    user_id: int
    msg: UserMsg


class CountSessions(msgspec.Struct, frozen=True):
    user_id: int | None = None


class SessionTable:
    """user id -> open sessions; outside the hub's restartable state."""

    def __init__(self) -> None:
        self.by_user: dict[int, set[ActorRef]] = defaultdict(set)


SessionHubMsg = Register | Unregister | ToUser | CountSessions | ChildTerminated


class SessionHub(Supervisor):
    mailbox = MailboxSpec(limit=65536)

    def __init__(self) -> None:
        super().__init__()
        self.by_user = SessionTable().by_user
        self.forwarded = 0
        self.undelivered = 0

    async def on_start(self) -> None:
        self.by_user = self.ctx.kept(SessionTable).by_user

    async def receive(self, msg: SessionHubMsg) -> Any:
        match msg:
            case Register():
                self.by_user[msg.user_id].add(msg.session)
            case Unregister():
                sessions = self.by_user.get(msg.user_id)
                if sessions is not None:
                    sessions.discard(msg.session)
                    if not sessions:
                        del self.by_user[msg.user_id]
            case ToUser():
                for session in list(self.by_user.get(msg.user_id, ())):
                    if session.try_tell(msg.msg):
                        self.forwarded += 1
                    else:
                        self.undelivered += 1
            case CountSessions():
                if msg.user_id is not None:
                    return len(self.by_user.get(msg.user_id, ()))
                return sum(len(s) for s in self.by_user.values())
            case ChildTerminated():
                pass  # sessions are temporary; their sockets are already closed
            case _:
                await super().receive(msg)
        return None

    def state_view(self) -> dict[str, Any]:
        return {**super().state_view(), "users": len(self.by_user), "sessions": sum(len(s) for s in self.by_user.values()),
                "forwarded": self.forwarded, "undelivered": self.undelivered}
