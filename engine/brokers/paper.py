"""The paper broker: the :class:`~engine.brokers.base.Broker` of a ``paper`` account.

It fills against the live market the app already streams (sim, replay or KIS
market data), through a :class:`QuoteSource` that watches codes on the feeds.
Its book and ledger (orders it accepted, cash, holdings, average prices) live
in the database behind :class:`PaperLedger` (``storage.SqlPaperLedger``).
Matching against one book is :mod:`engine.brokers.paper_matching`.

- **Market orders** fill against the book *as it stands at acceptance* (the
  latest quote is the market's state). With a quote, ``place_order`` walks the
  book's levels (partial fills at each price, never more than shown, never
  outside the day's limits) and opens and fills the order in **one** ledger
  transaction (:meth:`PaperLedger.open_filled`; the walks queued on the account
  meanwhile share it, in their order); :meth:`PaperBroker.await_fills` then
  answers what the walk did. What the visible book cannot fill is cancelled with
  a reason (:attr:`PaperFills.cancelled`). Only a code with no quote yet waits
  in ``await_fills`` for its first one, up to ``quote_timeout_s`` of the clock,
  else the order is cancelled and :class:`NoQuote` raised.
- **Call auctions**: a market order accepted in the pre-open (08:30 until the
  open) or in the closing auction (the last 10 minutes) is not matched at
  once: it waits for its auction and fills whole at the auction's one price,
  the first trade print at or after the open, or the closing print at the
  close (:func:`_auction_price`), through ``on_cross`` / :meth:`fill_resting`.
- **Replay** (``next_print``): a market order fills whole at the price of the
  first trade print after its acceptance (the order *is* that print: a replay
  has prints, not depth), as a backtest fills a decision at the next bar's open.
- **Limit orders** rest. When a quote crosses one (best ask ≤ limit for a buy,
  best bid ≥ limit for a sell) the broker calls ``on_cross()``; its owner then
  calls :meth:`fill_resting`, which fills each crossed order at the crossing
  levels' prices for no more than the quantity they show (one book's shares
  are given once: two orders of the account share them); the rest rests.
- **Cancel / modify** (:meth:`cancel_order`, :meth:`modify_order`): the
  remainder leaves the book at once; a modify changes the limit and/or lowers
  the quantity (and may cross at once).
- **Reservations** (as KIS computes 주문가능금액): an open buy reserves its
  remainder's value plus commission — a market buy at the day's upper limit
  price — and an open sell its shares. :meth:`balance` gives ``orderable`` =
  cash − reserved and per holding the shares not reserved.
- **Day orders** end with the session: :meth:`expire_open` moves every open
  remainder to ``expired`` (the owner calls it at the close).
- Every fill moves in one ledger transaction: the order's filled quantity, the cash
  (value ± commission, − tax on sells: by the trade's date and the code's market,
  :meth:`QuoteSource.market`), the position, its exact cost basis and its average
  price (fees excluded, rounded down). A sale's realised P&L is :mod:`engine.pnl`'s.
  A fill the cash cannot pay for cancels the order instead (:class:`PaperCancelled`).
- ``orders_today`` / ``orders_on`` read the ledger's book: reconciliation needs nothing else.
- After a restart :meth:`start` cancels market orders left unfilled (their
  moment has passed) and resumes watching resting limit orders.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Literal, Protocol

import msgspec

from engine.brokers import paper_matching as matching
from engine.brokers.base import (
    AmendAck,
    BrokerBalance,
    BrokerFill,
    BrokerOrderStatus,
    CancelRequest,
    FillCosts,
    Holding,
    ModifyRequest,
    OrderAck,
    OrderRejected,
    OrderRequest,
    OutcomeUnknown,
)
from engine.errors import DomainError
from engine.market.krx import auction_at, kst_date, kst_midnight_ms, price_limits
from engine.market.messages import Quote, Tick
from engine.pnl import CostBasis
from engine.risk import Fees
from engine.runtime.clock import Clock

log = logging.getLogger(__name__)

PaperStatus = Literal["open", "filled", "cancelled", "expired"]
DAY_MS = 86_400_000


_QueuedWalk = tuple["MarketWalk", int, bool, "asyncio.Future[OrderAck]"]  # walk, book time, book empty, ack


class NoQuote(DomainError):
    """No quote arrived in time: the paper market order was cancelled."""


class PaperCancelled(DomainError):
    """The paper broker cancelled the order (e.g. the fill would overdraw the cash)."""


class LedgerRefused(DomainError):
    """The ledger cannot apply a fill (cash or shares short); nothing changed."""


class PaperOrder(msgspec.Struct, frozen=True, kw_only=True):
    order_no: str
    code: str
    side: Literal["buy", "sell"]
    quantity: int
    price: int | None
    filled_quantity: int
    filled_value: int
    status: PaperStatus
    accepted_ms: int
    reason: str = ""

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled_quantity if self.status == "open" else 0


class Position(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    quantity: int
    average_price: int  # fees excluded, rounded down (as brokers show it)
    cost_basis: int = 0  # KRW the shares cost, buy commission included (engine.pnl)


class PaperFill(BrokerFill, frozen=True, kw_only=True):
    """A paper fill knows its exact fees and realised P&L (the ledger computed them)."""

    commission: int
    tax: int
    realized_pnl: int

    def costs(self) -> FillCosts:
        return FillCosts(commission=self.commission, tax=self.tax, realized_pnl=self.realized_pnl)


class FillStep(msgspec.Struct, frozen=True, kw_only=True):
    """One fill the broker asks its ledger to apply: shares, price and the fees it computed."""

    quantity: int
    price: int
    commission: int
    tax: int


class MarketWalk(msgspec.Struct, frozen=True, kw_only=True):
    """A market order to open and fill at once: the fills its walk of the book makes, and the
    reason its remainder is cancelled if they leave one."""

    req: OrderRequest
    accepted_ms: int
    steps: list[FillStep]
    rest_reason: str


class PaperFills(msgspec.Struct, frozen=True, kw_only=True):
    """What a market order's walk did: its fills, and the reason its remainder was cancelled ("" none)."""

    fills: list[PaperFill]
    cancelled: str = ""


class PaperLedger(Protocol):
    async def open_order(self, account_id: int, req: OrderRequest, accepted_ms: int) -> PaperOrder: ...

    async def orders(self, account_id: int, *, since_ms: int = 0, until_ms: int | None = None,
                     open_only: bool = False) -> list[PaperOrder]: ...

    async def fill(self, account_id: int, order_no: str, quantity: int, price: int, commission: int,
                   tax: int) -> int:
        """Apply one fill atomically; returns its realised P&L. :class:`LedgerRefused` if short."""

    async def open_filled(self, account_id: int,
                          walks: list[MarketWalk]) -> list[tuple[PaperOrder, list[int], str]]:
        """Open each walk's order and apply its fills, in order, in one transaction; a fill the ledger
        cannot cover (and those after it) is not applied and cancels its order with its reason, else
        a remainder is cancelled with ``rest_reason``. For each: the order as it ends, each applied
        fill's realised P&L, and the reason its remainder was cancelled ("" when it filled whole)."""

    async def cancel(self, account_id: int, order_no: str, reason: str,
                     status: Literal["cancelled", "expired"] = "cancelled") -> PaperOrder:
        """Close the open remainder (no-op on a closed order); returns the order as it is now."""

    async def modify(self, account_id: int, order_no: str, *, price: int, quantity: int) -> PaperOrder:
        """An open order's new limit and total quantity (> filled); LedgerRefused if not open."""

    async def cash_and_positions(self, account_id: int) -> tuple[int, list[Position]]: ...


class QuoteSource(Protocol):
    def watch(self, code: str) -> None:
        """Start receiving quotes of ``code`` (counted: each watch needs an unwatch)."""

    def unwatch(self, code: str) -> None: ...

    def latest(self, code: str) -> Quote | None: ...

    def base_price(self, code: str) -> int:
        """The previous close of ``code`` (the day's limits), 0 when unknown."""

    def market(self, code: str) -> str:
        """The market ``code`` is listed on, ``KOSPI`` or ``KOSDAQ`` (its sales' tax; the holdings)."""

    async def quote_after(self, code: str, after_ms: int, timeout_s: float) -> Quote:
        """The first quote of ``code`` arriving from now on with ``ts_ms >= after_ms``; TimeoutError."""

    def listen(self, listener: Callable[[Quote], None]) -> Callable[[], None]:
        """Call ``listener`` with every quote; returns the function that stops it."""

    def last_trade(self, code: str) -> Tick | None:
        """The latest trade print of ``code``, or None."""


class MatchingBook(Protocol):
    """What a broker that matches orders itself (the paper broker) lets its account drive: the
    account calls these where a real exchange would act on its own (walk, cross, close)."""

    async def await_fills(self, order_no: str) -> PaperFills:
        """A market order's walk of the book (a limit order: no fills, it rests)."""

    def crossed(self, order_no: str) -> bool:
        """Whether the latest book crosses the open limit order ``order_no``."""

    async def fill_resting(self) -> tuple[list[PaperFill], dict[str, str]]:
        """Fill the resting limits the books cross; the fills and the orders cancelled instead."""

    async def expire_open(self, reason: str) -> list[str]:
        """Expire every open remainder (the session closed); their order numbers."""


class PaperBroker:
    """The paper broker: a :class:`~engine.brokers.base.Broker` and its own :class:`MatchingBook`."""

    def __init__(self, account_id: int, ledger: PaperLedger, quotes: QuoteSource, clock: Clock, fees: Fees,
                 *, quote_timeout_s: float, on_cross: Callable[[], None] | None = None,
                 market_now: Callable[[], int | None] | None = None, next_print: bool = False,
                 auctions: bool = True) -> None:
        self.account_id = account_id
        self.next_print = next_print  # a replay: market orders fill at the next trade print
        self.market_now = market_now  # market time (a replay's file time); the clock when None
        self.auctions = auctions  # False on the around-the-clock demo market: no call auctions, no calendar
        self.ledger = ledger
        self.quotes = quotes
        self.clock = clock
        self.fees = fees
        self.quote_timeout_s = quote_timeout_s
        self.on_cross = on_cross
        self._open: dict[str, PaperOrder] = {}  # every open order (market ones until their walk)
        self._market: set[str] = set()  # market orders accepted, walk not done
        self._auction: dict[str, int] = {}  # market orders waiting for their call auction -> its instant
        self._auction_px: dict[str, int] = {}  # ... and the auction's price, once it printed
        self._watched: list[str] = []
        self._stop_listening: Callable[[], None] | None = None
        self._used: matching.Used = {}  # shares of the latest books already given to this account
        self._walked: dict[str, tuple[PaperFills, bool]] = {}  # walked at acceptance -> (walk, book empty)
        self._walks: list[_QueuedWalk] = []  # market orders to open and fill, in the order they were walked
        self._walking: asyncio.Task[None] | None = None
        # The owner runs broker calls concurrently (one task per order): ledger writes of this
        # account go one at a time (SQLite's deferred transactions would race on a new position).
        self._writes = asyncio.Lock()
        self._book: tuple[int, dict[str, Position]] | None = None  # cash and positions, as the ledger has them

    def _watch(self, code: str) -> None:
        self.quotes.watch(code)
        self._watched.append(code)

    async def start(self) -> None:
        """Cancel market orders a restart left unfilled; resume resting limit orders."""
        for order in await self.ledger.orders(self.account_id, open_only=True):
            auction = auction_at(order.accepted_ms) if order.price is None and self.auctions else None
            if auction is not None and auction >= self._now():  # its auction is still to come
                self._open[order.order_no] = order
                self._auction[order.order_no] = auction
                self._watch(order.code)
            elif order.price is None:
                await self.ledger.cancel(self.account_id, order.order_no, "not filled before a restart")
                log.warning("paper account %d: market order %s cancelled after a restart",
                            self.account_id, order.order_no)
            else:
                self._open[order.order_no] = order
                self._watch(order.code)
        _, positions = await self.ledger.cash_and_positions(self.account_id)
        for pos in positions:
            self._watch(pos.code)  # current prices for the balance
        self._stop_listening = self.quotes.listen(self._on_quote)

    async def close(self) -> None:
        if self._walking is not None:
            self._walking.cancel()
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        for code in self._watched:
            self.quotes.unwatch(code)
        self._watched.clear()

    def _now(self) -> int:
        """Acceptance time on the quotes' time line (a replay's file time, else the clock)."""
        now = self.market_now() if self.market_now is not None else None
        return now if now is not None else self.clock.now_ms()

    # -- the Broker protocol ---------------------------------------------------------

    async def place_order(self, req: OrderRequest) -> OrderAck:
        if req.code not in self._watched:
            self._watch(req.code)
        now = self._now()
        quote = self.quotes.latest(req.code) if req.price is None and not self.next_print else None
        if quote is not None and (not self.auctions or auction_at(now) is None):
            return await self._place_walked(req, quote, now)
        order = await self.ledger.open_order(self.account_id, req, now)
        self._open[order.order_no] = order
        auction = auction_at(order.accepted_ms) if order.price is None and self.auctions else None
        if auction is not None:
            self._auction[order.order_no] = auction  # filled by the auction's print (fill_resting)
        elif order.price is None:
            self._market.add(order.order_no)
        return OrderAck(broker_order_no=order.order_no, accepted_ms=order.accepted_ms)

    async def _place_walked(self, req: OrderRequest, quote: Quote, now: int) -> OrderAck:
        """A market order with a book to walk: accepted and filled against the book as it stands, in
        one ledger transaction; :meth:`await_fills` then answers what the walk did."""
        usable = matching.market_levels(quote, req.side, self.quotes.base_price(req.code))
        steps = matching.walk(quote, req.side, req.quantity, usable, self._used)
        market = self.quotes.market(req.code)
        fills = [FillStep(quantity=qty, price=price, commission=self.fees.commission(qty * price),
                          tax=self.fees.tax(req.side, qty * price, quote.ts_ms, market))
                 for qty, price in steps]
        if not steps:
            rest = (f"no {'ask' if req.side == 'buy' else 'bid'} on the book of {req.code} "
                    "inside the day's limits")
        else:
            shown = sum(q for q, _ in steps)
            rest = (f"the visible book of {req.code} showed {shown} of {req.quantity} shares: the remaining "
                    f"{req.quantity - shown} were cancelled")
        done: asyncio.Future[OrderAck] = asyncio.get_running_loop().create_future()
        self._walks.append((MarketWalk(req=req, accepted_ms=now, steps=fills, rest_reason=rest), quote.ts_ms,
                            not steps, done))
        if self._walking is None:
            self._walking = asyncio.get_running_loop().create_task(self._open_walks(),
                                                                   name=f"paper-walks:{self.account_id}")
        return await done

    async def _open_walks(self) -> None:
        """Open the queued walks in their order, the ones queued together in one ledger transaction
        (under ``_writes``: the kept cash and positions follow the ledger's order exactly)."""
        batch: list[_QueuedWalk] = []
        try:
            while self._walks:
                async with self._writes:
                    batch, self._walks = self._walks, []
                    try:
                        ended = await self.ledger.open_filled(self.account_id, [w[0] for w in batch])
                    except Exception as exc:  # nothing of the batch was written: each order's send fails
                        for *_, done in batch:
                            if not done.done():
                                done.set_exception(exc)
                        batch = []
                        continue
                    for queued, outcome in zip(batch, ended, strict=True):
                        self._walk_done(queued, *outcome)
                    batch = []
        finally:
            self._walking = None
            for *_, done in [*batch, *self._walks]:  # only when cancelled (the broker closed) mid-way
                if not done.done():
                    done.set_exception(OutcomeUnknown("the paper broker closed while opening the order"))
            self._walks = []

    def _walk_done(self, queued: _QueuedWalk, order: PaperOrder, realized: list[int], cancelled: str) -> None:
        """The ledger holds a walk: keep its cash and position, keep its fills for await_fills, ack it."""
        walk, ts_ms, empty, done = queued
        req, made = walk.req, []
        for step, pnl in zip(walk.steps, realized, strict=False):
            self._applied(req.code, req.side, step.quantity, step.price, step.commission, step.tax)
            made.append(PaperFill(broker_order_no=order.order_no, code=req.code, side=req.side,
                                  quantity=step.quantity, price=step.price, ts_ms=ts_ms,
                                  commission=step.commission, tax=step.tax, realized_pnl=pnl))
        self._walked[order.order_no] = (PaperFills(fills=made, cancelled=cancelled), empty)
        if not done.done():
            done.set_result(OrderAck(broker_order_no=order.order_no, accepted_ms=order.accepted_ms))

    async def cancel_order(self, req: CancelRequest) -> AmendAck:
        order = self._open.pop(req.broker_order_no, None)
        self._market.discard(req.broker_order_no)
        self._auction.pop(req.broker_order_no, None)
        closed = await self.ledger.cancel(self.account_id, req.broker_order_no, "cancelled by the owner")
        if order is None and closed.status != "cancelled":
            raise OrderRejected(f"paper order {req.broker_order_no} is {closed.status}: nothing to cancel",
                                "not_cancellable")
        left = (order.remaining if order is not None else closed.quantity - closed.filled_quantity)
        return AmendAck(broker_order_no=req.broker_order_no, quantity=left)

    async def modify_order(self, req: ModifyRequest) -> AmendAck:
        order = self._open.get(req.broker_order_no)
        if order is None or order.price is None:
            raise OrderRejected(f"paper order {req.broker_order_no} is not an open limit order",
                                "not_modifiable")
        try:
            changed = await self.ledger.modify(self.account_id, req.broker_order_no, price=req.price,
                                               quantity=order.filled_quantity + req.quantity)
        except LedgerRefused as exc:
            raise OrderRejected(str(exc), "not_modifiable") from None
        self._open[req.broker_order_no] = changed
        if self.on_cross is not None and self._crossed(changed):
            self.on_cross()
        return AmendAck(broker_order_no=req.broker_order_no, quantity=req.quantity)

    async def expire_open(self, reason: str) -> list[str]:
        """Expire every open remainder (the session closed); returns their order numbers."""
        expired = []
        for order_no in list(self._open):
            self._open.pop(order_no)
            self._market.discard(order_no)
            self._auction.pop(order_no, None)
            await self.ledger.cancel(self.account_id, order_no, reason, status="expired")
            expired.append(order_no)
        return expired

    async def orders_today(self) -> list[BrokerOrderStatus]:
        return await self.orders_on(kst_date(self.clock.now_ms()).strftime("%Y%m%d"))

    async def orders_on(self, day: str) -> list[BrokerOrderStatus]:
        since = kst_midnight_ms(dt.date(int(day[:4]), int(day[4:6]), int(day[6:])))
        return [
            BrokerOrderStatus(
                broker_order_no=o.order_no, code=o.code, side=o.side, quantity=o.quantity,
                filled_quantity=o.filled_quantity,
                average_price=o.filled_value // o.filled_quantity if o.filled_quantity else 0,
                cancelled=o.status == "cancelled", expired=o.status == "expired", ordered_ms=o.accepted_ms,
                price=o.price or 0,
            )
            for o in await self.ledger.orders(self.account_id, since_ms=since, until_ms=since + DAY_MS)
        ]

    async def balance(self) -> BrokerBalance:
        if self._book is None:  # read once; then kept by this broker's own fills (the ledger's only writer)
            cash, positions = await self.ledger.cash_and_positions(self.account_id)
            self._book = (cash, {p.code: p for p in positions})
        cash, positions = self._book[0], sorted(self._book[1].values(), key=lambda p: p.code)
        reserved_cash, reserved_shares = self.reserved()
        holdings = []
        for pos in positions:
            quote = self.quotes.latest(pos.code)
            bid = quote.bids[0] if quote is not None and quote.bids else 0
            price = bid if bid > 0 else pos.average_price
            holdings.append(Holding(code=pos.code, quantity=pos.quantity, average_price=pos.average_price,
                                    current_price=price, market=self.quotes.market(pos.code),
                                    orderable=max(0, pos.quantity - reserved_shares.get(pos.code, 0))))
        return BrokerBalance(cash=cash, holdings=holdings, orderable=max(0, cash - reserved_cash), d2=cash)

    def reserved(self) -> tuple[int, dict[str, int]]:
        """Cash the open buys reserve (value + commission; a market buy at the upper limit) and the
        shares the open sells reserve, by code."""
        cash, shares = 0, {}
        for order in self._open.values():
            left = order.remaining
            if order.side == "buy":
                cash += self.fees.buy_cost(left * self.reserve_price(order.code, order.price))
            else:
                shares[order.code] = shares.get(order.code, 0) + left
        return cash, shares

    def reserve_price(self, code: str, price: int | None) -> int:
        """What a buy reserves per share: its limit, or for a market buy the day's upper limit
        (the best ask when the previous close is unknown)."""
        if price is not None:
            return price
        base = self.quotes.base_price(code)
        if base > 0:
            return price_limits(base)[1]
        quote = self.quotes.latest(code)
        lv = matching.levels(quote, "buy") if quote is not None else []
        return lv[-1][0] if lv else 0

    # -- fills -------------------------------------------------------------------------

    async def await_fills(self, order_no: str) -> PaperFills:
        """Fill a market order against the book as it stands (see module doc)."""
        walked = self._walked.pop(order_no, None)
        if walked is not None:  # walked at acceptance already
            if walked[1]:  # nothing on the book to walk
                raise PaperCancelled(walked[0].cancelled)
            return walked[0]
        if order_no not in self._market:
            return PaperFills(fills=[])  # a limit order: it rests
        self._market.discard(order_no)
        self._auction.pop(order_no, None)
        order = self._open[order_no]
        if self.next_print:
            return await self._fill_at_next_print(order)
        quote = self.quotes.latest(order.code)
        if quote is None:
            try:
                quote = await self.quotes.quote_after(order.code, 0, self.quote_timeout_s)
            except TimeoutError:
                reason = f"no quote for {order.code} within {self.quote_timeout_s:g} s"
                await self._close(order_no, reason)
                raise NoQuote(reason) from None
        base = self.quotes.base_price(order.code)
        steps = matching.walk(quote, order.side, order.remaining,
                              matching.market_levels(quote, order.side, base), self._used)
        if not steps:
            reason = (f"no {'ask' if order.side == 'buy' else 'bid'} on the book of {order.code} "
                      "inside the day's limits")
            await self._close(order_no, reason)
            raise PaperCancelled(reason)
        fills = []
        try:
            for qty, price in steps:
                fills.append(await self._fill(order_no, qty, price, quote.ts_ms))
        except PaperCancelled as exc:
            return PaperFills(fills=fills, cancelled=str(exc))
        order = self._open.get(order_no)
        if order is None or order.remaining == 0:
            return PaperFills(fills=fills)
        reason = (f"the visible book of {order.code} showed {sum(q for q, _ in steps)} of "
                  f"{sum(q for q, _ in steps) + order.remaining} shares: the remaining {order.remaining} "
                  "were cancelled")
        await self._close(order_no, reason)
        return PaperFills(fills=fills, cancelled=reason)

    async def _fill_at_next_print(self, order: PaperOrder) -> PaperFills:
        try:
            quote = await self.quotes.quote_after(order.code, order.accepted_ms, self.quote_timeout_s)
        except TimeoutError:
            reason = f"no trade of {order.code} within {self.quote_timeout_s:g} s"
            await self._close(order.order_no, reason)
            raise NoQuote(reason) from None
        trade = self.quotes.last_trade(order.code)
        price = trade.price if trade is not None and trade.ts_ms >= order.accepted_ms else 0
        if price <= 0:
            reason = f"no trade print of {order.code} after the order"
            await self._close(order.order_no, reason)
            raise PaperCancelled(reason)
        try:
            return PaperFills(fills=[await self._fill(order.order_no, order.remaining, price, quote.ts_ms)])
        except PaperCancelled as exc:
            return PaperFills(fills=[], cancelled=str(exc))

    async def fill_resting(self) -> tuple[list[PaperFill], dict[str, str]]:
        """Fill every resting limit order the latest book of its code crosses, up to what it shows.

        Returns the fills and the orders cancelled instead (order number → reason)."""
        fills: list[PaperFill] = []
        cancelled: dict[str, str] = {}
        for order_no, price in list(self._auction_px.items()):
            auction = self._auction.pop(order_no)
            del self._auction_px[order_no]
            order = self._open.get(order_no)
            if order is None:  # cancelled meanwhile
                continue
            try:
                fills.append(await self._fill(order_no, order.remaining, price, auction))
            except PaperCancelled as exc:
                cancelled[order_no] = str(exc)
        for order_no, order in list(self._open.items()):
            if order.price is None or order_no in self._market:
                continue
            quote = self.quotes.latest(order.code)
            if quote is None or not matching.crosses(quote, order.side, order.price):
                continue
            usable = matching.limit_levels(quote, order.side, order.price, self.quotes.base_price(order.code))
            try:
                for qty, price in matching.walk(quote, order.side, order.remaining, usable, self._used):
                    fills.append(await self._fill(order_no, qty, price, quote.ts_ms))
            except PaperCancelled as exc:
                log.warning("paper account %d: resting order %s cancelled: %s", self.account_id, order_no,
                    exc)
                cancelled[order_no] = str(exc)
        return fills, cancelled

    async def _fill(self, order_no: str, qty: int, price: int, ts_ms: int) -> PaperFill:
        order = self._open[order_no]
        value = qty * price
        commission = self.fees.commission(value)
        tax = self.fees.tax(order.side, value, ts_ms, self.quotes.market(order.code))
        try:
            async with self._writes:
                realized = await self.ledger.fill(self.account_id, order_no, qty, price, commission, tax)
        except LedgerRefused as exc:
            await self._close(order_no, str(exc))
            raise PaperCancelled(str(exc)) from None
        self._applied(order.code, order.side, qty, price, commission, tax)
        order = msgspec.structs.replace(order, filled_quantity=order.filled_quantity + qty,
                                        filled_value=order.filled_value + value)
        if order.filled_quantity >= order.quantity:
            self._open.pop(order_no, None)
        else:
            self._open[order_no] = order
        return PaperFill(broker_order_no=order_no, code=order.code, side=order.side, quantity=qty,
                         price=price, ts_ms=ts_ms, commission=commission, tax=tax, realized_pnl=realized)

    def _applied(self, code: str, side: str, qty: int, price: int, commission: int, tax: int) -> None:
        """The ledger's arithmetic (storage.paper_ledger) on the kept cash and positions."""
        if self._book is None:
            return
        cash, positions = self._book
        value = qty * price
        pos = positions.get(code)
        if side == "buy":
            cash -= value + commission
            held = pos.quantity if pos is not None else 0
            avg = ((held * pos.average_price if pos is not None else 0) + value) // (held + qty)
            basis = (pos.cost_basis if pos is not None else 0) + value + commission
            positions[code] = Position(code=code, quantity=held + qty, average_price=avg, cost_basis=basis)
        else:
            cash += value - commission - tax
            assert pos is not None
            rest = CostBasis(quantity=pos.quantity, total=pos.cost_basis).sold(qty, value, commission, tax).rest
            if rest.quantity == 0:
                del positions[code]
            else:
                positions[code] = Position(code=code, quantity=rest.quantity, average_price=pos.average_price,
                                           cost_basis=rest.total)
        self._book = (cash, positions)

    async def _close(self, order_no: str, reason: str) -> None:
        self._open.pop(order_no, None)
        self._market.discard(order_no)
        self._auction.pop(order_no, None)
        await self.ledger.cancel(self.account_id, order_no, reason)

    def crossed(self, order_no: str) -> bool:
        """Whether the latest book crosses the open limit order ``order_no`` (a marketable limit)."""
        order = self._open.get(order_no)
        return order is not None and self._crossed(order)

    def _crossed(self, order: PaperOrder) -> bool:
        quote = self.quotes.latest(order.code)
        return quote is not None and order.price is not None and matching.crosses(quote, order.side,
                                                                                  order.price)

    def _on_quote(self, quote: Quote) -> None:
        if self._used and next(iter(self._used))[1] < quote.ts_ms - 60_000:
            self._used = {k: v for k, v in self._used.items() if k[1] >= quote.ts_ms - 60_000}
        if self.on_cross is None:
            return
        priced = False
        for order_no, auction in self._auction.items():
            order = self._open.get(order_no)
            if order is not None and order.code == quote.code and order_no not in self._auction_px:
                price = _auction_price(self.quotes.last_trade(order.code), auction)
                if price is not None:
                    self._auction_px[order_no] = price
                    priced = True
        if priced:
            self.on_cross()
            return
        for order in self._open.values():
            if (order.code == quote.code and order.price is not None
                    and matching.crosses(quote, order.side, order.price)):
                self.on_cross()
                return


def _auction_price(trade: Tick | None, auction_ms: int) -> int | None:
    """The one price of the call auction at ``auction_ms``: the first print at or after it (the
    opening print at the open, the closing print stamped at the close itself), once it came."""
    if trade is None or trade.ts_ms < auction_ms or trade.price <= 0:
        return None
    return trade.price
