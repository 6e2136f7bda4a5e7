"""The order journal (``orders``, ``fills``) and the per-account risk row (``account_risk``).

:class:`OrderRepo` works inside the caller's session like every repository;
:class:`SqlJournal` is the engine's :class:`~engine.journal.Journal` on a
session factory (each call its own transaction, committed before it returns,
so what the account actor journalled survives a crash right after).

User-facing reads (:meth:`OrderRepo.list_for_user`, :meth:`OrderRepo.get_for_user`)
are scoped to the caller through the account's owner.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import msgspec
from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.cluster.fencing import Fence
from engine.pnl import CostBasis
from engine.journal import OPEN, Action, Fill, KeyTaken, NewOrder, Order, OrderStatus, RiskOverrides
from storage.db import is_unique_violation, retry_transaction, transaction, writing
from storage.fences import check as check_fence
from storage.fences import check_token
from storage.errors import NotFound
from storage.models import AccountRiskRow, FillRow, OrderRow
from storage.prepared import Prepared
from storage.models import Account as AccountRow

MAX_LIST = 500
_ORDERS = OrderRow.__table__
_FILLS = FillRow.__table__


class OrderRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, new: NewOrder) -> Order:
        """One INSERT (Core: the hot path takes no unit of work); the order as journalled."""
        values = dict(
            account_id=new.account_id, client_order_id=new.client_order_id, fingerprint=new.fingerprint,
            source=new.source, code=new.code, side=new.side, quantity=new.quantity, price=new.price,
            status="pending", broker_order_no=None, filled_quantity=0, filled_value=0, reason="",
            created_ms=new.created_ms, updated_ms=new.created_ms, action="",
        )
        result = await self.session.execute(insert(_ORDERS).values(**values))
        return Order(id=result.inserted_primary_key[0], **values, fills=[])  # type: ignore[arg-type]

    async def find(self, account_id: int, client_order_id: str) -> Order | None:
        row = await self.session.scalar(select(OrderRow).where(
            OrderRow.account_id == account_id, OrderRow.client_order_id == client_order_id))
        return None if row is None else await self._with_fills(row)

    async def update(self, order_id: int, *, status: OrderStatus, now_ms: int,
                     broker_order_no: str | None = None, reason: str | None = None) -> Order:
        row = await self._row(order_id)
        row.status = status
        row.updated_ms = now_ms
        if broker_order_no is not None:
            row.broker_order_no = broker_order_no
        if reason is not None:
            row.reason = reason[:255]
        await self.session.flush()
        return await self._with_fills(row)

    async def add_fill(self, order_id: int, fill: Fill, now_ms: int) -> Order:
        row = await self._row(order_id)
        self.session.add(FillRow(
            order_id=row.id, account_id=row.account_id, quantity=fill.quantity, price=fill.price,
            commission=fill.commission, tax=fill.tax, realized_pnl=fill.realized_pnl, ts_ms=fill.ts_ms,
        ))
        row.filled_quantity += fill.quantity
        row.filled_value += fill.quantity * fill.price
        if row.filled_quantity >= row.quantity:
            row.status = "filled"
        elif row.status not in ("cancelled", "expired"):
            row.status = "partially_filled"
        row.updated_ms = now_ms
        await self.session.flush()
        return await self._with_fills(row)

    async def get(self, account_id: int, order_id: int) -> Order | None:
        row = await self.session.get(OrderRow, order_id)
        return None if row is None or row.account_id != account_id else await self._with_fills(row)

    async def set_action(self, order_id: int, action: Action, now_ms: int, *, price: int | None = None,
                         quantity: int | None = None) -> Order:
        row = await self._row(order_id)
        row.action, row.action_price, row.action_quantity = action, price, quantity
        row.action_ms = now_ms if action else None
        row.updated_ms = now_ms
        await self.session.flush()
        return await self._with_fills(row)

    async def amend(self, order_id: int, *, price: int | None, quantity: int, broker_order_no: str | None,
                    now_ms: int) -> Order:
        row = await self._row(order_id)
        row.price, row.quantity = price, quantity
        if broker_order_no is not None:
            row.broker_order_no = broker_order_no
        row.action, row.action_price, row.action_quantity, row.action_ms = "", None, None, None
        if row.filled_quantity >= row.quantity:
            row.status = "filled"
        row.updated_ms = now_ms
        await self.session.flush()
        return await self._with_fills(row)

    async def open_orders(self, account_id: int) -> list[Order]:
        rows = list(await self.session.scalars(select(OrderRow).where(
            OrderRow.account_id == account_id, OrderRow.status.in_(OPEN)).order_by(OrderRow.id)))
        return await self._many(rows)

    async def find_by_broker_no(self, account_id: int, broker_order_no: str) -> Order | None:
        row = await self.session.scalar(select(OrderRow).where(
            OrderRow.account_id == account_id, OrderRow.broker_order_no == broker_order_no)
            .order_by(OrderRow.id.desc()).limit(1))
        return None if row is None else await self._with_fills(row)

    async def broker_numbers_since(self, account_id: int, since_ms: int) -> set[str]:
        rows = await self.session.scalars(select(OrderRow.broker_order_no).where(
            OrderRow.account_id == account_id, OrderRow.created_ms >= since_ms,
            OrderRow.broker_order_no.is_not(None)))
        return {r for r in rows if r}

    async def accounts_with_open_orders(self) -> list[int]:
        rows = await self.session.scalars(
            select(OrderRow.account_id).where(OrderRow.status.in_(OPEN)).distinct())
        return sorted(rows)

    async def realized_since(self, account_id: int, since_ms: int) -> int:
        total = await self.session.scalar(select(func.coalesce(func.sum(FillRow.realized_pnl), 0)).where(
            FillRow.account_id == account_id, FillRow.ts_ms >= since_ms))
        return int(total or 0)

    async def cost_basis(self, account_id: int, code: str) -> CostBasis:
        rows = await self.session.execute(
            select(OrderRow.side, FillRow.quantity, FillRow.price, FillRow.commission)
            .join(OrderRow, OrderRow.id == FillRow.order_id)
            .where(FillRow.account_id == account_id, OrderRow.code == code)
            .order_by(FillRow.ts_ms, FillRow.id))
        return CostBasis.of_fills((side, qty, qty * price, commission) for side, qty, price, commission in rows)

    async def get_for_user(self, user_id: int, order_id: int) -> Order | None:
        row = await self.session.scalar(
            select(OrderRow).join(AccountRow, AccountRow.id == OrderRow.account_id)
            .where(OrderRow.id == order_id, AccountRow.user_id == user_id))
        return None if row is None else await self._with_fills(row)

    async def list_for_user(self, user_id: int, *, account_id: int | None = None, code: str | None = None,
                            status: str | None = None, limit: int = MAX_LIST) -> list[Order]:
        """The user's orders, newest first, optionally of one account, code or status."""
        query = (select(_ORDERS).join(AccountRow, AccountRow.id == _ORDERS.c.account_id)
                 .where(AccountRow.user_id == user_id))
        if account_id is not None:
            query = query.where(_ORDERS.c.account_id == account_id)
        if code is not None:
            query = query.where(_ORDERS.c.code == code)
        if status is not None:
            query = query.where(_ORDERS.c.status == status)
        query = query.order_by(_ORDERS.c.id.desc()).limit(min(limit, MAX_LIST))
        rows = [r._mapping for r in await self.session.execute(query)]  # Core rows: no ORM objects to build
        if not rows:
            return []
        by_order: dict[int, list[Fill]] = defaultdict(list)
        fills = await self.session.execute(
            select(_FILLS).where(_FILLS.c.order_id.in_([r["id"] for r in rows])).order_by(_FILLS.c.id))
        for f in fills:
            by_order[f.order_id].append(Fill(quantity=f.quantity, price=f.price, commission=f.commission,
                                             tax=f.tax, realized_pnl=f.realized_pnl, ts_ms=f.ts_ms))
        return [_order_of(r, by_order.get(r["id"], [])) for r in rows]

    # -- risk ----------------------------------------------------------------------

    async def risk(self, account_id: int, *, for_update: bool = False) -> RiskOverrides:
        """The account's overrides; ``for_update`` locks the row (MariaDB) for a check-then-change."""
        row = await self.session.get(AccountRiskRow, account_id, with_for_update=for_update or None)
        if row is None:
            return RiskOverrides()
        return RiskOverrides(halted=row.halted, halted_reason=row.halted_reason, halted_by=row.halted_by,
                             max_order_value=row.max_order_value, max_position_value=row.max_position_value,
                             daily_loss_limit=row.daily_loss_limit)

    async def set_risk(self, account_id: int, overrides: RiskOverrides) -> RiskOverrides:
        row = await self.session.get(AccountRiskRow, account_id)
        if row is None:
            row = AccountRiskRow(account_id=account_id)
            self.session.add(row)
        row.halted = overrides.halted
        row.halted_reason = overrides.halted_reason[:255]
        row.halted_by = overrides.halted_by if overrides.halted else ""
        row.max_order_value = overrides.max_order_value
        row.max_position_value = overrides.max_position_value
        row.daily_loss_limit = overrides.daily_loss_limit
        await self.session.flush()
        return overrides

    # -- helpers -------------------------------------------------------------------

    async def _row(self, order_id: int) -> OrderRow:
        row = await self.session.get(OrderRow, order_id)
        if row is None:
            raise NotFound("no such order")
        return row

    async def _with_fills(self, row: OrderRow | Order) -> Order:
        fills = [_fill(f) for f in await self.session.scalars(
            select(FillRow).where(FillRow.order_id == row.id).order_by(FillRow.id))]
        if isinstance(row, Order):
            return msgspec.structs.replace(row, fills=fills)
        return _order(row, fills)

    async def _many(self, rows: list[OrderRow]) -> list[Order]:
        if not rows:
            return []
        by_order: dict[int, list[Fill]] = defaultdict(list)
        fills = await self.session.scalars(
            select(FillRow).where(FillRow.order_id.in_([r.id for r in rows])).order_by(FillRow.id))
        for f in fills:
            by_order[f.order_id].append(_fill(f))
        return [_order(r, by_order.get(r.id, [])) for r in rows]


class SqlJournal:
    """:class:`engine.journal.Journal` on a session factory: one committed transaction per call."""

    def __init__(self, sessions: async_sessionmaker, fence: Fence | None = None) -> None:
        self.sessions = sessions
        self.fence = fence  # cluster mode: every write checks the account's lease token (storage.fences)

    async def _fenced(self, session: AsyncSession, account_id: int | None = None, order_id: int | None = None) -> None:
        if self.fence is None:
            return
        if account_id is None:
            account_id = await session.scalar(select(OrderRow.account_id).where(OrderRow.id == order_id))
            if account_id is None:
                raise NotFound("no such order")
        await check_fence(session, self.fence, account_id)

    def _token(self, account_id: int) -> tuple[Fence, int | None] | None:
        """This node's fencing token of the account (read on the loop), for a write's check."""
        return None if self.fence is None else (self.fence, self.fence.token(account_id))

    async def find(self, account_id: int, client_order_id: str) -> Order | None:
        async with self.sessions() as session:
            return await OrderRepo(session).find(account_id, client_order_id)

    async def create(self, new: NewOrder) -> Order:
        token = self._token(new.account_id)
        try:
            return await transaction(self.sessions, lambda conn: _create_in(conn, new, token))
        except IntegrityError as error:
            if is_unique_violation(error):
                raise KeyTaken(new.client_order_id) from None
            raise

    @retry_transaction
    async def update(self, order_id: int, *, status: OrderStatus, now_ms: int,
                     broker_order_no: str | None = None, reason: str | None = None) -> Order:
        async with writing(self.sessions), self.sessions.begin() as session:
            await self._fenced(session, order_id=order_id)
            return await OrderRepo(session).update(order_id, status=status, now_ms=now_ms,
                                                   broker_order_no=broker_order_no, reason=reason)

    @retry_transaction
    async def add_fill(self, order_id: int, fill: Fill, now_ms: int) -> Order:
        async with writing(self.sessions), self.sessions.begin() as session:
            await self._fenced(session, order_id=order_id)
            return await OrderRepo(session).add_fill(order_id, fill, now_ms)

    async def accept(self, order_id: int, *, broker_order_no: str, fills: list[Fill], now_ms: int) -> Order:
        return await transaction(self.sessions,
                                 lambda conn: _accept_in(conn, order_id, broker_order_no, fills, now_ms))

    async def get(self, account_id: int, order_id: int) -> Order | None:
        async with self.sessions() as session:
            return await OrderRepo(session).get(account_id, order_id)

    @retry_transaction
    async def set_action(self, order_id: int, action: Action, now_ms: int, *, price: int | None = None,
                         quantity: int | None = None) -> Order:
        async with writing(self.sessions), self.sessions.begin() as session:
            return await OrderRepo(session).set_action(order_id, action, now_ms, price=price, quantity=quantity)

    @retry_transaction
    async def amend(self, order_id: int, *, price: int | None, quantity: int, broker_order_no: str | None,
                    now_ms: int) -> Order:
        async with writing(self.sessions), self.sessions.begin() as session:
            return await OrderRepo(session).amend(order_id, price=price, quantity=quantity,
                                                  broker_order_no=broker_order_no, now_ms=now_ms)

    async def open_orders(self, account_id: int) -> list[Order]:
        async with self.sessions() as session:
            return await OrderRepo(session).open_orders(account_id)

    async def realized_since(self, account_id: int, since_ms: int) -> int:
        async with self.sessions() as session:
            return await OrderRepo(session).realized_since(account_id, since_ms)

    async def cost_basis(self, account_id: int, code: str) -> CostBasis:
        async with self.sessions() as session:
            return await OrderRepo(session).cost_basis(account_id, code)

    async def find_by_broker_no(self, account_id: int, broker_order_no: str) -> Order | None:
        async with self.sessions() as session:
            return await OrderRepo(session).find_by_broker_no(account_id, broker_order_no)

    async def broker_numbers_since(self, account_id: int, since_ms: int) -> set[str]:
        async with self.sessions() as session:
            return await OrderRepo(session).broker_numbers_since(account_id, since_ms)

    async def risk(self, account_id: int) -> RiskOverrides:
        async with self.sessions() as session:
            return await OrderRepo(session).risk(account_id)


_ORDER_COLUMNS = tuple(c.name for c in _ORDERS.c)
_INSERT_ORDER = Prepared(insert(_ORDERS).values({c: bindparam(c) for c in _ORDER_COLUMNS if c != "id"}))
_ORDER_BY_ID = Prepared(select(*_ORDERS.c).where(_ORDERS.c.id == bindparam("order_id")))
_FILL_COLUMNS = ("order_id", "account_id", "quantity", "price", "commission", "tax", "realized_pnl", "ts_ms")
_INSERT_FILLS = Prepared(insert(_FILLS).values({c: bindparam(c) for c in _FILL_COLUMNS}))
_ACCEPT = Prepared(update(_ORDERS).where(_ORDERS.c.id == bindparam("order_id")).values(
    broker_order_no=bindparam("v_broker_order_no"), status=bindparam("v_status"),
    filled_quantity=bindparam("v_filled_quantity"), filled_value=bindparam("v_filled_value"),
    updated_ms=bindparam("v_updated_ms")))


def _create_in(conn: Connection, new: NewOrder, token: tuple[Fence, int | None] | None) -> Order:
    """One INSERT: the order as journalled ``pending``; in cluster mode after the fence check."""
    if token is not None:
        check_token(conn, token[0], new.account_id, token[1])
    values = dict(
        account_id=new.account_id, client_order_id=new.client_order_id, fingerprint=new.fingerprint,
        source=new.source, code=new.code, side=new.side, quantity=new.quantity, price=new.price,
        status="pending", broker_order_no=None, filled_quantity=0, filled_value=0, reason="",
        created_ms=new.created_ms, updated_ms=new.created_ms, action="", action_price=None,
        action_quantity=None, action_ms=None,
    )
    order_id = _INSERT_ORDER.insert(conn, values)
    del values["action_ms"]
    return Order(id=order_id, **values, fills=[])  # type: ignore[arg-type]


def _accept_in(conn: Connection, order_id: int, broker_order_no: str, fills: list[Fill],
               now_ms: int) -> Order:
    """The broker took the order, with the fills it made already: one SELECT of the row, one
    UPDATE, one INSERT of the fills; the earlier fills read back only if it had some."""
    row = _ORDER_BY_ID.one(conn, {"order_id": order_id})
    if row is None:
        raise NotFound("no such order")
    before = _order_of(dict(zip(_ORDER_COLUMNS, row, strict=True)), [])
    if before.filled_quantity:
        before = msgspec.structs.replace(before, fills=[
            Fill(quantity=f.quantity, price=f.price, commission=f.commission, tax=f.tax,
                 realized_pnl=f.realized_pnl, ts_ms=f.ts_ms)
            for f in conn.execute(select(_FILLS).where(_FILLS.c.order_id == order_id).order_by(_FILLS.c.id))])
    status = before.status
    if status in ("pending", "unknown"):
        status = "accepted"
    filled = before.filled_quantity + sum(f.quantity for f in fills)
    value = before.filled_value + sum(f.quantity * f.price for f in fills)
    if fills:
        status = "filled" if filled >= before.quantity else "partially_filled"
        _INSERT_FILLS.run_many(conn, [
            dict(order_id=order_id, account_id=before.account_id, quantity=f.quantity, price=f.price,
                 commission=f.commission, tax=f.tax, realized_pnl=f.realized_pnl, ts_ms=f.ts_ms)
            for f in fills])
    _ACCEPT.execute(conn, dict(order_id=order_id, v_broker_order_no=broker_order_no, v_status=status,
                               v_filled_quantity=filled, v_filled_value=value, v_updated_ms=now_ms))
    return msgspec.structs.replace(before, broker_order_no=broker_order_no, status=status,
                                   filled_quantity=filled, filled_value=value, updated_ms=now_ms,
                                   fills=[*before.fills, *fills])


def _fill(row: FillRow) -> Fill:
    return Fill(quantity=row.quantity, price=row.price, commission=row.commission, tax=row.tax,
                realized_pnl=row.realized_pnl, ts_ms=row.ts_ms)


def _order_of(row: Any, fills: list[Fill]) -> Order:
    """An order from a Core row's mapping (the columns are named as the ORM's attributes)."""
    return Order(
        id=row["id"], account_id=row["account_id"], client_order_id=row["client_order_id"],
        fingerprint=row["fingerprint"], source=row["source"], code=row["code"], side=row["side"],
        quantity=row["quantity"], price=row["price"], status=row["status"], broker_order_no=row["broker_order_no"],
        filled_quantity=row["filled_quantity"], filled_value=row["filled_value"], reason=row["reason"],
        created_ms=row["created_ms"], updated_ms=row["updated_ms"], fills=fills, action=row["action"] or "",
        action_price=row["action_price"], action_quantity=row["action_quantity"],
    )


def _order(row: OrderRow, fills: list[Fill]) -> Order:
    return Order(
        id=row.id, account_id=row.account_id, client_order_id=row.client_order_id,
            fingerprint=row.fingerprint,
        source=row.source, code=row.code, side=row.side,  # type: ignore[arg-type]  # CHECK constraint
        quantity=row.quantity, price=row.price, status=row.status,  # type: ignore[arg-type]
        broker_order_no=row.broker_order_no, filled_quantity=row.filled_quantity,
            filled_value=row.filled_value,
        reason=row.reason, created_ms=row.created_ms, updated_ms=row.updated_ms, fills=fills,
        action=row.action or "", action_price=row.action_price,  # type: ignore[arg-type]  # written by us
        action_quantity=row.action_quantity,
    )
