"""Tables of the auto swings: the registration with its SIGNAL state
and crash-safe intent, and the event log of every check.

Kept beside :mod:`storage.models` (same ``Base``, same conventions).

- ``swings``: one row per registration. ``signal_state`` (SIGNAL 0–3), position
  (``shares``, ``avg_cost``, ``stage2_shares``), ``status``, the last decision,
  and the *intent* of a transition in flight: ``intent_order_id`` (our client
  order id), ``intent_decision`` (the decision as JSON) — written before the
  order is sent, cleared when the fill (or the rejection) is applied. On restart
  an intent is reconciled with the account, never sent again.
- ``swing_events``: what each check saw and decided, in words.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base, Id, UTCDateTime, utc_now

SWING_STATUSES = ("warming_up", "active", "completed", "stopped", "halted")


class SwingRow(Base):
    __tablename__ = "swings"
    __table_args__ = (
        CheckConstraint("signal_state BETWEEN 0 AND 3", name="signal_state"),
        Index("ix_swings_user_id_updated_at", "user_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"))
    stock_code: Mapped[str] = mapped_column(String(12))
    params: Mapped[str] = mapped_column(Text)  # SwingParams as JSON
    status: Mapped[str] = mapped_column(String(16), default="warming_up")
    signal_state: Mapped[int] = mapped_column(Integer, default=0)  # SIGNAL; `signal` is reserved in MariaDB
    last_decision: Mapped[str | None] = mapped_column(String(8), nullable=True)
    shares: Mapped[int] = mapped_column(BigInteger, default=0)
    avg_cost: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_basis: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # KRW, fees in (engine.pnl)
    stage2_shares: Mapped[int] = mapped_column(BigInteger, default=0)
    realized_pnl: Mapped[int] = mapped_column(BigInteger, default=0)
    order_seq: Mapped[int] = mapped_column(Integer, default=0)
    intent_order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    intent_decision: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_bar_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    halted_reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # why, while status is halted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class SwingEventRow(Base):
    __tablename__ = "swing_events"
    __table_args__ = (Index("ix_swing_events_swing_id_id", "swing_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    swing_id: Mapped[int] = mapped_column(Id, ForeignKey("swings.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    kind: Mapped[str] = mapped_column(String(16))  # check | order | fill | rejected | stopped | resumed
    bar_start_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    action: Mapped[str] = mapped_column(String(8), default="hold")
    signal_before: Mapped[int] = mapped_column(Integer, default=0)
    signal_after: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text, default="")
    indicators: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    order_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
