"""The paper broker's book and ledger: ``paper_orders``, ``positions``, ``accounts.cash_balance``.

:class:`SqlPaperLedger` implements :class:`engine.brokers.paper.PaperLedger`;
each call is one committed transaction. A fill locks the account row
(``SELECT ... FOR UPDATE`` on MariaDB; SQLite serialises writers) and moves
the order, the cash and the position together, or nothing at all.

A position keeps its exact cost basis (``cost_basis``: the KRW its buys cost,
commission included) and, for display, the average price as brokers report it
(``floor((qty × avg + fill qty × price) / new qty)``, fees excluded; a sell
leaves it). Realised P&L of a sell is the one definition of :mod:`engine.pnl`:
``value − commission − tax − basis taken``, the basis taken in proportion
(rounded down; the last share takes the rest), so a round trip's sales sum to
its cash exactly.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.brokers.base import OrderRequest
from engine.brokers.paper import LedgerRefused, PaperOrder, Position
from engine.pnl import CostBasis
from storage.db import retry_transaction
from storage.errors import NotFound
from storage.models import Account as AccountRow
from storage.models import PaperOrderRow, PositionRow


class SqlPaperLedger:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self.sessions = sessions

    @retry_transaction
    async def open_order(self, account_id: int, req: OrderRequest, accepted_ms: int) -> PaperOrder:
        async with self.sessions.begin() as session:
            row = PaperOrderRow(account_id=account_id, code=req.code, side=req.side, quantity=req.quantity,
                                price=req.price, filled_quantity=0, filled_value=0, status="open", reason="",
                                accepted_ms=accepted_ms)
            session.add(row)
            await session.flush()
            return _order(row)

    async def orders(self, account_id: int, *, since_ms: int = 0, until_ms: int | None = None,
                     open_only: bool = False) -> list[PaperOrder]:
        query = select(PaperOrderRow).where(PaperOrderRow.account_id == account_id,
                                            PaperOrderRow.accepted_ms >= since_ms)
        if until_ms is not None:
            query = query.where(PaperOrderRow.accepted_ms < until_ms)
        if open_only:
            query = query.where(PaperOrderRow.status == "open")
        async with self.sessions() as session:
            return [_order(r) for r in await session.scalars(query.order_by(PaperOrderRow.id))]

    @retry_transaction
    async def fill(self, account_id: int, order_no: str, quantity: int, price: int, commission: int,
                   tax: int) -> int:
        async with self.sessions.begin() as session:
            account = await _locked_account(session, account_id)
            order = await _order_row(session, account_id, order_no)
            if order.status != "open" or quantity > order.quantity - order.filled_quantity:
                raise LedgerRefused(f"paper order {order_no} has no {quantity} shares left to fill")
            position = await session.get(PositionRow, (account_id, order.code), with_for_update=True)
            value = quantity * price
            realized = 0
            if order.side == "buy":
                cost = value + commission
                if cost > account.cash_balance:
                    raise LedgerRefused(
                        f"cash {account.cash_balance} KRW is short of {cost} KRW at fill price {price}")
                account.cash_balance -= cost
                if position is None:
                    session.add(PositionRow(account_id=account_id, code=order.code, quantity=quantity,
                                            average_price=price, cost_basis=cost))
                else:
                    total = position.quantity + quantity
                    position.average_price = (position.quantity * position.average_price + value) // total
                    position.quantity = total
                    position.cost_basis += cost
            else:
                held = position.quantity if position is not None else 0
                if position is None or quantity > held:
                    raise LedgerRefused(f"selling {quantity} shares of {order.code} but {held} are held")
                sale = CostBasis(quantity=held, total=position.cost_basis).sold(quantity, value, commission, tax)
                realized = sale.realized
                account.cash_balance += value - commission - tax
                position.quantity, position.cost_basis = sale.rest.quantity, sale.rest.total
                if position.quantity == 0:
                    await session.delete(position)
            order.filled_quantity += quantity
            order.filled_value += value
            if order.filled_quantity >= order.quantity:
                order.status = "filled"
            return realized

    @retry_transaction
    async def cancel(self, account_id: int, order_no: str, reason: str,
                     status: Literal["cancelled", "expired"] = "cancelled") -> PaperOrder:
        async with self.sessions.begin() as session:
            order = await _order_row(session, account_id, order_no)
            if order.status == "open":
                order.status = status
                order.reason = reason[:255]
            return _order(order)

    @retry_transaction
    async def modify(self, account_id: int, order_no: str, *, price: int, quantity: int) -> PaperOrder:
        async with self.sessions.begin() as session:
            order = await _order_row(session, account_id, order_no)
            if order.status != "open" or quantity <= order.filled_quantity:
                raise LedgerRefused(f"paper order {order_no} is {order.status} with {order.filled_quantity} "
                                    f"filled: cannot become {quantity} shares")
            order.price, order.quantity = price, quantity
            return _order(order)

    async def cash_and_positions(self, account_id: int) -> tuple[int, list[Position]]:
        async with self.sessions() as session:
            cash = await session.scalar(select(AccountRow.cash_balance).where(AccountRow.id == account_id))
            if cash is None:
                raise NotFound("no such account")
            rows = await session.scalars(
                select(PositionRow).where(PositionRow.account_id == account_id).order_by(PositionRow.code))
            return cash, [Position(code=r.code, quantity=r.quantity, average_price=r.average_price,
                                   cost_basis=r.cost_basis) for r in rows]


async def _locked_account(session: AsyncSession, account_id: int) -> AccountRow:
    row = await session.scalar(select(AccountRow).where(AccountRow.id == account_id).with_for_update())
    if row is None:
        raise NotFound("no such account")
    return row


async def _order_row(session: AsyncSession, account_id: int, order_no: str) -> PaperOrderRow:
    row = await session.get(PaperOrderRow, int(order_no)) if order_no.isdigit() else None
    if row is None or row.account_id != account_id:
        raise NotFound(f"no paper order {order_no}")
    return row


def _order(row: PaperOrderRow) -> PaperOrder:
    return PaperOrder(order_no=str(row.id), code=row.code, side=row.side,  # type: ignore[arg-type]
                      quantity=row.quantity, price=row.price, filled_quantity=row.filled_quantity,
                      filled_value=row.filled_value, status=row.status,  # type: ignore[arg-type]
                      accepted_ms=row.accepted_ms, reason=row.reason)
