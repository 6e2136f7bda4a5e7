"""Quotes for the order path: the :class:`QuoteBoard` and the :class:`QuoteTap` actor that feeds it.

The tap (``/accounts/quotes``, spawned by the account hub) subscribes to the
feeds of watched codes (quotes and trades) like any other subscriber and
publishes what it receives on the board. The board is a plain object shared
by the account actors and their paper brokers (like the feed router is for
the source): the latest quote per code, the previous close learnt from
trades (``price − change``), waiters for "the next quote after t" (with a
clock timeout), and listeners called on every quote. It never awaits; all its
callers run on the one event loop.

It implements :class:`engine.brokers.paper.QuoteSource`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any, assert_never

import msgspec

from actors import paths
from actors.feed_hub import Subscribe, Unsubscribe
from actors.market_feed import UpstreamStatus
from engine.market.listing import DEFAULT_MARKET
from engine.market.messages import Quote, Tick
from engine.runtime import Actor, ActorRef, Clock, MailboxSpec

log = logging.getLogger(__name__)

TAP = "quotes"  # the tap's name under /accounts


class Watch(msgspec.Struct, frozen=True):
    code: str


class Unwatch(msgspec.Struct, frozen=True):
    code: str


class _Waiter:
    __slots__ = ("after_ms", "future")

    def __init__(self, after_ms: int, future: asyncio.Future[Quote]) -> None:
        self.after_ms = after_ms
        self.future = future


class QuoteBoard:
    def __init__(self, clock: Clock, base_of: Callable[[str], int | None] | None = None,
                 listing: Callable[[str], str] | None = None) -> None:
        self.clock = clock
        self.base_of = base_of  # a fallback for the previous close (the simulated market knows it)
        self.listing = listing  # the source's code -> KOSPI | KOSDAQ
        self.tap: ActorRef | None = None
        self.counts: dict[str, int] = defaultdict(int)
        self._latest: dict[str, Quote] = {}
        self._trades: dict[str, Tick] = {}
        self._base: dict[str, int] = {}
        self._waiters: dict[str, list[_Waiter]] = defaultdict(list)
        self._listeners: list[Callable[[Quote], None]] = []
        self._waiting = asyncio.Event()
        self.quotes_seen = 0

    # -- QuoteSource ---------------------------------------------------------------

    def watch(self, code: str) -> None:
        self.counts[code] += 1
        if self.counts[code] == 1:
            self._tell(Watch(code))

    def unwatch(self, code: str) -> None:
        if self.counts.get(code, 0) <= 0:
            return
        self.counts[code] -= 1
        if self.counts[code] == 0:
            del self.counts[code]
            self._tell(Unwatch(code))

    def latest(self, code: str) -> Quote | None:
        return self._latest.get(code)

    def base_price(self, code: str) -> int:
        """The previous close of ``code`` if known (from a trade, or the fallback), else 0."""
        base = self._base.get(code)
        if base:
            return base
        return (self.base_of(code) or 0) if self.base_of is not None else 0

    def market(self, code: str) -> str:
        """The market ``code`` is listed on, as the market-data source knows it."""
        return self.listing(code) if self.listing is not None else DEFAULT_MARKET

    async def quote_after(self, code: str, after_ms: int, timeout_s: float) -> Quote:
        future: asyncio.Future[Quote] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(after_ms, future)
        self._waiters[code].append(waiter)
        self._waiting.set()

        def expire() -> None:
            if not future.done():
                future.set_exception(TimeoutError(f"no quote for {code} within {timeout_s:g} s"))

        timer = self.clock.call_later(timeout_s, expire)
        try:
            return await future
        finally:
            timer.cancel()
            waiters = self._waiters.get(code)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiters[code]
            if not self._waiters:
                self._waiting.clear()

    def listen(self, listener: Callable[[Quote], None]) -> Callable[[], None]:
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    # -- fed by the tap ------------------------------------------------------------------

    def publish_quote(self, quote: Quote) -> None:
        self.quotes_seen += 1
        self._latest[quote.code] = quote
        for waiter in list(self._waiters.get(quote.code, ())):
            if quote.ts_ms >= waiter.after_ms and not waiter.future.done():
                waiter.future.set_result(quote)
        for listener in list(self._listeners):
            try:
                listener(quote)
            except Exception:  # one listener's bug must not starve the others; it is logged
                log.exception("quote listener failed on %s", quote.code)

    def last_trade(self, code: str) -> Tick | None:
        """The latest trade print of ``code`` (an auction's one price, for the paper broker)."""
        return self._trades.get(code)

    def publish_tick(self, tick: Tick) -> None:
        self._trades[tick.code] = tick
        base = tick.price - tick.change
        if base > 0:
            self._base[tick.code] = base

    # -- for tests and the admin view ------------------------------------------------------

    async def wait_for_waiter(self) -> None:
        """Return once somebody waits for a quote (tests then move the clock)."""
        await self._waiting.wait()

    @property
    def waiting(self) -> int:
        """Waiters still waiting (a waiter whose quote came is done, even before it resumed)."""
        return sum(1 for ws in self._waiters.values() for w in ws if not w.future.done())

    def _tell(self, msg: Watch | Unwatch) -> None:
        if self.tap is None:
            return  # the tap subscribes every counted code when it starts
        if not self.tap.try_tell(msg) and self.tap.alive:  # a stopped tap: shutting down
            log.warning("quote tap did not take %r: its mailbox is full", msg)


TapMsg = Quote | Tick | Watch | Unwatch | UpstreamStatus


class QuoteTap(Actor):
    """Subscribes the board's codes on ``/feeds`` and publishes what arrives."""

    mailbox = MailboxSpec(limit=4096, conflate_above=256,
                          conflate_key=lambda m: (type(m).__name__, m.code) if type(m) in (Quote,
                              Tick) else None)

    def __init__(self, board: QuoteBoard) -> None:
        self.board = board

    async def on_start(self) -> None:
        self.board.tap = self.ctx.self_ref
        for code in list(self.board.counts):
            self._subscribe(code)

    def _feeds(self) -> ActorRef:
        return self.ctx.system.ref(paths.FEEDS)

    def _subscribe(self, code: str) -> None:
        for channel in ("quote", "trade"):
            self._feeds().tell(Subscribe(code, channel, self.ctx.self_ref))  # type: ignore[arg-type]

    async def receive(self, msg: TapMsg) -> None:
        match msg:
            case Quote():
                self.board.publish_quote(msg)
            case Tick():
                self.board.publish_tick(msg)
            case Watch():
                self._subscribe(msg.code)
            case Unwatch():
                for channel in ("quote", "trade"):
                    self._feeds().tell(Unsubscribe(msg.code, channel,
                        self.ctx.self_ref))  # type: ignore[arg-type]
            case UpstreamStatus():
                pass  # the board keeps the last quote; an order waits for a fresh one anyway
            case _:
                assert_never(msg)

    def state_view(self) -> dict[str, Any]:
        return {"codes": len(self.board.counts), "quotes_seen": self.board.quotes_seen,
                "waiting": self.board.waiting}
