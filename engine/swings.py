"""Swings as the engine sees them: the row, its intent, its events, the actor's view, and the store
they need.

``storage`` implements :class:`SwingStore` (``storage.SqlSwingStore``); the
``SwingActor`` depends on the protocol only, and tests may use any object that
speaks it. A swing's state and the events that explain it are saved together
(one transaction); the intent is durable before its order exists.

Statuses::

    warming_up ──▶ active ◀──▶ halted
                     │
                     ├──▶ completed (SIGNAL 3 and not ``repeat``)
                     └──▶ stopped (by the user)

``halted`` is derived, never a decision: a swing is halted while its account is
halted (the kill switch) or while its books disagree with the account's (the
live swings of one account and code hold more shares together than the
account does: sold elsewhere). When neither holds any more it goes back to the
status it had (``warming_up`` or ``active``) and decides again.

The intent is either in flight (``intent_order_id`` set; ``send_at_ms`` for a
scheduled order) or *carried* (no order id): the unsold rest of a partly filled
sell, sold at the next check. The SIGNAL moves only when the whole sale is done.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

import msgspec

from engine.strategy.swing import Action, Decision, SwingParams

SwingStatus = Literal["warming_up", "active", "halted", "completed", "stopped"]
LIVE_STATUSES: tuple[SwingStatus, ...] = ("warming_up", "active", "halted")
EventKind = Literal["check", "scheduled", "order", "fill", "rejected", "cancelled", "stopped", "resumed", "halted"]


class Intent(Decision, frozen=True, kw_only=True):
    """The decision whose order is in flight (or scheduled for ``send_at_ms``), journalled before it is sent;
    or, with no order id on the row, the unsold rest of a partly filled sale (``remainder``), carried to
    the next check. A remainder's order that is refused stays carried: the SIGNAL waits for the sale."""

    send_at_ms: int | None = None
    remainder: bool = False

    def decision(self) -> Decision:
        return Decision(**{f: getattr(self, f) for f in Decision.__struct_fields__})


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
    halted_reason: str | None = None  # why the swing is halted, in words; None unless it is


class Swing(SwingUpdate, frozen=True, kw_only=True):
    """A swing's row: who and what it trades, and its state."""

    id: int
    user_id: int
    account_id: int
    stock_code: str
    params: SwingParams
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


class SwingBooks(msgspec.Struct, frozen=True, kw_only=True):
    """What storage knows of one account and code, for a swing's check of its books."""

    account_halted: bool
    halted_reason: str = ""
    swing_shares: int = 0  # the shares the account's live swings of the code hold together
    in_flight: bool = False  # one of those swings has an order in flight: the holding is moving


class SwingView(msgspec.Struct, frozen=True, kw_only=True):
    """The running actor's state (the answer to ``GetSwing`` and ``StopSwing``)."""

    swing_id: int
    status: SwingStatus
    signal_state: int
    last_decision: Action | None
    shares: int
    average_price: int
    pending_order: str | None  # the client order id in flight (or scheduled)
    scheduled_for: str | None  # ISO-8601 KST, when the pending order is a scheduled one
    carried: int  # shares of a partly filled sale still to sell at the next check
    history_ready: bool
    halted_reason: str | None = None  # why it is halted; None unless it is


class SwingStore(Protocol):
    """What the SwingActor needs from storage: one short transaction per call."""

    async def load(self, swing_id: int) -> Swing:
        """The swing's row; LookupError when it is not there."""

    async def save(self, swing_id: int, state: SwingUpdate, events: list[NewSwingEvent]) -> None:
        """The swing's new state, and the events that explain it, in one transaction."""

    async def event(self, swing_id: int, event: NewSwingEvent) -> None: ...

    async def books(self, account_id: int, code: str) -> SwingBooks:
        """The account's kill switch and what its live swings of ``code`` hold together."""
