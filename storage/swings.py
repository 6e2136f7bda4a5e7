"""Swings and their events: the repository (returns Structs, never rows)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.strategy.swing import Action, SwingParams
from engine.swings import (
    LIVE_STATUSES,
    EventKind,
    Intent,
    NewSwingEvent,
    Swing,
    SwingBooks,
    SwingEvent,
    SwingStatus,
    SwingUpdate,
)
from storage.db import retry_transaction
from storage.models import AccountRiskRow, utc_now
from storage.swing_models import SwingEventRow, SwingRow

_json = msgspec.json.Encoder()
_decode_params = msgspec.json.Decoder(SwingParams)  # the rows' JSON as written before the Struct: same keys
_decode_intent = msgspec.json.Decoder(Intent)
_decode_indicators = msgspec.json.Decoder(dict[str, float])


class SwingRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, *, user_id: int, account_id: int, stock_code: str, params: SwingParams,
                     status: SwingStatus = "warming_up") -> Swing:
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

    async def books(self, account_id: int, code: str) -> SwingBooks:
        """The account's kill switch, and the shares its live swings of ``code`` hold together."""
        risk = await self.session.get(AccountRiskRow, account_id)
        shares, in_flight = (await self.session.execute(
            select(func.coalesce(func.sum(SwingRow.shares), 0), func.count(SwingRow.intent_order_id))
            .where(SwingRow.account_id == account_id, SwingRow.stock_code == code,
                   SwingRow.status.in_(LIVE_STATUSES)))).one()
        return SwingBooks(account_halted=bool(risk is not None and risk.halted),
                          halted_reason=risk.halted_reason if risk is not None and risk.halted else "",
                          swing_shares=int(shares), in_flight=bool(in_flight))

    async def save(self, swing_id: int, state: SwingUpdate) -> None:
        values = msgspec.structs.asdict(state)
        intent = values.pop("intent")
        values["intent_decision"] = None if intent is None else _json.encode(intent).decode()
        await self.session.execute(
            update(SwingRow).where(SwingRow.id == swing_id).values(**values, updated_at=utc_now()))

    async def set_status(self, swing_id: int, status: SwingStatus) -> None:
        await self.session.execute(
            update(SwingRow).where(SwingRow.id == swing_id).values(
                status=status, updated_at=utc_now(), **({} if status == "halted" else {"halted_reason": None})))

    async def add_event(self, swing_id: int, event: NewSwingEvent, at: datetime | None = None) -> None:
        """``at``: when it happened on the engine's clock (market time in a replay); default now."""
        clean = {k: v for k, v in event.indicators.items() if v == v}  # JSON has no NaN
        self.session.add(SwingEventRow(
            swing_id=swing_id, at=at or utc_now(), kind=event.kind, bar_start_ms=event.bar_start_ms,
            action=event.action, signal_before=event.signal_before, signal_after=event.signal_after,
            reason=event.reason[:2000], indicators=_json.encode(clean).decode(), order_id=event.order_id))
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
        params=_decode_params.decode(row.params), status=cast(SwingStatus, row.status),
        signal_state=row.signal_state,
        last_decision=cast(Action | None, row.last_decision), shares=row.shares, avg_cost=row.avg_cost,
        stage2_shares=row.stage2_shares, realized_pnl=row.realized_pnl, order_seq=row.order_seq,
        intent_order_id=row.intent_order_id,
        intent=_decode_intent.decode(row.intent_decision) if row.intent_decision else None,
        last_bar_ms=row.last_bar_ms, cost_basis=row.cost_basis,
        halted_reason=row.halted_reason if row.status == "halted" else None, created_at=row.created_at,
        updated_at=row.updated_at)


def _event(row: SwingEventRow) -> SwingEvent:
    return SwingEvent(
        id=row.id, swing_id=row.swing_id, at=row.at, kind=cast(EventKind, row.kind),
        bar_start_ms=row.bar_start_ms, action=cast(Action, row.action), signal_before=row.signal_before,
        signal_after=row.signal_after, reason=row.reason,
        indicators=_decode_indicators.decode(row.indicators), order_id=row.order_id)


class SqlSwingStore:
    """The SwingActor's store (``engine.swings.SwingStore``): one short transaction per call.

    Events are stamped on ``now_ms`` (the engine's clock: a replay's events carry the replayed
    market time, as its bars and orders do); without it, on the wall clock."""

    def __init__(self, sessions: Any, now_ms: Callable[[], int] | None = None) -> None:
        self.sessions = sessions
        self._now_ms = now_ms

    def _at(self) -> datetime | None:
        return None if self._now_ms is None else datetime.fromtimestamp(self._now_ms() / 1000, UTC)

    async def load(self, swing_id: int) -> Swing:
        async with self.sessions() as session:
            swing = await SwingRepo(session).get(swing_id)
        if swing is None:
            raise LookupError(f"swing {swing_id} is not in the database")
        return swing

    @retry_transaction
    async def save(self, swing_id: int, state: SwingUpdate, events: list[NewSwingEvent]) -> None:
        """The new state and the events that explain it, in one transaction."""
        async with self.sessions.begin() as session:
            repo = SwingRepo(session)
            await repo.save(swing_id, state)
            at = self._at()
            for event in events:
                await repo.add_event(swing_id, event, at)

    @retry_transaction
    async def event(self, swing_id: int, event: NewSwingEvent) -> None:
        async with self.sessions.begin() as session:
            await SwingRepo(session).add_event(swing_id, event, self._at())

    async def books(self, account_id: int, code: str) -> SwingBooks:
        async with self.sessions() as session:
            return await SwingRepo(session).books(account_id, code)

    async def live(self) -> list[Swing]:
        async with self.sessions() as session:
            return await SwingRepo(session).list_live()
