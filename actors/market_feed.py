"""MarketFeed: one actor per stock code.

It receives every parsed trade and order book of its code (from the
:class:`~actors.feed_hub.FeedRouter`), aggregates bars at every accepted size
with a bounded in-memory history, hands closed bars to the bar writer, and
fans trades, quotes and closed bars out to its subscribers. Subscriptions are
owned by the hub (``/feeds``): after a restart the feed tells the hub
``FeedStarted`` and the hub sends them again, and the feed reloads its bars.

Every trade is forwarded whatever its time; a trade older than the forming
bar is not aggregated but counted (``late``). History (stored bars and the
source's backfill) is loaded on first need — an OHLC request or a strategy
warming up — in a task of its own, so an idle feed holds no old bars and a slow
or failed backfill never delays the stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Literal, assert_never

import msgspec

from engine.brokers.base import MarketDataSource, StreamStatus
from engine.market.bars import BarAggregator
from engine.market.krx import BAR_MS, BAR_SIZES, parse_bar_size
from engine.market.messages import Bar, Quote, Tick
from actors.bar_writer import ClosedBars
from actors.history import BarLoader
from engine.runtime import Actor, ActorRef, MailboxSpec
from actors.wire import encode_quote, encode_trade

log = logging.getLogger(__name__)

RECENT_TRADES = 100
BACKFILL_SIZES = ("1Min", "1D")  # larger intraday sizes are folded from 1Min by the store's readers
# The forming 1Min bar goes to the bar writer at most this often while trades come (never per
# trade) and at a stop, as a partial row its close overwrites; a (re)started feed takes it back.
FORMING_SAVE_S = 5.0
RESTORE_TIMEOUT_S = 2.0  # the stored forming bar is one row: aggregation never waits longer for it
RESTORE_PENDING = 20_000  # trades held for aggregation meanwhile (they are fanned out at once)


FeedChannel = Literal["trade", "quote", "bar"]


class AddSubscriber(msgspec.Struct, frozen=True):
    """``wire`` subscribers (WebSocket sessions) get :class:`Wire` payloads encoded
    once per record for all of them; others get the Tick/Quote/Bar objects."""

    channel: FeedChannel
    subscriber: ActorRef
    wire: bool = False
    history: bool = False  # with channel "bar": the closed 1Min bars first (warm-up)


class RemoveSubscriber(msgspec.Struct, frozen=True):
    channel: FeedChannel
    subscriber: ActorRef


class Wire(msgspec.Struct, frozen=True, gc=False):
    """A record already encoded for WebSocket clients (JSON text)."""

    kind: str  # "trade" | "quote"
    code: str
    data: bytes


class UpstreamStatus(msgspec.Struct, frozen=True):
    """The upstream connection changed; forwarded to every subscriber."""

    status: StreamStatus
    detail: str


class History(msgspec.Struct, frozen=True):
    """Closed bars of one code, oldest first, sent to a subscriber that asked for them."""

    code: str
    bars: list[Bar]


class GetBars(msgspec.Struct, frozen=True):
    size: str
    limit: int = 200
    include_forming: bool = True


class GetTrades(msgspec.Struct, frozen=True):
    """The latest trades (newest last), up to ``limit``."""

    limit: int = RECENT_TRADES


class GetLatestQuote(msgspec.Struct, frozen=True):
    pass


class FlushBars(msgspec.Struct, frozen=True):
    pass


class SaveForming(msgspec.Struct, frozen=True):
    """Timer: hand the forming 1Min bar to the bar writer (a partial row, replaced at its close)."""


class FormingRestored(msgspec.Struct, frozen=True):
    """The stored forming bar loaded at the start (None: none, or it could not be read)."""

    bar: Bar | None
    now_ms: int


class WarmupLoaded(msgspec.Struct, frozen=True):
    subscriber: ActorRef
    bars: list[Bar]


WARMUP_BARS = 200  # 1-minute bars a strategy gets to warm up on (its longest period is far less)


class LoadHistory(msgspec.Struct, frozen=True):
    """Ask: start loading the history (once) and get a future that is done once the feed has
    taken it in (or stopped). The caller awaits it, then asks GetBars: the feed's own loop
    never waits for a backfill."""


class Backfilled(msgspec.Struct, frozen=True):
    bars: list[Bar]


class FeedStarted(msgspec.Struct, frozen=True):
    """Told to the hub by a (re)started feed, so it re-sends the subscriptions."""

    code: str


class SubscriberGone(msgspec.Struct, frozen=True):
    code: str
    subscriber: ActorRef


FeedMsg = (
    Tick | Quote | AddSubscriber | RemoveSubscriber | UpstreamStatus | GetBars | GetTrades
    | GetLatestQuote | FlushBars | Backfilled | LoadHistory | WarmupLoaded | SaveForming
    | FormingRestored
)


class MarketFeed(Actor):
    mailbox = MailboxSpec(limit=16384)

    def __init__(
        self,
        code: str,
        source: MarketDataSource,
        hub: ActorRef,
        bar_writer: ActorRef | None,
        load_history: BarLoader,
        history: int,
        *,
        sessions: bool = False,
        load_stored: BarLoader | None = None,
    ) -> None:
        self.sessions = sessions
        self.load_stored = load_stored  # stored bars only (no backfill): the forming bar at a start
        self.code = code
        self.source = source
        self.hub = hub
        self.bar_writer = bar_writer
        self.load_history = load_history  # stored bars completed by the source's backfill
        self.bars = BarAggregator(code, BAR_SIZES, history, sessions=sessions)
        self.history_len = history
        self.subs: dict[tuple[str, bool], list[ActorRef]] = {
            ("trade", False): [], ("trade", True): [], ("quote", False): [], ("quote", True): [],
            ("bar", False): [],
        }
        self.recent: deque[Tick] = deque(maxlen=RECENT_TRADES)
        self.quote: Quote | None = None
        self.trades = 0
        self.quotes = 0
        self.delivery_drops = 0
        self._history: asyncio.Future[None] | None = None  # done once the history is in
        self._flush_timer: Any = None  # sessions: armed for the earliest forming bar's end
        self._flush_due: int | None = None
        self.history_loaded = False  # history is loaded on first need: an idle feed holds no bars
        self._forming_dirty = False  # a trade since the forming 1Min bar was last handed to the writer
        self._forming_timer: Any = None
        self._pending: list[Tick] | None = None  # trades waiting for the stored forming bar (aggregation only)

    async def on_start(self) -> None:
        now = self._market_now()
        if self.load_stored is not None and now is not None:  # off the feed's loop: trades flow meanwhile
            self._pending = []
            self.ctx.pipe_to_self(self._load_forming(now), lambda got: got)
        self.hub.tell(FeedStarted(self.code))
        self._schedule_flush()

    async def _load_forming(self, now: int) -> FormingRestored:
        """The 1Min bar that was forming when the last process (or this feed) stopped, if stored."""
        base = self.bars.sizes[0]
        try:
            stored = await asyncio.wait_for(self.load_stored(self.code, base, 1), RESTORE_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the feed runs without it: that minute's earlier trades are missing
            log.warning("feed %s: forming %s bar not restored: %r", self.code, base, exc)
            return FormingRestored(None, now)
        return FormingRestored(stored[-1] if stored else None, now)

    def _restored(self, msg: FormingRestored) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        bar = msg.bar
        if bar is not None and self.bars.restore_forming(bar, msg.now_ms):
            log.info("feed %s: forming %s bar of %d restored (volume %d)", self.code, bar.size,
                     bar.start_ms, bar.volume)
        for tick in pending:
            self._aggregate(tick)

    def _save_forming(self) -> None:
        if not self._forming_dirty or self.bar_writer is None:
            return
        self._forming_dirty = False
        bar = self.bars.current(self.bars.sizes[0])
        if bar is not None and not self.bar_writer.try_tell(ClosedBars([bar])):
            log.warning("feed %s: forming bar not persisted (bar writer full or stopped)", self.code)

    async def on_stop(self) -> None:
        if self._pending is None:  # (still waiting for the stored one: that row stays as it is)
            self._save_forming()  # a graceful stop or restart hands over the minute still forming
        # the runtime cancels the flush timer and the loading tasks; who waits is served what there is
        if self._history is not None and not self._history.done():
            self._history.set_result(None)

    async def receive(self, msg: FeedMsg) -> Any:
        match msg:
            case Tick():
                self._on_tick(msg)
            case Quote():
                self._on_quote(msg)
            case AddSubscriber():
                return self._add(msg)
            case RemoveSubscriber():
                for wire in (False, True):
                    subs = self.subs.get((msg.channel, wire))
                    if subs is not None and msg.subscriber in subs:
                        subs.remove(msg.subscriber)
            case UpstreamStatus():
                for ref in {ref for subs in self.subs.values() for ref in subs}:
                    self._deliver(ref, msg)
            case GetBars():
                return self._bars(msg)
            case GetTrades():
                return list(self.recent)[-msg.limit:] if msg.limit > 0 else []
            case GetLatestQuote():
                return self.quote
            case FormingRestored():
                self._restored(msg)
                self._schedule_flush()
            case SaveForming():
                self._forming_timer = None
                self._save_forming()
            case FlushBars():
                now = self._market_now()
                # no market time yet (a replay not started); trades waiting for the stored bar are not late
                if now is not None and self._pending is None:
                    self._publish_bars(self.bars.flush(now))
                self._schedule_flush()
            case Backfilled():
                taken = self.bars.preload(msg.bars)
                self.bars.resume_forming(msg.bars)  # a restart loses no part of today's 1D, this hour's 1H
                self.history_loaded = True
                if self._history is not None and not self._history.done():
                    self._history.set_result(None)
                log.debug("feed %s: %d history bars loaded", self.code, taken)
            case LoadHistory():
                return self._start_history()
            case WarmupLoaded():
                by_start = {b.start_ms: b for b in msg.bars}
                for bar in self.bars.history("1Min"):  # what closed live since the feed started
                    by_start[bar.start_ms] = bar
                self._deliver(msg.subscriber, History(self.code, [by_start[k] for k in sorted(by_start)]))
            case _:
                assert_never(msg)
        return None

    # -- trades and bars ---------------------------------------------------
    def _on_tick(self, tick: Tick) -> None:
        self.trades += 1
        self.recent.append(tick)
        subs = self.subs
        if subs[("trade", False)]:
            self._fan_out(subs[("trade", False)], tick)
        if subs[("trade", True)]:
            self._fan_out(subs[("trade", True)], Wire("trade", tick.code, encode_trade(tick)))
        if self._pending is None:
            self._aggregate(tick)
        elif len(self._pending) < RESTORE_PENDING:
            self._pending.append(tick)
        else:  # the stored bar is slow to come: aggregate without it rather than hold more
            log.warning("feed %s: forming bar not restored in time", self.code)
            self._restored(FormingRestored(None, 0))
            self._aggregate(tick)

    def _aggregate(self, tick: Tick) -> None:
        closed = self.bars.add(tick)
        if self._forming_timer is None and self.bar_writer is not None:
            self._forming_timer = self.ctx.tell_later(FORMING_SAVE_S, SaveForming())
        self._forming_dirty = True
        if closed:
            self._publish_bars(closed)
        if self.sessions and self.bars.next_end() != self._flush_due:
            self._schedule_flush()

    def _on_quote(self, quote: Quote) -> None:
        self.quotes += 1
        self.quote = quote
        subs = self.subs
        if subs[("quote", False)]:
            self._fan_out(subs[("quote", False)], quote)
        if subs[("quote", True)]:
            self._fan_out(subs[("quote", True)], Wire("quote", quote.code, encode_quote(quote)))

    def _publish_bars(self, bars: list[Bar]) -> None:
        if not bars:
            return
        if self.bar_writer is not None and not self.bar_writer.try_tell(ClosedBars(bars)):
            log.warning("feed %s: %d closed bars not persisted (bar writer full or stopped)", self.code, len(bars))
        for bar in bars:
            self._fan_out(self.subs[("bar", False)], bar)

    def _fan_out(self, subs: list[ActorRef], msg: Any) -> None:
        for ref in subs:
            self._deliver(ref, msg)

    def _deliver(self, ref: ActorRef, msg: Any) -> None:
        if ref.try_tell(msg):
            return
        if ref.alive:
            self.delivery_drops += 1  # the consumer's own rule decided; it is counted there too
        else:
            self._forget(ref)

    def _forget(self, ref: ActorRef) -> None:
        for subs in self.subs.values():
            if ref in subs:
                subs.remove(ref)
        if not self.hub.try_tell(SubscriberGone(self.code, ref)):
            log.warning("feed %s: could not tell the hub that %s left", self.code, ref.path)

    def _add(self, msg: AddSubscriber) -> None:
        wire = msg.wire and msg.channel != "bar"
        subs = self.subs[(msg.channel, wire)]
        if msg.subscriber not in subs:
            subs.append(msg.subscriber)
        if msg.history and msg.channel == "bar":
            if self.history_loaded:
                self._deliver(msg.subscriber, History(self.code, self.bars.history("1Min")))
            else:  # a warm-up loads what the subscriber needs; the feed keeps none of it
                subscriber = msg.subscriber
                self.ctx.pipe_to_self(self.load_history(self.code, "1Min", WARMUP_BARS),
                                      lambda bars: WarmupLoaded(subscriber, bars))
        if msg.channel == "quote" and self.quote is not None:  # the book as it stands now
            quote = self.quote
            self._deliver(msg.subscriber, Wire("quote", quote.code, encode_quote(quote)) if wire else quote)

    def _bars(self, msg: GetBars) -> list[Bar]:
        size = parse_bar_size(msg.size)
        bars = self.bars.history(size)
        if msg.include_forming:
            forming = self.bars.current(size)
            if forming is not None:
                bars.append(forming)
        return bars[-msg.limit:] if msg.limit > 0 else []

    def _market_now(self) -> int | None:
        """Market time: the clock for live sources, the file's time for replay."""
        return self.source.market_time_ms()

    def _schedule_flush(self) -> None:
        now = self.ctx.clock.now_ms()
        if self.sessions:  # only while a bar forms: just after the earliest forming one ends
            if self._flush_timer is not None:
                self._flush_timer.cancel()
                self._flush_timer = None
            self._flush_due = self.bars.next_end()
            market = self._market_now()  # a legacy replay's file time runs apart from the clock
            if market is not None:
                now = market
            if self._flush_due is not None:
                self._flush_timer = self.ctx.tell_later(max(0, self._flush_due - now + 50) / 1000.0, FlushBars())
            return
        step = BAR_MS["1Min"]
        delay_ms = step - now % step + 50  # just after the next minute boundary
        self.ctx.tell_later(delay_ms / 1000.0, FlushBars())  # full: a busy feed flushes on its next trade

    def _start_history(self) -> asyncio.Future[None]:
        if self._history is None:
            self._history = asyncio.get_running_loop().create_future()
            # even empty, Backfilled marks the history loaded and answers who waits for it
            self.ctx.pipe_to_self(self._load_history(), Backfilled)
        return self._history

    async def _load_history(self) -> list[Bar]:
        """Persisted bars, then the source's backfill; never delays the live stream."""
        bars: list[Bar] = []
        for size in BACKFILL_SIZES:
            bars.extend(await self.load_history(self.code, size, self.history_len))
        return bars

    def state_view(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "subscribers": {f"{ch}{'/wire' if w else ''}": len(v) for (ch, w), v in self.subs.items() if v},
            "trades": self.trades,
            "quotes": self.quotes,
            "late_trades": self.bars.late,
            "delivery_drops": self.delivery_drops,
        }
