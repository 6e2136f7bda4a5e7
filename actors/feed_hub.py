"""The feeds' supervisor (``/feeds``) and the router the market-data source writes into.

The hub owns the subscriptions: who watches which code on which channel. A
code's MarketFeed is spawned with its first subscriber and stopped a grace
period after its last one left; the upstream stream of a channel is
subscribed once per code, however many watchers it has. A (re)started feed
says ``FeedStarted`` and the hub sends it the subscriptions again.

The table (:class:`FeedTable`) is kept by the runtime across the hub's own
restarts (``ctx.kept``), like the router: a restarted hub still knows who
watches what, and re-arms the grace period of every code nobody watches.

The :class:`FeedRouter` is the source's sink: it forwards each record to its
code's feed with ``tell`` (never awaiting), counting what a full mailbox drops.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import msgspec

from actors.history import BarLoader, bar_history
from actors.market_feed import (
    AddSubscriber,
    FeedChannel,
    FeedStarted,
    MarketFeed,
    RemoveSubscriber,
    SubscriberGone,
    UpstreamStatus,
)
from engine.brokers.base import MarketDataSource, StreamStatus
from engine.market.krx import is_valid_code
from engine.market.messages import Quote, Tick
from engine.runtime import ActorRef, ChildSpec, ChildTerminated, MailboxSpec, Supervisor

log = logging.getLogger(__name__)



class Subscribe(msgspec.Struct, frozen=True):
    code: str
    channel: FeedChannel
    subscriber: ActorRef
    wire: bool = False
    history: bool = False
    reply_to: ActorRef | None = None
    tag: str = ""  # echoed in the reply (e.g. the client's tr_id)


class Unsubscribe(msgspec.Struct, frozen=True):
    code: str
    channel: FeedChannel
    subscriber: ActorRef


class UnsubscribeAll(msgspec.Struct, frozen=True):
    subscriber: ActorRef


class Subscribed(msgspec.Struct, frozen=True):
    """The reply to :class:`Subscribe`: ``error`` is empty on success."""

    code: str
    channel: FeedChannel
    tag: str
    error: str = ""


class GraceExpired(msgspec.Struct, frozen=True):
    code: str
    generation: int


class FeedFor(msgspec.Struct, frozen=True):
    """Ask: the running feed of a code, or None."""

    code: str


class FeedRouter:
    """The market-data sink: records to their code's feed, never awaiting."""

    def __init__(self) -> None:
        self.feeds: dict[str, ActorRef] = {}
        self.dropped = 0
        self.unrouted = 0
        self.status: StreamStatus = "live"
        self.status_detail = ""

    def on_tick(self, tick: Tick) -> None:
        self._route(tick.code, tick)

    def on_quote(self, quote: Quote) -> None:
        self._route(quote.code, quote)

    def _route(self, code: str, msg: Any) -> None:
        ref = self.feeds.get(code)
        if ref is None:
            self.unrouted += 1
        elif not ref.try_tell(msg):
            if ref.alive:
                self.dropped += 1
            else:
                self.unrouted += 1

    def on_code_status(self, code: str, status: StreamStatus, detail: str) -> None:
        """One code's upstream changed (cluster mode: the node holding it died, another took it)."""
        ref = self.feeds.get(code)
        if ref is None:
            return
        log.info("upstream of %s %s: %s", code, status, detail)
        if not ref.try_tell(UpstreamStatus(status, detail)):
            log.warning("status not delivered to %s (full or stopped)", ref.path)

    def on_status(self, status: StreamStatus, detail: str) -> None:
        self.status, self.status_detail = status, detail
        log.info("upstream %s: %s", status, detail)
        update = UpstreamStatus(status, detail)
        for ref in list(self.feeds.values()):
            if not ref.try_tell(update):
                log.warning("status not delivered to %s", ref.path)


HubMsg = Subscribe | Unsubscribe | UnsubscribeAll | FeedStarted | SubscriberGone | GraceExpired | FeedFor | ChildTerminated


class FeedTable:
    """The hub's routing, outside its restartable state."""

    def __init__(self) -> None:
        # code -> (channel, wire) -> subscribers
        self.subs: dict[str, dict[tuple[str, bool], set[ActorRef]]] = defaultdict(lambda: defaultdict(set))
        self.upstream: dict[str, set[str]] = defaultdict(set)  # code -> upstream channels on
        self.generation: dict[str, int] = defaultdict(int)  # bumped by every change; a grace stop checks it
        # subscriber -> (code, channel) it holds: a subscriber's exit touches its own rows, not every code's
        self.held: dict[ActorRef, set[tuple[str, str]]] = defaultdict(set)


class FeedHub(Supervisor):
    mailbox = MailboxSpec(limit=65536)

    def __init__(
        self,
        source: MarketDataSource,
        router: FeedRouter,
        *,
        grace_s: float,
        history: int,
        feed_spec: ChildSpec,
        bar_writer: ActorRef | None = None,
        load_history: BarLoader | None = None,
        sessions: bool = False,
        load_stored: BarLoader | None = None,
    ) -> None:
        super().__init__()
        self.sessions = sessions  # bars follow the KRX session (False: the around-the-clock demo market)
        self.source = source
        self.router = router
        self.grace_s = grace_s
        self.history = history
        self.feed_spec = feed_spec
        self.bar_writer = bar_writer
        self.load_history = load_history or bar_history(source)
        self.load_stored = load_stored  # stored bars only: a feed's start takes its forming bar back
        self._use(FeedTable())
        self.feeds_started = 0
        self.feeds_stopped = 0

    def _use(self, table: FeedTable) -> None:
        self.table = table
        self.subs, self.upstream, self.generation = table.subs, table.upstream, table.generation

    async def on_start(self) -> None:
        self._use(self.ctx.kept(FeedTable))
        for code in list(self.router.feeds):  # a restart cancelled the pending grace stops
            if not any(self.subs.get(code, {}).values()):
                self._start_grace(code)

    async def receive(self, msg: HubMsg) -> Any:
        match msg:
            case Subscribe():
                await self._subscribe(msg)
            case Unsubscribe():
                self._remove(msg.code, msg.channel, msg.subscriber)
            case UnsubscribeAll():
                for code, channel in list(self.table.held.get(msg.subscriber, ())):
                    self._remove(code, channel, msg.subscriber)
            case SubscriberGone():
                for channel, _wire in list(self.subs.get(msg.code, {})):
                    self._remove(msg.code, channel, msg.subscriber)
            case FeedStarted():
                self._resend(msg.code)
            case GraceExpired():
                await self._maybe_stop(msg)
            case FeedFor():
                return self.router.feeds.get(msg.code)
            case _:
                await super().receive(msg)
        return None

    async def on_child_terminated(self, msg: ChildTerminated) -> None:
        code = msg.path.rsplit("/", 1)[-1]
        log.error("feed %s stopped for good: %s", code, msg.reason)
        self.router.feeds.pop(code, None)
        await self._upstream_off(code)
        for (channel, _wire), subscribers in self.subs.pop(code, {}).items():
            for subscriber in subscribers:
                self._forget_held(subscriber, code, channel)

    async def _subscribe(self, msg: Subscribe) -> None:
        error = ""
        if not is_valid_code(msg.code):
            error = f"bad stock code {msg.code!r}"
        else:
            try:
                await self._upstream_on(msg.code, "quote" if msg.channel == "quote" else "trade")
                feed = self._feed(msg.code)
                self.subs[msg.code][(msg.channel, msg.wire)].add(msg.subscriber)
                self.table.held[msg.subscriber].add((msg.code, msg.channel))
                self.generation[msg.code] += 1  # cancels a pending grace stop
                feed.tell(AddSubscriber(msg.channel, msg.subscriber, msg.wire, msg.history))
            except Exception as exc:  # the source refused (capacity, bad code): the caller hears why
                log.warning("subscribe %s %s failed: %r", msg.channel, msg.code, exc)
                error = str(exc) or type(exc).__name__
        if msg.reply_to is not None and not msg.reply_to.try_tell(Subscribed(msg.code, msg.channel, msg.tag, error)):
            log.warning("subscribe reply to %s lost", msg.reply_to.path)

    def _feed(self, code: str) -> ActorRef:
        ref = self.router.feeds.get(code)
        if ref is not None and ref.alive:
            return ref
        hub = self.ctx.self_ref
        ref = self.ctx.spawn(
            code,
            lambda: MarketFeed(code, self.source, hub, self.bar_writer, self.load_history, self.history,
                               sessions=self.sessions, load_stored=self.load_stored),
            self.feed_spec,
        )
        self.router.feeds[code] = ref
        self.feeds_started += 1
        return ref

    def _remove(self, code: str, channel: str, subscriber: ActorRef) -> None:
        self._forget_held(subscriber, code, channel)
        by_channel = self.subs.get(code)
        if not by_channel:
            return
        feed = self.router.feeds.get(code)
        removed = False
        for wire in (False, True):
            subs = by_channel.get((channel, wire))
            if subs and subscriber in subs:
                subs.discard(subscriber)
                removed = True
                if feed is not None:  # not taken by a stopped feed: it has no subscribers left to remove
                    feed.try_tell(RemoveSubscriber(channel, subscriber))  # type: ignore[arg-type]
        if removed and not any(by_channel.values()):  # the last one left: the grace period starts
            self._start_grace(code)

    def _forget_held(self, subscriber: ActorRef, code: str, channel: str) -> None:
        held = self.table.held.get(subscriber)
        if held is not None:
            held.discard((code, channel))
            if not held:
                del self.table.held[subscriber]

    def _start_grace(self, code: str) -> None:
        generation = self.generation[code] = self.generation[code] + 1
        self.ctx.tell_later(self.grace_s, GraceExpired(code, generation))

    async def _maybe_stop(self, msg: GraceExpired) -> None:
        code = msg.code
        if self.generation.get(code) != msg.generation or any(self.subs.get(code, {}).values()):
            return  # somebody subscribed meanwhile
        self.subs.pop(code, None)
        self.generation.pop(code, None)
        ref = self.router.feeds.pop(code, None)
        if ref is not None:
            ref.stop()
            self.feeds_stopped += 1
        await self._upstream_off(code)

    def _resend(self, code: str) -> None:
        feed = self.router.feeds.get(code)
        if feed is None:
            return
        for (channel, wire), subs in self.subs.get(code, {}).items():
            for sub in subs:
                feed.tell(AddSubscriber(channel, sub, wire))  # type: ignore[arg-type]

    async def _upstream_on(self, code: str, channel: str) -> None:
        if channel not in self.upstream[code]:
            await self.source.subscribe(channel, code)  # type: ignore[arg-type]
            self.upstream[code].add(channel)

    async def _upstream_off(self, code: str) -> None:
        for channel in self.upstream.pop(code, set()):
            try:
                await self.source.unsubscribe(channel, code)  # type: ignore[arg-type]
            except Exception as exc:  # the upstream may be down; it forgets on reconnect anyway
                log.warning("unsubscribe %s %s failed: %r", channel, code, exc)

    def state_view(self) -> dict[str, Any]:
        return {
            **super().state_view(),
            "feeds": len(self.router.feeds),
            "feeds_started": self.feeds_started,
            "feeds_stopped": self.feeds_stopped,
            "routed_drops": self.router.dropped,
            "unrouted": self.router.unrouted,
            "upstream": self.router.status,
        }
