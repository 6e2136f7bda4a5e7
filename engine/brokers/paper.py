"""The paper broker: the :class:`~engine.brokers.base.Broker` of a ``paper`` account.

It fills against the live market the app already streams (sim, replay or KIS
market data), through a :class:`QuoteSource` that watches codes on the feeds.
Its book and ledger (orders it accepted, cash, holdings, average prices) live
in the database behind :class:`PaperLedger` (``storage.SqlPaperLedger``).

- **Market orders** are accepted at once (``place_order`` returns the ack) and
  filled by :meth:`PaperBroker.await_fills` against the first quote the feed
  publishes *after* the acceptance: a buy takes the best ask, a sell the best
  bid, for the whole quantity. No such quote within ``quote_timeout_s`` (of
  the clock) → the order is cancelled and :class:`NoQuote` raised.
- **Limit orders** rest. When a quote crosses one (best ask ≤ limit for a buy,
  best bid ≥ limit for a sell) the broker calls ``on_cross()``; its owner then
  calls :meth:`fill_resting`, which fills every crossed order at the quote's
  price (never worse than the limit).
- Every fill is one ledger transaction: the order's filled quantity, the cash
  (value ± commission, − tax on sells), the position and its average price
  (fees excluded, rounded down). A fill the cash cannot pay for cancels the
  order instead (:class:`PaperCancelled`).
- ``orders_today`` reads the ledger's book: reconciliation needs nothing else.
- After a restart :meth:`start` cancels market orders left unfilled (their
  moment has passed) and resumes watching resting limit orders.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal, Protocol

import msgspec

from engine.brokers.base import (
    BrokerBalance,
    BrokerFill,
    BrokerOrderStatus,
    Holding,
    OrderAck,
    OrderRequest,
)
from engine.market.krx import kst_date, kst_midnight_ms
from engine.market.messages import Quote
from engine.risk import Fees
from engine.runtime.clock import Clock

log = logging.getLogger(__name__)

PaperStatus = Literal["open", "filled", "cancelled"]


class NoQuote(Exception):
    """No quote arrived in time: the paper market order was cancelled."""


class PaperCancelled(Exception):
    """The paper broker cancelled the order (e.g. the fill would overdraw the cash)."""


class LedgerRefused(Exception):
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


class Position(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    quantity: int
    average_price: int


class PaperFill(BrokerFill, frozen=True, kw_only=True):
    """A paper fill knows its exact fees and realised P&L (the ledger computed them)."""

    commission: int
    tax: int
    realized_pnl: int


class PaperLedger(Protocol):
    async def open_order(self, account_id: int, req: OrderRequest, accepted_ms: int) -> PaperOrder: ...

    async def orders(self, account_id: int, *, since_ms: int = 0,
        open_only: bool = False) -> list[PaperOrder]: ...

    async def fill(self, account_id: int, order_no: str, quantity: int, price: int, commission: int,
                   tax: int) -> int:
        """Apply one fill atomically; returns its realised P&L. :class:`LedgerRefused` if short."""

    async def cancel(self, account_id: int, order_no: str, reason: str) -> None: ...

    async def cash_and_positions(self, account_id: int) -> tuple[int, list[Position]]: ...


class QuoteSource(Protocol):
    def watch(self, code: str) -> None:
        """Start receiving quotes of ``code`` (counted: each watch needs an unwatch)."""

    def unwatch(self, code: str) -> None: ...

    def latest(self, code: str) -> Quote | None: ...

    async def quote_after(self, code: str, after_ms: int, timeout_s: float) -> Quote:
        """The first quote of ``code`` arriving from now on with ``ts_ms >= after_ms``; TimeoutError."""

    def listen(self, listener: Callable[[Quote], None]) -> Callable[[], None]:
        """Call ``listener`` with every quote; returns the function that stops it."""


class PaperBroker:
    def __init__(self, account_id: int, ledger: PaperLedger, quotes: QuoteSource, clock: Clock, fees: Fees,
                 *, quote_timeout_s: float, on_cross: Callable[[], None] | None = None,
                 market_now: Callable[[], int | None] | None = None) -> None:
        self.account_id = account_id
        self.market_now = market_now  # market time (a replay's file time); the clock when None
        self.ledger = ledger
        self.quotes = quotes
        self.clock = clock
        self.fees = fees
        self.quote_timeout_s = quote_timeout_s
        self.on_cross = on_cross
        self._resting: dict[str, PaperOrder] = {}
        self._market: dict[str, PaperOrder] = {}
        self._watched: list[str] = []
        self._stop_listening: Callable[[], None] | None = None

    def _watch(self, code: str) -> None:
        self.quotes.watch(code)
        self._watched.append(code)

    async def start(self) -> None:
        """Cancel market orders a restart left unfilled; resume resting limit orders."""
        for order in await self.ledger.orders(self.account_id, open_only=True):
            if order.price is None:
                await self.ledger.cancel(self.account_id, order.order_no, "not filled before a restart")
                log.warning("paper account %d: market order %s cancelled after a restart",
                            self.account_id, order.order_no)
            else:
                self._resting[order.order_no] = order
                self._watch(order.code)
        _, positions = await self.ledger.cash_and_positions(self.account_id)
        for pos in positions:
            self._watch(pos.code)  # current prices for the balance
        self._stop_listening = self.quotes.listen(self._on_quote)

    async def close(self) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        for code in self._watched:
            self.quotes.unwatch(code)
        self._watched.clear()

    def _now(self) -> int:
        """Acceptance time on the quotes' time line, so "a quote after acceptance" holds on replays too."""
        now = self.market_now() if self.market_now is not None else None
        return now if now is not None else self.clock.now_ms()

    # -- the Broker protocol ---------------------------------------------------------

    async def place_order(self, req: OrderRequest) -> OrderAck:
        if req.code not in self._watched:
            self._watch(req.code)
        order = await self.ledger.open_order(self.account_id, req, self._now())
        if order.price is None:
            self._market[order.order_no] = order
        else:
            self._resting[order.order_no] = order
        return OrderAck(broker_order_no=order.order_no, accepted_ms=order.accepted_ms)

    async def orders_today(self) -> list[BrokerOrderStatus]:
        since = kst_midnight_ms(kst_date(self.clock.now_ms()))
        return [
            BrokerOrderStatus(
                broker_order_no=o.order_no, code=o.code, side=o.side, quantity=o.quantity,
                filled_quantity=o.filled_quantity,
                average_price=o.filled_value // o.filled_quantity if o.filled_quantity else 0,
                cancelled=o.status == "cancelled", ordered_ms=o.accepted_ms,
            )
            for o in await self.ledger.orders(self.account_id, since_ms=since)
        ]

    async def balance(self) -> BrokerBalance:
        cash, positions = await self.ledger.cash_and_positions(self.account_id)
        holdings = []
        for pos in positions:
            quote = self.quotes.latest(pos.code)
            bid = quote.bids[0] if quote is not None and quote.bids else 0
            price = bid if bid > 0 else pos.average_price
            holdings.append(Holding(code=pos.code, quantity=pos.quantity, average_price=pos.average_price,
                                    current_price=price))
        return BrokerBalance(cash=cash, holdings=holdings)

    # -- fills -------------------------------------------------------------------------

    async def await_fills(self, order_no: str) -> list[PaperFill]:
        """Fill a market order against the first quote after its acceptance (see module doc)."""
        order = self._market.pop(order_no, None)
        if order is None:
            return []  # a limit order: it rests
        try:
            quote = await self.quotes.quote_after(order.code, order.accepted_ms, self.quote_timeout_s)
        except TimeoutError:
            reason = f"no quote for {order.code} within {self.quote_timeout_s:g} s"
            await self.ledger.cancel(self.account_id, order_no, reason)
            raise NoQuote(reason) from None
        price = _best(quote, order.side)
        if price <= 0:
            reason = f"no {'ask' if order.side == 'buy' else 'bid'} on the book of {order.code}"
            await self.ledger.cancel(self.account_id, order_no, reason)
            raise PaperCancelled(reason)
        return [await self._fill(order, price, quote.ts_ms)]

    async def fill_resting(self) -> tuple[list[PaperFill], dict[str, str]]:
        """Fill every resting limit order the latest quote of its code crosses.

        Returns the fills and the orders cancelled instead (order number → reason)."""
        fills: list[PaperFill] = []
        cancelled: dict[str, str] = {}
        for order_no, order in list(self._resting.items()):
            quote = self.quotes.latest(order.code)
            if quote is None or quote.ts_ms < order.accepted_ms or not _crosses(order, quote):
                continue
            del self._resting[order_no]
            try:
                fills.append(await self._fill(order, _best(quote, order.side), quote.ts_ms))
            except PaperCancelled as exc:
                log.warning("paper account %d: resting order %s cancelled: %s", self.account_id, order_no,
                    exc)
                cancelled[order_no] = str(exc)
        return fills, cancelled

    async def _fill(self, order: PaperOrder, price: int, ts_ms: int) -> PaperFill:
        qty = order.quantity - order.filled_quantity
        value = qty * price
        commission, tax = self.fees.commission(value), self.fees.tax(order.side, value, ts_ms)
        try:
            realized = await self.ledger.fill(self.account_id, order.order_no, qty, price, commission, tax)
        except LedgerRefused as exc:
            await self.ledger.cancel(self.account_id, order.order_no, str(exc))
            raise PaperCancelled(str(exc)) from None
        return PaperFill(broker_order_no=order.order_no, code=order.code, side=order.side, quantity=qty,
                         price=price, ts_ms=ts_ms, commission=commission, tax=tax, realized_pnl=realized)

    def _on_quote(self, quote: Quote) -> None:
        if self.on_cross is None:
            return
        for order in self._resting.values():
            if order.code == quote.code and quote.ts_ms >= order.accepted_ms and _crosses(order, quote):
                self.on_cross()
                return


def _best(quote: Quote, side: str) -> int:
    levels = quote.asks if side == "buy" else quote.bids
    return levels[0] if levels else 0


def _crosses(order: PaperOrder, quote: Quote) -> bool:
    best = _best(quote, order.side)
    if best <= 0 or order.price is None:
        return False
    return best <= order.price if order.side == "buy" else best >= order.price
