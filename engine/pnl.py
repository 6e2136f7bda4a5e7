"""Realised P&L: the one definition used by the paper ledger, the swing, the daily loss limit and the backtest.

A holding keeps its exact **cost basis**: the integer-won total its buys took
from the cash, commission included (Σ quantity × price + buy commission), never
a rounded average price. A sale's realised P&L is the cash round trip of the
shares it sold::

    realised = proceeds − sell commission − sell tax − basis taken

A sale of part of a holding takes the basis in proportion, rounded down, and the
sale of the last share takes whatever is left::

    basis taken = basis × sold // held      (sold < held)
    basis taken = basis                     (sold = held)

so no won is lost or made by rounding: whatever the sales, the bases they take
sum to what the buys cost, and their realised P&L sums to the round trip's
Σ(proceeds − commission − tax) − Σ(value + commission) exactly.

Example (the one issue 11 cites): buy 10 at 50,000 with 0.015 % commission
(500,000 + 75 = 500,075 basis), sell 10 at 51,000 in 2026 (KOSPI: 0.05 % tax
255 + 0.15 % rural tax 765, commission 76): 510,000 − 76 − 1,020 − 500,075 =
+8,829, not the +10,000 of (51,000 − 50,000) × 10.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec

__all__ = ["CostBasis", "Sale", "realized_pnl"]

Side = Literal["buy", "sell"]


def realized_pnl(value: int, commission: int, tax: int, basis: int) -> int:
    """The cash round trip of a sale of ``value`` KRW whose shares cost ``basis`` KRW (fees in)."""
    return value - commission - tax - basis


class Sale(msgspec.Struct, frozen=True, kw_only=True):
    """What one sale took from a holding's basis, and its realised P&L."""

    basis: int  # KRW of the holding's cost basis the sold shares take
    realized: int  # proceeds − commission − tax − basis
    rest: CostBasis  # the holding after the sale


class CostBasis(msgspec.Struct, frozen=True, kw_only=True):
    """Shares held and the exact KRW they cost, buy commission included."""

    quantity: int = 0
    total: int = 0

    def bought(self, quantity: int, value: int, commission: int) -> CostBasis:
        """The holding after a buy of ``quantity`` shares for ``value`` KRW plus ``commission``."""
        return CostBasis(quantity=self.quantity + quantity, total=self.total + value + commission)

    def taken(self, quantity: int) -> int:
        """The basis ``quantity`` sold shares take: proportional, rounded down; the last share the rest."""
        if quantity <= 0:
            return 0
        if quantity > self.quantity:
            raise ValueError(f"selling {quantity} shares of a holding of {self.quantity}")
        if quantity == self.quantity:
            return self.total
        return self.total * quantity // self.quantity

    def sold(self, quantity: int, value: int, commission: int, tax: int) -> Sale:
        """A sale of ``quantity`` shares for ``value`` KRW, paying ``commission`` and ``tax``."""
        basis = self.taken(quantity)
        rest = CostBasis(quantity=self.quantity - quantity, total=self.total - basis)
        return Sale(basis=basis, realized=realized_pnl(value, commission, tax, basis), rest=rest)

    @classmethod
    def of_fills(cls, fills: Iterable[tuple[Side, int, int, int]]) -> CostBasis:
        """The holding a sequence of fills ``(side, quantity, value, commission)`` leaves, oldest first
        (what a journal of them knows). A sale of more shares than the fills bought (shares that
        came from elsewhere) takes the whole basis known and leaves nothing known."""
        held = cls()
        for side, quantity, value, commission in fills:
            if side == "buy":
                held = held.bought(quantity, value, commission)
            else:
                held = held.sold(min(quantity, held.quantity), value, commission, 0).rest
        return held
