"""The fees and realised P&L of fills a broker reports without booking them (KIS), for the journal.

The paper broker books each fill itself on the holding's exact cost basis
(:meth:`~engine.brokers.base.BrokerFill.costs`). A KIS fill notice, or a fill
reconciliation finds, says only quantity and price: :class:`FillBooks` adds the
commission, the transaction tax of the trade's date and the code's market, and a
sale's realised P&L in the one definition of :mod:`engine.pnl`

    realised = proceeds − sell commission − tax − basis of the shares sold

on the cost basis of the holding as the account's journalled fills leave it
(:meth:`engine.journal.Journal.cost_basis`), so a notice, a fill found after a
crash and a paper fill book the same figure, and every one counts toward the
daily loss limit. Shares the journal never saw bought (bought elsewhere, or
before this server) are taken at the broker's average price plus the buy
commission it implies; when that is unknown too the sale's P&L is booked as 0
and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from engine.brokers.base import BrokerFill
from engine.journal import Fill, Journal
from engine.pnl import CostBasis, realized_pnl
from engine.risk import Fees

log = logging.getLogger(__name__)

__all__ = ["FillBooks"]


class FillBooks:
    def __init__(self, journal: Journal, fees: Fees, market: Callable[[str], str],
                 average_price: Callable[[str], int]) -> None:
        self.journal = journal
        self.fees = fees
        self.market = market  # code -> KOSPI | KOSDAQ, for the tax
        self.average_price = average_price  # code -> the broker's average price of the holding (0 unknown)

    async def book(self, account_id: int, made: list[BrokerFill]) -> list[Fill]:
        """``made`` (oldest first) as the journal records them; the broker's own booking where it gave one.
        Fills of one code in ``made`` follow each other: each sale takes the basis the previous left."""
        held: dict[str, CostBasis] = {}
        sold = {f.code for f in made if f.side == "sell" and f.costs() is None}  # only a sale needs the basis
        out = []
        for fill in made:
            booked = fill.costs()
            if booked is not None:
                out.append(Fill(quantity=fill.quantity, price=fill.price, commission=booked.commission,
                                tax=booked.tax, realized_pnl=booked.realized_pnl, ts_ms=fill.ts_ms))
                continue
            if fill.code not in held:
                known = fill.code in sold
                held[fill.code] = await self.journal.cost_basis(account_id, fill.code) if known else CostBasis()
            entry, held[fill.code] = self._one(account_id, fill, held[fill.code])
            out.append(entry)
        return out

    def _one(self, account_id: int, fill: BrokerFill, held: CostBasis) -> tuple[Fill, CostBasis]:
        fees, value = self.fees, fill.quantity * fill.price
        commission = fees.commission(value)
        if fill.side == "buy":
            return (Fill(quantity=fill.quantity, price=fill.price, commission=commission, tax=0, realized_pnl=0,
                         ts_ms=fill.ts_ms), held.bought(fill.quantity, value, commission))
        tax = fees.tax("sell", value, fill.ts_ms, self.market(fill.code))
        if held.quantity >= fill.quantity:
            sale = held.sold(fill.quantity, value, commission, tax)
            realized, rest = sale.realized, sale.rest
        else:
            rest = CostBasis()
            unknown = fill.quantity - held.quantity
            average = self.average_price(fill.code)
            if average:
                realized = realized_pnl(value, commission, tax, held.total + fees.buy_cost(unknown * average))
            else:
                log.warning("account %d: the cost of %d of the %d %s shares sold is unknown; their sale's "
                            "realised P&L is booked as 0", account_id, unknown, fill.quantity, fill.code)
                realized = 0
        return (Fill(quantity=fill.quantity, price=fill.price, commission=commission, tax=tax,
                     realized_pnl=realized, ts_ms=fill.ts_ms), rest)
