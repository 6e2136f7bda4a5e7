"""What the engine needs from a market-data source and a broker.

A source pushes parsed records into a :class:`MarketDataSink` synchronously
(no awaiting per tick: the sink only enqueues into feed actors' mailboxes).
Sources: ``sim`` (engine.brokers.sim), ``replay`` (engine.brokers.replay),
``kis`` (engine.brokers.kis). What differs between them (market time, a
previous close known before any trade, upstream trouble) is a method of the
protocol that every source implements, never an attribute probed with
``getattr``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

import msgspec

from engine.errors import DomainError
from engine.market.messages import Bar, Quote, Tick

Channel = Literal["trade", "quote"]
StreamStatus = Literal["live", "reconnecting"]


class MarketDataSink(Protocol):
    def on_tick(self, tick: Tick) -> None: ...

    def on_quote(self, quote: Quote) -> None: ...

    def on_status(self, status: StreamStatus, detail: str) -> None:
        """The upstream connection changed (e.g. dropped and reconnecting, live again)."""


class UpstreamCounters(msgspec.Struct, frozen=True):
    """Upstream trouble since start (zeros for the in-process sources)."""

    reconnects: int = 0
    bad_frames: int = 0
    missed_pingpongs: int = 0


class MarketDataSource(Protocol):
    name: str

    async def start(self, sink: MarketDataSink) -> None:
        """Open upstream connections; records flow to ``sink`` from now on."""

    async def stop(self) -> None:
        """Close every upstream connection; idempotent."""

    async def subscribe(self, channel: Channel, code: str) -> None:
        """Start the upstream stream of ``channel`` for ``code`` (idempotent)."""

    async def unsubscribe(self, channel: Channel, code: str) -> None:
        """Stop it (idempotent)."""

    async def backfill(self, code: str, bar_size: str, n: int) -> list[Bar]:
        """Up to ``n`` most recent closed bars, oldest first. May raise; callers log and go on."""

    def market_time_ms(self) -> int | None:
        """The market's time now: the clock for live sources, the file's time in a replay
        (None before its first trade)."""

    def previous_close(self, code: str) -> int | None:
        """The previous close of ``code`` when known before any trade (the simulated
        market's base price); None otherwise (it is learnt from the first trade)."""

    def listing(self, code: str) -> str:
        """The market ``code`` is listed on, ``KOSPI`` or ``KOSDAQ`` (:mod:`engine.market.listing`)."""

    def counters(self) -> UpstreamCounters:
        """Upstream trouble so far, for ``/metrics``."""


# -- orders --------------------------------------------------------------------
#
#   BrokerError
#    ├── OrderRejected     the broker said no: nothing was placed (safe to report, never retry blindly)
#    ├── OutcomeUnknown    sent, answer lost (timeout, HTTP 500 without a verdict): reconcile, never resend
#    └── BrokerUnavailable not sent (connection refused, rate limited before sending): safe to retry


class BrokerError(DomainError):
    """Base of broker failures; ``code`` and ``message`` carry the broker's words."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message


class OrderRejected(BrokerError):
    pass


class OutcomeUnknown(BrokerError):
    pass


class BrokerUnavailable(BrokerError):
    pass


Side = Literal["buy", "sell"]


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    client_order_id: str  # ours, unique per account (KIS has none: the journal keeps the mapping)
    code: str
    side: Side
    quantity: int
    price: int | None = None  # None: market order (KIS ORD_DVSN 01); else limit (00), on the tick grid


class OrderAck(msgspec.Struct, frozen=True, kw_only=True):
    broker_order_no: str  # KIS ODNO
    accepted_ms: int  # UTC epoch ms


class CancelRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Cancel the open remainder (``quantity`` shares) of the broker's order ``broker_order_no``."""

    broker_order_no: str
    code: str
    side: Side
    quantity: int  # the remainder to cancel
    price: int | None  # the order's limit (None: market)


class ModifyRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Change an open order: ``remaining`` open shares become ``quantity`` open shares at ``price``.

    ``quantity`` ≤ ``remaining`` (a broker order's quantity only goes down; more is a new order)."""

    broker_order_no: str
    code: str
    side: Side
    remaining: int
    quantity: int
    old_price: int
    price: int


class AmendAck(msgspec.Struct, frozen=True, kw_only=True):
    """The broker took a cancel or modify. ``broker_order_no`` carries what is left open
    (KIS gives a modify a new order number; the paper broker keeps its own)."""

    broker_order_no: str
    quantity: int  # shares cancelled (cancel) or now open (modify)


class FillCosts(msgspec.Struct, frozen=True, kw_only=True):
    """A fill's fees and realised P&L as the broker booked them."""

    commission: int
    tax: int
    realized_pnl: int


class BrokerFill(msgspec.Struct, frozen=True, kw_only=True):
    broker_order_no: str
    code: str
    side: Side
    quantity: int
    price: int
    ts_ms: int

    def costs(self) -> FillCosts | None:
        """What the broker booked for this fill; None when it does not say (then the account computes them)."""
        return None


class BrokerOrderStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What the broker knows of one order (reconciliation)."""

    broker_order_no: str
    code: str
    side: Side
    quantity: int
    filled_quantity: int
    average_price: int  # 0 when nothing filled
    cancelled: bool = False
    ordered_ms: int = 0
    price: int = 0  # the limit (0: market)
    original_no: str = ""  # a modify or cancel order: the order it changed (KIS ORGN_ODNO)
    expired: bool = False  # the day ended with a remainder (the paper broker says so; KIS: found after close)


class Holding(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    quantity: int
    average_price: int
    current_price: int
    orderable: int | None = None  # shares not reserved by open sells (KIS ord_psbl_qty); None: quantity
    market: str = ""  # KOSPI | KOSDAQ, as the broker or the simulated market knows it ("" unknown)

    @property
    def sellable(self) -> int:
        return self.quantity if self.orderable is None else self.orderable


class BrokerBalance(msgspec.Struct, frozen=True, kw_only=True):
    """``cash`` is 예수금 (KIS dnca_tot_amt: deposits as settled, D+2 trades not yet netted);
    ``orderable`` is 주문가능금액 (cash less what open buys reserve and what unsettled buys
    will take; KIS inquire-psbl-order ord_psbl_cash); ``d1`` / ``d2`` are the cash after
    tomorrow's and the day after's settlements (nxdy_excc_amt, prvs_rcdl_excc_amt)."""

    cash: int
    holdings: list[Holding]
    orderable: int | None = None  # None: the broker did not say (then cash is used)
    d1: int | None = None
    d2: int | None = None

    @property
    def buying_power(self) -> int:
        return self.cash if self.orderable is None else self.orderable


class Broker(Protocol):
    """One broker account's order and balance API (KIS, or the paper broker)."""

    async def place_order(self, req: OrderRequest) -> OrderAck:
        """Send once. Raises OrderRejected, OutcomeUnknown or BrokerUnavailable."""

    async def orders_today(self) -> list[BrokerOrderStatus]:
        """Every order of the account today with its fills (for reconciliation)."""

    async def orders_on(self, day: str) -> list[BrokerOrderStatus]:
        """Every order of the account on ``day`` (KST YYYYMMDD) with its fills."""

    async def cancel_order(self, req: CancelRequest) -> AmendAck:
        """Cancel the remainder. Raises OrderRejected (e.g. nothing left), OutcomeUnknown, BrokerUnavailable."""

    async def modify_order(self, req: ModifyRequest) -> AmendAck:
        """Change price and/or lower the quantity. Raises like :meth:`cancel_order`."""

    async def balance(self) -> BrokerBalance: ...

    async def close(self) -> None: ...


class FillNotifier(Protocol):
    """A broker that pushes its fills as they happen (KIS: H0STCNI0/H0STCNI9 notices).
    The paper broker has none: its fills come back from ``place_order``'s own path and
    ``orders_today()``."""

    async def subscribe_fills(
        self,
        listener: Callable[[BrokerFill], None],
        *,
        on_status: Callable[[bool, str], None] | None = None,
    ) -> bool:
        """Call ``listener`` (on the loop, must not block: e.g. ``ref.tell``) with each fill
        from now on; ``on_status(live, detail)`` on each change of the notice channel
        (reconcile after a gap: notices are not replayed). True once live. A fill can
        arrive before ``place_order`` returns its ack: match fills by broker order number."""


class NotifyingBroker(Broker, FillNotifier, Protocol):
    """A broker with pushed fills: what a KIS account's factory returns (declared, not probed)."""
