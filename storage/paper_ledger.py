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

import msgspec
from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.brokers.base import OrderRequest
from engine.brokers.paper import FillStep, LedgerRefused, MarketWalk, PaperOrder, PaperStatus, Position
from engine.pnl import CostBasis
from storage.db import retry_transaction, transaction, writing
from storage.errors import NotFound
from storage.models import Account as AccountRow
from storage.models import PaperOrderRow, PositionRow
from storage.prepared import Prepared


_ACCOUNTS = AccountRow.__table__
_PAPER = PaperOrderRow.__table__
_POSITIONS = PositionRow.__table__
_PAPER_COLUMNS = ("account_id", "code", "side", "quantity", "price", "filled_quantity", "filled_value",
                  "status", "reason", "accepted_ms")
_INSERT_PAPER = Prepared(insert(_PAPER).values({c: bindparam(c) for c in _PAPER_COLUMNS}))
# The account, the paper order and the position a fill moves, in one locking read (one round trip).
_FILL_ROWS = Prepared(
    select(_ACCOUNTS.c.cash_balance, _PAPER.c.code, _PAPER.c.side, _PAPER.c.quantity,
           _PAPER.c.filled_quantity, _PAPER.c.status,
           _POSITIONS.c.quantity, _POSITIONS.c.average_price, _POSITIONS.c.cost_basis)
    .select_from(_ACCOUNTS)
    .join(_PAPER, _PAPER.c.account_id == _ACCOUNTS.c.id)
    .outerjoin(_POSITIONS, (_POSITIONS.c.account_id == _ACCOUNTS.c.id) & (_POSITIONS.c.code == _PAPER.c.code))
    .where(_ACCOUNTS.c.id == bindparam("account_id"), _PAPER.c.id == bindparam("order_id"))
    .with_for_update()
)
_AT = (_POSITIONS.c.account_id == bindparam("account_id")) & (_POSITIONS.c.code == bindparam("code"))
_NEW_POSITION = Prepared(insert(_POSITIONS).values(
    {c: bindparam(c) for c in ("account_id", "code", "quantity", "average_price", "cost_basis")}))
_MOVE_POSITION = Prepared(update(_POSITIONS).where(_AT).values(
    quantity=bindparam("v_quantity"), average_price=bindparam("v_average_price"),
    cost_basis=bindparam("v_cost_basis")))
_DROP_POSITION = Prepared(delete(_POSITIONS).where(_AT))
_SET_CASH = Prepared(update(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("account_id"))
                     .values(cash_balance=bindparam("v_cash")))
_FILL_ORDER = Prepared(update(_PAPER).where(_PAPER.c.id == bindparam("order_id")).values(
    filled_quantity=_PAPER.c.filled_quantity + bindparam("v_quantity"),
    filled_value=_PAPER.c.filled_value + bindparam("v_value"), status=bindparam("v_status")))
_CANCEL_ORDER = Prepared(update(_PAPER).where(_PAPER.c.id == bindparam("order_id")).values(
    status=bindparam("v_status"), reason=bindparam("v_reason")))


class SqlPaperLedger:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self.sessions = sessions

    async def open_order(self, account_id: int, req: OrderRequest, accepted_ms: int) -> PaperOrder:
        return await transaction(self.sessions, lambda conn: _open_in(conn, account_id, req, accepted_ms))

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

    async def fill(self, account_id: int, order_no: str, quantity: int, price: int, commission: int,
                   tax: int) -> int:
        step = FillStep(quantity=quantity, price=price, commission=commission, tax=tax)
        outcome = await transaction(self.sessions, lambda conn: _fill_in(conn, account_id, order_no, step))
        if isinstance(outcome, str):
            raise LedgerRefused(outcome)
        return outcome

    async def open_filled(self, account_id: int,
                          walks: list[MarketWalk]) -> list[tuple[PaperOrder, list[int], str]]:
        """Open each walk's order and apply its fills (a market order's walk of the book as it stands
        at acceptance), in order, in one transaction. A fill the cash or shares cannot cover, and every
        one after it, is not applied: the order is cancelled with that reason; else a remainder is
        cancelled with ``rest_reason``. For each: the order as it ends, the realised P&L of the fills
        applied, and the reason its remainder was cancelled ("" when it filled whole)."""
        return await transaction(self.sessions, lambda conn: [_open_filled_in(conn, account_id, w)
                                                              for w in walks])

    @retry_transaction
    async def cancel(self, account_id: int, order_no: str, reason: str,
                     status: Literal["cancelled", "expired"] = "cancelled") -> PaperOrder:
        async with writing(self.sessions), self.sessions.begin() as session:
            order = await _order_row(session, account_id, order_no)
            if order.status == "open":
                order.status = status
                order.reason = reason[:255]
            return _order(order)

    @retry_transaction
    async def modify(self, account_id: int, order_no: str, *, price: int, quantity: int) -> PaperOrder:
        async with writing(self.sessions), self.sessions.begin() as session:
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


def _open_filled_in(conn: Connection, account_id: int, walk: MarketWalk) -> tuple[PaperOrder, list[int], str]:
    """One walk of :meth:`SqlPaperLedger.open_filled`: the order opened, its fills, its remainder closed."""
    opened = _open_in(conn, account_id, walk.req, walk.accepted_ms)
    realized: list[int] = []
    filled = value = 0
    cancelled = ""
    for step in walk.steps:
        outcome = _fill_in(conn, account_id, opened.order_no, step)
        if isinstance(outcome, str):
            cancelled = outcome
            break
        realized.append(outcome)
        filled += step.quantity
        value += step.quantity * step.price
    if filled < walk.req.quantity and not cancelled:
        cancelled = walk.rest_reason
    status: PaperStatus = "filled" if filled >= walk.req.quantity else "cancelled"
    if cancelled:
        _CANCEL_ORDER.execute(conn, dict(order_id=int(opened.order_no), v_status="cancelled",
                                         v_reason=cancelled[:255]))
    return (msgspec.structs.replace(opened, filled_quantity=filled, filled_value=value, status=status,
                                    reason=cancelled[:255]), realized, cancelled)


def _open_in(conn: Connection, account_id: int, req: OrderRequest, accepted_ms: int) -> PaperOrder:
    """One INSERT of an open paper order."""
    order_no = _INSERT_PAPER.insert(conn, dict(
        account_id=account_id, code=req.code, side=req.side, quantity=req.quantity, price=req.price,
        filled_quantity=0, filled_value=0, status="open", reason="", accepted_ms=accepted_ms))
    return PaperOrder(order_no=str(order_no), code=req.code, side=req.side, quantity=req.quantity,
                      price=req.price, filled_quantity=0, filled_value=0, status="open",
                      accepted_ms=accepted_ms, reason="")


def _fill_in(conn: Connection, account_id: int, order_no: str, step: FillStep) -> int | str:
    """Apply one fill inside ``conn``'s transaction: the order, the cash and the position move
    together. Returns its realised P&L, or why it cannot be applied (then nothing was written).

    One locking read of the account, the order and the position (``FOR UPDATE`` on MariaDB;
    SQLite's writer holds the file), then one UPDATE or INSERT per row it moves."""
    row = None
    if order_no.isdigit():
        row = _FILL_ROWS.one(conn, dict(account_id=account_id, order_id=int(order_no)))
    if row is None:
        if conn.execute(select(_ACCOUNTS.c.id).where(_ACCOUNTS.c.id == account_id)).first() is None:
            raise NotFound("no such account")
        raise NotFound(f"no paper order {order_no}")
    cash, code, side, quantity, filled_quantity, status, held, average, basis = row
    qty, price = step.quantity, step.price
    if status != "open" or qty > quantity - filled_quantity:
        return f"paper order {order_no} has no {qty} shares left to fill"
    value = qty * price
    realized = 0
    at = dict(account_id=account_id, code=code)
    if side == "buy":
        cost = value + step.commission
        if cost > cash:
            return f"cash {cash} KRW is short of {cost} KRW at fill price {price}"
        cash -= cost
        if held is None:
            _NEW_POSITION.execute(conn, dict(at, quantity=qty, average_price=price, cost_basis=cost))
        else:
            total = held + qty
            average = (held * average + value) // total
            _MOVE_POSITION.execute(conn, dict(at, v_quantity=total, v_average_price=average,
                                              v_cost_basis=basis + cost))
    else:
        if held is None or qty > held:
            return f"selling {qty} shares of {code} but {held or 0} are held"
        sale = CostBasis(quantity=held, total=basis).sold(qty, value, step.commission, step.tax)
        realized = sale.realized
        cash += value - step.commission - step.tax
        if sale.rest.quantity == 0:
            _DROP_POSITION.execute(conn, at)
        else:
            _MOVE_POSITION.execute(conn, dict(at, v_quantity=sale.rest.quantity, v_average_price=average,
                                              v_cost_basis=sale.rest.total))
    _SET_CASH.execute(conn, dict(account_id=account_id, v_cash=cash))
    _FILL_ORDER.execute(conn, dict(order_id=int(order_no), v_quantity=qty, v_value=value,
                                   v_status="filled" if filled_quantity + qty >= quantity else "open"))
    return realized


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
