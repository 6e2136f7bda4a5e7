"""The order journal as the engine sees it: orders, fills, and the store it needs.

Every order is journalled ``pending`` before a broker hears of it, then moved
on by the broker's answers and fills. ``storage`` implements :class:`Journal`
(``storage.SqlJournal``); tests may use any object that speaks it.

Statuses::

    pending ──▶ accepted ──▶ partially_filled ──▶ filled
       │  │         └──────────────┴──────────────▶ cancelled (by the user, a swing's stop, the broker)
       │  │         └──────────────┴──────────────▶ expired (a day order's remainder at the close)
       │  └──▶ unknown (sent, answer lost) ──▶ any of the above after reconciliation
       └──▶ rejected (the broker said no, or the order never left)

A cancel or a modify of an open order is journalled on the order first
(``action`` = ``cancel`` / ``modify`` with the new price and quantity), then
sent; the broker's answer applies it and clears ``action``. An order whose
``action`` is set after a crash is settled by reconciliation.
"""

from __future__ import annotations

import hashlib
from typing import Literal, Protocol

import msgspec

from engine.pnl import CostBasis

Side = Literal["buy", "sell"]
OrderStatus = Literal["pending", "accepted", "partially_filled", "filled", "rejected", "cancelled", "unknown",
                      "expired"]
STATUSES: tuple[OrderStatus, ...] = (
    "pending", "accepted", "partially_filled", "filled", "rejected", "cancelled", "unknown", "expired",
)
FINAL: frozenset[str] = frozenset({"filled", "rejected", "cancelled", "expired"})
Action = Literal["", "cancel", "modify"]
OPEN: tuple[OrderStatus, ...] = ("pending", "unknown", "accepted", "partially_filled")


class KeyTaken(Exception):
    """``create`` found the account's idempotency key already used (the unique constraint said so)."""


class Fill(msgspec.Struct, frozen=True, kw_only=True):
    quantity: int
    price: int
    commission: int
    tax: int
    realized_pnl: int  # sells: proceeds − commission − tax − the shares' cost basis (engine.pnl); buys 0
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
    action: Action = ""  # a cancel or modify sent (or about to be) and not confirmed yet
    action_price: int | None = None
    action_quantity: int | None = None

    @property
    def open_quantity(self) -> int:
        """Shares still to fill while the order is open (0 once final)."""
        return 0 if self.final else self.quantity - self.filled_quantity

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
    halted_by: str = ""  # "owner" or "admin" while halted: an owner may not resume an admin's halt
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
        """Insert ``pending``; :class:`KeyTaken` when the account's key is used already."""

    async def update(self, order_id: int, *, status: OrderStatus, now_ms: int,
                     broker_order_no: str | None = None, reason: str | None = None) -> Order: ...

    async def accept(self, order_id: int, *, broker_order_no: str, fills: list[Fill], now_ms: int) -> Order:
        """The broker took the order (its number) with the fills it already made: one transaction."""

    async def get(self, account_id: int, order_id: int) -> Order | None:
        """The account's order ``order_id`` with its fills, or None."""

    async def set_action(self, order_id: int, action: Action, now_ms: int, *, price: int | None = None,
                         quantity: int | None = None) -> Order:
        """Journal (or clear, with ``""``) the cancel / modify about to be sent."""

    async def amend(self, order_id: int, *, price: int | None, quantity: int, broker_order_no: str | None,
                    now_ms: int) -> Order:
        """A modify the broker confirmed: the new price and total quantity; clears ``action``."""

    async def add_fill(self, order_id: int, fill: Fill, now_ms: int) -> Order:
        """Record ``fill`` and move the status to partially_filled or filled (a cancelled or expired
        order keeps its status unless the fill completes it: a fill the broker made before the cancel)."""

    async def open_orders(self, account_id: int) -> list[Order]:
        """Orders not final yet (pending, unknown, accepted, partially_filled), oldest first."""

    async def realized_since(self, account_id: int, since_ms: int) -> int:
        """Sum of realised P&L of fills at or after ``since_ms``."""

    async def cost_basis(self, account_id: int, code: str) -> CostBasis:
        """The holding of ``code`` the account's journalled fills leave (engine.pnl), oldest first."""

    async def find_by_broker_no(self, account_id: int, broker_order_no: str) -> Order | None: ...

    async def broker_numbers_since(self, account_id: int, since_ms: int) -> set[str]:
        """Broker order numbers the journal already holds for orders created since ``since_ms``."""

    async def risk(self, account_id: int) -> RiskOverrides: ...
