"""The sessions' supervisor (``/sessions``): who is connected, per user, and what they watch.

The socket handler admits a session (``Admit``: at most the user's socket
limit, checked and counted in one step, so parallel logins cannot overshoot)
and the session leaves on stop; anybody with a message for a user's open
sockets (order events from an AccountActor) tells the hub ``ToUser`` and it
forwards to that user's sessions only.

A session's subscriptions pass through the hub on their way to the feeds hub
(``Claim``): the hub counts each user's subscriptions and distinct codes (feeds)
across all their sockets, forwards the ``Subscribe`` when both are under the
limits, and otherwise tells the session ``ClaimRefused`` naming the limit. An
unsubscribe, a failed subscribe (``Release``) and a session's stop
(``Unregister``) give them back. Who is connected and what they claimed
(:class:`SessionTable`) is kept by the runtime across the hub's restarts.
The limits are per server (in a cluster, per node holding the sockets).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from typing import Any

import msgspec

from actors.feed_hub import Subscribe
from actors.wire import ORDER_EVENTS, OrderEventKind, OrderView
from engine.runtime import ActorRef, ChildTerminated, MailboxSpec, Supervisor

log = logging.getLogger(__name__)


class Register(msgspec.Struct, frozen=True):
    user_id: int
    session: ActorRef


class Unregister(msgspec.Struct, frozen=True):
    user_id: int
    session: ActorRef


class Admit(msgspec.Struct, frozen=True):
    """Ask: register ``session`` unless its user already holds ``limit`` sessions; replies a bool."""

    user_id: int
    session: ActorRef
    limit: int


class Claim(msgspec.Struct, frozen=True):
    """A session wants ``subscribe`` (its ``tag`` the client's tr_id): forwarded to ``feeds`` within the
    user's limits, else ``ClaimRefused`` to the session."""

    user_id: int
    subscribe: Subscribe
    feeds: ActorRef


class Release(msgspec.Struct, frozen=True):
    """The session no longer holds (tr_id, code): unsubscribed, or the subscribe failed."""

    user_id: int
    session: ActorRef
    tr_id: str
    code: str


class ClaimRefused(msgspec.Struct, frozen=True):
    """The reply to a :class:`Claim` over a per-user limit: ``error`` names it."""

    tr_id: str
    code: str
    error: str
    message: str


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


class CountClaims(msgspec.Struct, frozen=True):
    """Ask: (subscriptions, distinct codes) the user holds across their sockets."""

    user_id: int


class SessionTable:
    """user id -> open sessions, and what each session claimed; outside the hub's restartable state."""

    def __init__(self) -> None:
        self.by_user: dict[int, set[ActorRef]] = defaultdict(set)
        self.claims: dict[ActorRef, set[tuple[str, str]]] = defaultdict(set)  # session -> (tr_id, code)
        self.subscriptions: Counter[int] = Counter()  # user -> claims across their sessions
        self.codes: dict[int, Counter[str]] = defaultdict(Counter)  # user -> code -> claims on it


SessionHubMsg = (Register | Unregister | Admit | Claim | Release | ToUser | CountSessions | CountClaims
                 | ChildTerminated)


class SessionHub(Supervisor):
    mailbox = MailboxSpec(limit=65536)

    def __init__(self, *, max_subscriptions_per_user: int = 200, max_feeds_per_user: int = 100) -> None:
        super().__init__()
        self.max_subscriptions = max_subscriptions_per_user
        self.max_feeds = max_feeds_per_user
        self._use(SessionTable())
        self.forwarded = 0
        self.undelivered = 0
        self.refused = 0

    def _use(self, table: SessionTable) -> None:
        self.table = table
        self.by_user = table.by_user

    async def on_start(self) -> None:
        self._use(self.ctx.kept(SessionTable))

    async def receive(self, msg: SessionHubMsg) -> Any:
        match msg:
            case Register():
                self.by_user[msg.user_id].add(msg.session)
            case Unregister():
                self._unregister(msg)
            case Admit():
                return self._admit(msg)
            case Claim():
                self._claim(msg)
            case Release():
                self._release(msg.user_id, msg.session, (msg.tr_id, msg.code))
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
            case CountClaims():
                return self.table.subscriptions[msg.user_id], len(self.table.codes.get(msg.user_id, ()))
            case ChildTerminated():
                pass  # sessions are temporary; their sockets are already closed
            case _:
                await super().receive(msg)
        return None

    def _admit(self, msg: Admit) -> bool:
        sessions = self.by_user[msg.user_id]
        if msg.session not in sessions and len(sessions) >= msg.limit:
            return False
        sessions.add(msg.session)
        return True

    def _unregister(self, msg: Unregister) -> None:
        sessions = self.by_user.get(msg.user_id)
        if sessions is not None:
            sessions.discard(msg.session)
            if not sessions:
                del self.by_user[msg.user_id]
        for key in list(self.table.claims.get(msg.session, ())):
            self._release(msg.user_id, msg.session, key)

    def _claim(self, msg: Claim) -> None:
        sub, table = msg.subscribe, self.table
        session, key = sub.subscriber, (sub.tag, sub.code)
        if key not in table.claims[session]:
            refusal = self._over_limit(msg.user_id, sub.code)
            if refusal is not None:
                self.refused += 1
                if not session.try_tell(ClaimRefused(sub.tag, sub.code, *refusal)):
                    log.warning("claim refusal to %s lost", session.path)
                return
            table.claims[session].add(key)
            table.subscriptions[msg.user_id] += 1
            table.codes[msg.user_id][sub.code] += 1
        msg.feeds.tell(sub)

    def _over_limit(self, user_id: int, code: str) -> tuple[str, str] | None:
        table = self.table
        if table.subscriptions[user_id] >= self.max_subscriptions:
            return ("max_subscriptions", f"at most {self.max_subscriptions} subscriptions per user across "
                    "all their sockets (AUTOTRADER_WS_MAX_SUBSCRIPTIONS_PER_USER): unsubscribe some first")
        codes = table.codes.get(user_id, {})
        if code not in codes and len(codes) >= self.max_feeds:
            return ("max_feeds", f"at most {self.max_feeds} distinct codes per user across all their sockets "
                    "(AUTOTRADER_WS_MAX_FEEDS_PER_USER): unsubscribe a code first")
        return None

    def _release(self, user_id: int, session: ActorRef, key: tuple[str, str]) -> None:
        table = self.table
        claims = table.claims.get(session)
        if claims is None or key not in claims:
            return
        claims.discard(key)
        if not claims:
            del table.claims[session]
        table.subscriptions[user_id] -= 1
        if table.subscriptions[user_id] <= 0:
            del table.subscriptions[user_id]
        codes = table.codes[user_id]
        codes[key[1]] -= 1
        if codes[key[1]] <= 0:
            del codes[key[1]]
        if not codes:
            del table.codes[user_id]

    def state_view(self) -> dict[str, Any]:
        return {**super().state_view(), "users": len(self.by_user), "sessions": sum(len(s) for s in self.by_user.values()),
                "subscriptions": sum(self.table.subscriptions.values()), "forwarded": self.forwarded,
                "undelivered": self.undelivered, "claims_refused": self.refused}
