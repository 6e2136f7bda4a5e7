"""Realtime strategies: a StrategyActor per (user, strategy), and their hub.

``/strategies`` (the :class:`StrategyHub`) owns the registry: which sessions
of a user use which strategy, and which codes each session watches. A
strategy actor (``/strategies/<user>/<name>``) lives while at least one of its
user's sessions uses it; it subscribes to the closed 1-minute bars of the
watched codes (warming up on the feed's history), turns them into signals,
sends the signals to the user's sessions and keeps the last ones for
``/realtime/strategy-data``. Signals never place orders. A (re)started
strategy says ``StrategyStarted`` and the hub sends it its sessions and codes.
The registry (:class:`StrategyTable`) is kept by the runtime across the hub's
own restarts, so a restarted hub never retires a strategy a session still uses.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from typing import Any, assert_never

import msgspec

from actors import paths
from actors.feed_hub import Subscribe, Unsubscribe, UnsubscribeAll
from actors.market_feed import History, UpstreamStatus
from engine.market.messages import Bar
from engine.runtime import (
    Actor,
    ActorRef,
    ChildSpec,
    ChildTerminated,
    MailboxSpec,
    Supervisor,
)
from engine.strategy.realtime import Signal, StrategyParams, make_strategy

log = logging.getLogger(__name__)

KEEP_SIGNALS = 100


class Attach(msgspec.Struct, frozen=True):
    user_id: int
    name: str
    params: StrategyParams  # parsed at the edge (the WebSocket's auth message)
    session: ActorRef


class Detach(msgspec.Struct, frozen=True):
    user_id: int
    name: str
    session: ActorRef


class Watch(msgspec.Struct, frozen=True):
    user_id: int
    name: str
    code: str
    session: ActorRef


class Unwatch(msgspec.Struct, frozen=True):
    user_id: int
    name: str
    code: str
    session: ActorRef


class StrategyStarted(msgspec.Struct, frozen=True):
    user_id: int
    name: str


class SetSessions(msgspec.Struct, frozen=True):
    sessions: list[ActorRef]
    codes: list[str]


class GetStrategyData(msgspec.Struct, frozen=True):
    pass


class StrategyData(msgspec.Struct, frozen=True):
    name: str
    params: StrategyParams  # the effective parameters, defaults filled in
    codes: list[str]
    signals: list[Signal]


StrategyMsg = SetSessions | Bar | History | UpstreamStatus | GetStrategyData


class StrategyActor(Actor):
    mailbox = MailboxSpec(limit=8192)  # closed bars: never conflated

    def __init__(self, user_id: int, name: str, params: StrategyParams, hub: ActorRef,
                 feeds: ActorRef) -> None:
        self.user_id = user_id
        self.name = name
        self.params = params
        self.strategy = make_strategy(name, params)
        self.hub = hub
        self.feeds = feeds
        self.sessions: list[ActorRef] = []
        self.codes: set[str] = set()
        self.signals: deque[Signal] = deque(maxlen=KEEP_SIGNALS)
        self.bars_seen = 0

    async def on_start(self) -> None:
        self.hub.tell(StrategyStarted(self.user_id, self.name))

    async def on_stop(self) -> None:
        if not self.feeds.try_tell(UnsubscribeAll(self.ctx.self_ref)):
            log.warning("strategy %s: feeds hub gone at stop", self.ctx.path)

    async def receive(self, msg: StrategyMsg) -> Any:
        match msg:
            case SetSessions():
                self._set(msg)
            case Bar():
                self._on_bar(msg)
            case History():
                for bar in msg.bars:  # warm-up: signals on old bars are not news
                    self.strategy.on_bar(bar)
            case UpstreamStatus():
                pass  # the feed tells every subscriber; the sessions hear it from their own feeds
            case GetStrategyData():
                return StrategyData(self.name, self.params, sorted(self.codes), list(self.signals))
            case _:
                assert_never(msg)
        return None

    def _set(self, msg: SetSessions) -> None:
        self.sessions = list(msg.sessions)
        wanted = set(msg.codes)
        me = self.ctx.self_ref
        for code in wanted - self.codes:
            self.feeds.tell(Subscribe(code, "bar", me, history=True))
        for code in self.codes - wanted:
            self.feeds.tell(Unsubscribe(code, "bar", me))
        self.codes = wanted

    def _on_bar(self, bar: Bar) -> None:
        self.bars_seen += 1
        signal = self.strategy.on_bar(bar)
        if signal is None:
            return
        self.signals.append(signal)
        for session in self.sessions:
            if not session.try_tell(signal):
                log.info("strategy %s: signal not delivered to %s", self.ctx.path, session.path)

    def state_view(self) -> dict[str, Any]:
        return {"sessions": len(self.sessions), "codes": len(self.codes), "bars": self.bars_seen,
                "signals": len(self.signals)}


HubMsg = Attach | Detach | Watch | Unwatch | StrategyStarted | ChildTerminated


class StrategyTable:
    """The hub's registry, outside its restartable state."""

    def __init__(self) -> None:
        # (user, name) -> session -> codes
        self.registry: dict[tuple[int, str], dict[ActorRef, set[str]]] = defaultdict(dict)
        self.params: dict[tuple[int, str], StrategyParams] = {}


class StrategyHub(Supervisor):
    mailbox = MailboxSpec(limit=16384)

    def __init__(self, feeds: ActorRef, spec: ChildSpec) -> None:
        super().__init__()
        self.feeds = feeds
        self.spec = spec
        self._use(StrategyTable())

    def _use(self, table: StrategyTable) -> None:
        self.registry, self.params = table.registry, table.params

    async def on_start(self) -> None:
        self._use(self.ctx.kept(StrategyTable))

    async def receive(self, msg: HubMsg) -> None:
        match msg:
            case Attach():
                key = (msg.user_id, msg.name)
                self.params.setdefault(key, msg.params)  # the first session's params hold
                self.registry[key].setdefault(msg.session, set())
                self._ensure(key)
                self._push(key)
            case Detach():
                key = (msg.user_id, msg.name)
                if msg.session not in self.registry.get(key, {}):
                    return  # never attached (a socket refused at admission): nothing changes
                self.registry[key].pop(msg.session, None)
                if not self.registry[key]:
                    await self._retire(key)
                else:
                    self._push(key)
            case Watch():
                key = (msg.user_id, msg.name)
                if msg.session in self.registry.get(key, {}):
                    self.registry[key][msg.session].add(msg.code)
                    self._push(key)
            case Unwatch():
                key = (msg.user_id, msg.name)
                if msg.session in self.registry.get(key, {}):
                    self.registry[key][msg.session].discard(msg.code)
                    self._push(key)
            case StrategyStarted():
                self._push((msg.user_id, msg.name))
            case _:
                await super().receive(msg)  # ChildTerminated is logged there; unknown ones dropped

    def _ensure(self, key: tuple[int, str]) -> None:
        user_id, name = key
        path = paths.strategy(user_id, name)
        if self.ctx.system.lookup(path) is not None:
            return
        if self.ctx.system.lookup(paths.user_strategies(user_id)) is None:
            self.ctx.spawn(str(user_id), Supervisor, ChildSpec(restart="permanent"))
        params = self.params.get(key)
        hub, feeds = self.ctx.self_ref, self.feeds
        self.ctx.system.spawn(path, lambda: StrategyActor(user_id, name, params, hub, feeds), self.spec)

    def _push(self, key: tuple[int, str]) -> None:
        ref = self.ctx.system.lookup(paths.strategy(*key))
        if ref is None:
            return
        sessions = self.registry.get(key, {})
        codes = sorted(set().union(*sessions.values())) if sessions else []
        if not ref.try_tell(SetSessions(list(sessions), codes)):
            log.warning("strategy %s not updated (mailbox full or stopped)", ref.path)

    async def _retire(self, key: tuple[int, str]) -> None:
        self.registry.pop(key, None)
        self.params.pop(key, None)
        user_id, name = key
        if self.ctx.system.lookup(paths.strategy(user_id, name)) is not None:
            await self.ctx.system.stop(paths.strategy(user_id, name), timeout=5)
        if not any(k[0] == user_id for k in self.registry):
            if self.ctx.system.lookup(paths.user_strategies(user_id)) is not None:
                await self.ctx.system.stop(paths.user_strategies(user_id), timeout=5)
