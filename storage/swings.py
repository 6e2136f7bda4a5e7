"""Swings and their events: the repository (returns Structs, never rows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import retry_transaction
from storage.models import utc_now
from storage.swing_models import SwingEventRow, SwingRow

LIVE_STATUSES = ("warming_up", "active", "halted")

_json = msgspec.json.Encoder()
_decode = msgspec.json.Decoder()


class Swing(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    user_id: int
    account_id: int
    stock_code: str
    params: dict[str, Any]
    status: str
    signal_state: int  # SIGNAL 0-3
    last_decision: str | None
    shares: int
    avg_cost: int
    stage2_shares: int
    realized_pnl: int
    order_seq: int
    intent_order_id: str | None
    intent_decision: dict[str, Any] | None
    last_bar_ms: int | None
    created_at: datetime
    updated_at: datetime


class SwingEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    swing_id: int
    at: datetime
    kind: str
    bar_start_ms: int | None
    action: str
    signal_before: int
    signal_after: int
    reason: str
    indicators: dict[str, float]
    order_id: str | None


STATE_FIELDS = frozenset({
    "status", "signal_state", "last_decision", "shares", "avg_cost", "stage2_shares", "realized_pnl",
    "order_seq", "intent_order_id", "intent_decision", "last_bar_ms",
})


class SwingRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, *, user_id: int, account_id: int, stock_code: str, params: dict[str, Any],
                     status: str = "warming_up") -> Swing:
        now = utc_now()
        row = SwingRow(user_id=user_id, account_id=account_id, stock_code=stock_code,
                       params=_json.encode(params).decode(), status=status, signal_state=0, shares=0, avg_cost=0,
                       stage2_shares=0, realized_pnl=0, order_seq=0, created_at=now, updated_at=now)
        self.session.add(row)
        await self.session.flush()
        return _swing(row)

    async def get(self, swing_id: int) -> Swing | None:
        row = await self.session.get(SwingRow, swing_id)
        return None if row is None else _swing(row)

    async def get_for_user(self, user_id: int, swing_id: int) -> Swing | None:
        row = await self.session.scalar(
            select(SwingRow).where(SwingRow.id == swing_id, SwingRow.user_id == user_id))
        return None if row is None else _swing(row)

    async def list_for_user(self, user_id: int) -> list[Swing]:
        """The user's swings, most recently updated first."""
        rows = await self.session.scalars(
            select(SwingRow).where(SwingRow.user_id == user_id)
            .order_by(SwingRow.updated_at.desc(), SwingRow.id.desc()))
        return [_swing(r) for r in rows]

    async def list_live(self) -> list[Swing]:
        """Every swing an actor should run for (restored at start-up)."""
        rows = await self.session.scalars(
            select(SwingRow).where(SwingRow.status.in_(LIVE_STATUSES)).order_by(SwingRow.id))
        return [_swing(r) for r in rows]

    async def save(self, swing_id: int, **fields: Any) -> None:
        unknown = set(fields) - STATE_FIELDS
        if unknown:
            raise ValueError(f"not swing state: {sorted(unknown)}")
        if "intent_decision" in fields and fields["intent_decision"] is not None:
            fields["intent_decision"] = _json.encode(fields["intent_decision"]).decode()
        await self.session.execute(
            update(SwingRow).where(SwingRow.id == swing_id).values(**fields, updated_at=utc_now()))

    async def add_event(self, swing_id: int, *, kind: str, action: str = "hold", signal_before: int = 0,
                        signal_after: int = 0, reason: str = "", bar_start_ms: int | None = None,
                        indicators: dict[str, float] | None = None, order_id: str | None = None) -> None:
        clean = {k: v for k, v in (indicators or {}).items() if v == v}  # JSON has no NaN
        self.session.add(SwingEventRow(
            swing_id=swing_id, at=utc_now(), kind=kind, bar_start_ms=bar_start_ms, action=action,
            signal_before=signal_before, signal_after=signal_after, reason=reason[:2000],
            indicators=_json.encode(clean).decode(), order_id=order_id))
        await self.session.flush()

    async def events(self, swing_id: int, *, before_id: int | None = None, limit: int = 50) -> list[SwingEvent]:
        """Newest first; page with ``before_id`` = the last id of the previous page."""
        query = select(SwingEventRow).where(SwingEventRow.swing_id == swing_id)
        if before_id is not None:
            query = query.where(SwingEventRow.id < before_id)
        rows = await self.session.scalars(query.order_by(SwingEventRow.id.desc()).limit(limit))
        return [_event(r) for r in rows]


def _swing(row: SwingRow) -> Swing:
    return Swing(
        id=row.id, user_id=row.user_id, account_id=row.account_id, stock_code=row.stock_code,
        params=_decode.decode(row.params), status=row.status, signal_state=row.signal_state,
        last_decision=row.last_decision, shares=row.shares, avg_cost=row.avg_cost,
        stage2_shares=row.stage2_shares, realized_pnl=row.realized_pnl, order_seq=row.order_seq,
        intent_order_id=row.intent_order_id,
        intent_decision=_decode.decode(row.intent_decision) if row.intent_decision else None,
        last_bar_ms=row.last_bar_ms, created_at=row.created_at, updated_at=row.updated_at)


def _event(row: SwingEventRow) -> SwingEvent:
    return SwingEvent(
        id=row.id, swing_id=row.swing_id, at=row.at, kind=row.kind, bar_start_ms=row.bar_start_ms,
        action=row.action, signal_before=row.signal_before, signal_after=row.signal_after, reason=row.reason,
        indicators=_decode.decode(row.indicators), order_id=row.order_id)


class SqlSwingStore:
    """The SwingActor's store (``actors.swing.SwingStore``): one short transaction per call."""

    def __init__(self, sessions: Any) -> None:
        self.sessions = sessions

    async def load(self, swing_id: int) -> Swing:
        async with self.sessions() as session:
            swing = await SwingRepo(session).get(swing_id)
        if swing is None:
            raise LookupError(f"swing {swing_id} is not in the database")
        return swing

    @retry_transaction
    async def save(self, swing_id: int, events: list[dict[str, Any]] | None = None, **fields: Any) -> None:
        """The new state and the events that explain it, in one transaction."""
        async with self.sessions.begin() as session:
            repo = SwingRepo(session)
            await repo.save(swing_id, **fields)
            for event in events or ():
                await repo.add_event(swing_id, **event)

    @retry_transaction
    async def event(self, swing_id: int, **fields: Any) -> None:
        async with self.sessions.begin() as session:
            await SwingRepo(session).add_event(swing_id, **fields)

    async def live(self) -> list[Swing]:
        async with self.sessions() as session:
            return await SwingRepo(session).list_live()
