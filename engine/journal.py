"""The order journal as the engine sees it: orders, fills, and the store it needs.

Every order is journalled ``pending`` before a broker hears of it, then moved
on by the broker's answers and fills. ``storage`` implements :class:`Journal`
(``storage.SqlJournal``); tests may use any object that speaks it.

Statuses::

    pending ──▶ accepted ──▶ partially_filled ──▶ filled
       │  │         └──────────────┴──────────────▶ cancelled
       │  └──▶ unknown (sent, answer lost) ──▶ any of the above after reconciliation
       └──▶ rejected (the broker said no, or the order never left)
"""

from __future__ import annotations

import hashlib
from typing import Literal, Protocol

import msgspec

Side = Literal["buy", "sell"]
OrderStatus = Literal["pending", "accepted", "partially_filled", "filled", "rejected", "cancelled", "unknown"]
STATUSES: tuple[OrderStatus, ...] = (
    "pending", "accepted", "partially_filled", "filled", "rejected", "cancelled", "unknown",
)
FINAL: frozenset[str] = frozenset({"filled", "rejected", "cancelled"})
OPEN: tuple[OrderStatus, ...] = ("pending", "unknown", "accepted", "partially_filled")


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    quantity: int
    price: int
    commission: int
    tax: int
    realized_pnl: int  # sells: proceeds net of fees minus average price × quantity; buys 0
    ts_ms: int


class Order(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    account_id: int
    client_order_id: str
    fingerprint: str
    source: str
    code: str
    side: Side
    quantity: int
    price: int | None
    status: OrderStatus
    broker_order_no: str | None
    filled_quantity: int
    filled_value: int
    reason: str
    created_ms: int
    updated_ms: int
    fills: list[Fill] = []

    @property
    def average_price(self) -> int:
        return self.filled_value // self.filled_quantity if self.filled_quantity else 0

    @property
    def final(self) -> bool:
        return self.status in FINAL


class NewOrder(msgspec.Struct, frozen=True, kw_only=True):
    account_id: int
    client_order_id: str
    fingerprint: str
    source: str
    code: str
    side: Side
    quantity: int
    price: int | None
    created_ms: int


class RiskOverrides(msgspec.Struct, frozen=True, kw_only=True):
    """An account's row of overrides (None = the setting's default) and its kill switch."""

    halted: bool = False
    halted_reason: str = ""
    max_order_value: int | None = None
    max_position_value: int | None = None
    daily_loss_limit: int | None = None


def fingerprint(code: str, side: str, quantity: int, price: int | None) -> str:
    """What makes two requests with one idempotency key "the same order"."""
    text = f"{code}|{side}|{quantity}|{'market' if price is None else price}"
    return hashlib.sha256(text.encode()).hexdigest()


class Journal(Protocol):
    async def find(self, account_id: int, client_order_id: str) -> Order | None: ...

    async def create(self, new: NewOrder) -> Order:
        """Insert ``pending``; the caller checked the key is free (one writer per account)."""

    async def update(self, order_id: int, *, status: OrderStatus, now_ms: int,
                     broker_order_no: str | None = None, reason: str | None = None) -> Order: ...

    async def add_fill(self, order_id: int, fill: Fill, now_ms: int) -> Order:
        """Record ``fill`` and move the status to partially_filled or filled."""

    async def open_orders(self, account_id: int) -> list[Order]:
        """Orders not final yet (pending, unknown, accepted, partially_filled), oldest first."""

    async def realized_since(self, account_id: int, since_ms: int) -> int:
        """Sum of realised P&L of fills at or after ``since_ms``."""

    async def find_by_broker_no(self, account_id: int, broker_order_no: str) -> Order | None: ...

    async def broker_numbers_since(self, account_id: int, since_ms: int) -> set[str]:
        """Broker order numbers the journal already holds for orders created since ``since_ms``."""

    async def risk(self, account_id: int) -> RiskOverrides: ...
