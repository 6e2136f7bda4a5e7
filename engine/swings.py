"""Swings as the engine sees them: the row, its intent, its events, and the store they need.

``storage`` implements :class:`SwingStore` (``storage.SqlSwingStore``); the
``SwingActor`` depends on the protocol only, and tests may use any object that
speaks it. A swing's state and the events that explain it are saved together
(one transaction); the intent is durable before its order exists.

Statuses::

    warming_up ──▶ active ◀──▶ halted
                     │
                     ├──▶ completed (SIGNAL 3 and not ``repeat``)
                     └──▶ stopped (by the user)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

import msgspec

from engine.strategy.swing import Action, Decision

SwingStatus = Literal["warming_up", "active", "halted", "completed", "stopped"]
LIVE_STATUSES: tuple[SwingStatus, ...] = ("warming_up", "active", "halted")
EventKind = Literal["check", "scheduled", "order", "fill", "rejected", "cancelled", "stopped", "resumed"]


class Intent(Decision, frozen=True, kw_only=True):
    """The decision whose order is in flight (or scheduled for ``send_at_ms``), journalled before it is sent."""

    send_at_ms: int | None = None


class SwingUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """A swing's whole mutable state, as one save writes it."""

    status: SwingStatus
    signal_state: int  # SIGNAL 0-3
    last_decision: Action | None
    shares: int
    avg_cost: int
    stage2_shares: int
    realized_pnl: int
    order_seq: int
    intent_order_id: str | None
    intent: Intent | None
    last_bar_ms: int | None
    cost_basis: int = 0  # KRW the swing's shares cost, buy commission included (engine.pnl)


class Swing(SwingUpdate, frozen=True, kw_only=True):
    """A swing's row: who and what it trades, and its state."""

    id: int
    user_id: int
    account_id: int
    stock_code: str
    params: dict[str, Any]  # SwingParams as JSON; the actor validates it
    created_at: datetime
    updated_at: datetime

    def state(self) -> SwingUpdate:
        """The row's mutable state (replace fields on it to save a change)."""
        return SwingUpdate(**{f: getattr(self, f) for f in SwingUpdate.__struct_fields__})


class NewSwingEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a swing's audit trail, before it is stored."""

    kind: EventKind
    action: Action = "hold"
    signal_before: int = 0
    signal_after: int = 0
    reason: str = ""
    bar_start_ms: int | None = None
    indicators: dict[str, float] = {}
    order_id: str | None = None


class SwingEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    swing_id: int
    at: datetime
    kind: EventKind
    bar_start_ms: int | None
    action: Action
    signal_before: int
    signal_after: int
    reason: str
    indicators: dict[str, float]
    order_id: str | None


class SwingStore(Protocol):
    """What the SwingActor needs from storage: one short transaction per call."""

    async def load(self, swing_id: int) -> Swing:
        """The swing's row; LookupError when it is not there."""

    async def save(self, swing_id: int, state: SwingUpdate, events: list[NewSwingEvent]) -> None:
        """The swing's new state, and the events that explain it, in one transaction."""

    async def event(self, swing_id: int, event: NewSwingEvent) -> None: ...
