"""What the engine needs from a market-data source and (later) a broker.

A source pushes parsed records into a :class:`MarketDataSink` synchronously
(no awaiting per tick: the sink only enqueues into feed actors' mailboxes).
Sources: ``sim`` (engine.brokers.sim), ``replay`` (engine.brokers.replay),
``kis`` (engine.brokers.kis).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

import msgspec

from engine.market.messages import Bar, Quote, Tick

Channel = Literal["trade", "quote"]
StreamStatus = Literal["live", "reconnecting"]


class MarketDataSink(Protocol):
    def on_tick(self, tick: Tick) -> None: ...

    def on_quote(self, quote: Quote) -> None: ...

    def on_status(self, status: StreamStatus, detail: str) -> None:
        """The upstream connection changed (e.g. dropped and reconnecting, live again)."""


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


# -- orders --------------------------------------------------------------------
#
#   BrokerError
#    ├── OrderRejected     the broker said no: nothing was placed (safe to report, never retry blindly)
#    ├── OutcomeUnknown    sent, answer lost (timeout, HTTP 500 without a verdict): reconcile, never resend
#    └── BrokerUnavailable not sent (connection refused, rate limited before sending): safe to retry


class BrokerError(Exception):
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


class BrokerFill(msgspec.Struct, frozen=True, kw_only=True):
    broker_order_no: str
    code: str
    side: Side
    quantity: int
    price: int
    ts_ms: int


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


class Holding(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    quantity: int
    average_price: int
    current_price: int


class BrokerBalance(msgspec.Struct, frozen=True, kw_only=True):
    cash: int  # KRW available (KIS dnca_tot_amt)
    holdings: list[Holding]


class Broker(Protocol):
    """One broker account's order and balance API (KIS, or the paper broker)."""

    async def place_order(self, req: OrderRequest) -> OrderAck:
        """Send once. Raises OrderRejected, OutcomeUnknown or BrokerUnavailable."""

    async def orders_today(self) -> list[BrokerOrderStatus]:
        """Every order of the account today with its fills (for reconciliation)."""

    async def balance(self) -> BrokerBalance: ...

    async def close(self) -> None: ...


class FillNotifier(Protocol):
    """Optional beside :class:`Broker`: a broker that pushes its fills as they happen
    (KIS: H0STCNI0/H0STCNI9 notices). Without it, fills come from ``orders_today()``."""

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
