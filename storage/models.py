"""The schema as SQLAlchemy 2 typed models. Alembic migrations own the DDL.

These classes never leave :mod:`storage`: repositories map rows to frozen
msgspec Structs. Every constraint gets a predictable name from the metadata's
naming convention, so migrations can drop or alter it on SQLite and MariaDB.

Conventions for every table, present and future:

- ids are ``BIGINT`` (``INTEGER`` on SQLite, whose rowid is 64-bit anyway);
- money and quantities are integers (KRW, shares) in ``BIGINT`` columns;
- instants are stored as UTC (``UTCDateTime``: naive UTC in the column,
  timezone-aware on read) or as UTC epoch milliseconds in ``BIGINT`` where the
  engine speaks ``ts_ms`` (bars, later fills);
- secrets are stored only as ciphertext (``*_enc``, Fernet tokens), with a
  ``*_mask`` for display and, where uniqueness matters, a keyed ``*_hash``.

Tables now: ``users``, ``accounts``, ``bars``. Room left for the later issues,
beside them and without changing them:

- ``swings`` (user_id, account_id → accounts, code, parameters, status,
  signal_state, intent columns for crash-safe transitions, updated_at) and
  ``swing_events`` (swing_id → swings, bar start_ms, indicator values, decision,
  reason), both read through their own repository;
- ``orders`` (account_id → accounts, client_order_id unique per account —
  ``uq_orders_account_id_client_order_id`` — side, code, qty, price, status,
  broker order number, timestamps), ``fills`` (order_id → orders, qty, price,
  fee, ts_ms) and ``positions`` (account_id, code primary key, qty, avg cost),
  the paper broker's ledger beside ``accounts.cash_balance``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("user", "admin")
BROKERS = ("paper", "kis")

Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as naive UTC (microseconds kept on MariaDB too)."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC instants")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('user', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    # normalised (NFKC, case-folded) before it gets here; compared byte for byte on MariaDB too
    email: Mapped[str] = mapped_column(
        String(254).with_variant(mysql.VARCHAR(254, charset="utf8mb4", collation="utf8mb4_bin"), "mysql"),
        unique=True,
    )
    password_hash: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16), default="user")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # bumped: old tokens die


class Lease(Base):
    """``process``: the one server that may run on this database (owner, heartbeat)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ttl_ms: Mapped[int] = mapped_column(BigInteger)  # the holder's TTL: free this long after heartbeat_at


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("user_id", "account_number_hash"),
        CheckConstraint("broker IN ('paper', 'kis')", name="broker"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    broker: Mapped[str] = mapped_column(String(16))
    paper_trading: Mapped[bool] = mapped_column(Boolean, default=False)  # KIS 모의투자
    account_number_enc: Mapped[str] = mapped_column(Text)
    account_number_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256 hex
    account_number_mask: Mapped[str] = mapped_column(String(16))
    hts_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    app_key_enc: Mapped[str] = mapped_column(Text)
    app_secret_enc: Mapped[str] = mapped_column(Text)
    app_key_mask: Mapped[str] = mapped_column(String(16))
    cash_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class BarRow(Base):
    __tablename__ = "bars"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    size: Mapped[str] = mapped_column(String(8), primary_key=True)
    start_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    open: Mapped[int] = mapped_column(BigInteger)
    high: Mapped[int] = mapped_column(BigInteger)
    low: Mapped[int] = mapped_column(BigInteger)
    close: Mapped[int] = mapped_column(BigInteger)
    volume: Mapped[int] = mapped_column(BigInteger)


# -- orders: the journal, the paper broker's book and ledger, risk ----------

ORDER_STATUSES = ("pending", "accepted", "partially_filled", "filled", "rejected", "cancelled", "unknown")
SIDES = ("buy", "sell")


class OrderRow(Base):
    """The order journal: written ``pending`` before the broker hears of it."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("account_id", "client_order_id"),
        CheckConstraint("side IN ('buy', 'sell')", name="side"),
        CheckConstraint(
            "status IN ('pending', 'accepted', 'partially_filled', 'filled', 'rejected', 'cancelled', "
            "'unknown', 'expired')",
            name="status",
        ),
        Index("ix_orders_account_id_status", "account_id", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"))
    client_order_id: Mapped[str] = mapped_column(String(64))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the request: same key, other body → 409
    source: Mapped[str] = mapped_column(String(32))  # "rest", "swing:17"
    code: Mapped[str] = mapped_column(String(12))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # None: market
    status: Mapped[str] = mapped_column(String(20))
    broker_order_no: Mapped[str | None] = mapped_column(String(32), nullable=True)
    filled_quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    filled_value: Mapped[int] = mapped_column(BigInteger, default=0)  # sum of qty × price over fills
    reason: Mapped[str] = mapped_column(String(255), default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms (engine clock)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    # A change asked of the broker, journalled before it is sent ("" none, "cancel", "modify").
    action: Mapped[str] = mapped_column(String(8), default="", server_default="")
    action_price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    action_quantity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    action_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class FillRow(Base):
    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(Id, ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int] = mapped_column(BigInteger)
    commission: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    realized_pnl: Mapped[int] = mapped_column(BigInteger, default=0)  # sells: net of fees vs average price
    ts_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_fills_account_id_ts_ms", "account_id", "ts_ms"),)


class PaperOrderRow(Base):
    """The paper broker's own order book (what KIS's order system is for a KIS account)."""

    __tablename__ = "paper_orders"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'filled', 'cancelled', 'expired')", name="status"),
        Index("ix_paper_orders_account_id_status", "account_id", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)  # the broker order number
    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(12))
    side: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    filled_quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    filled_value: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(String(255), default="")
    accepted_ms: Mapped[int] = mapped_column(BigInteger)


class PositionRow(Base):
    """A paper account's holding of one code (cash is ``accounts.cash_balance``)."""

    __tablename__ = "positions"

    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"),
                                            primary_key=True)
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    average_price: Mapped[int] = mapped_column(BigInteger)  # KRW per share, fees excluded, rounded down
    # KRW the shares held cost, buy commission included (engine.pnl): realised P&L is taken from it
    cost_basis: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class AccountRiskRow(Base):
    """Per-account overrides of the settings' risk limits, and the kill switch."""

    __tablename__ = "account_risk"

    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"),
                                            primary_key=True)
    halted: Mapped[bool] = mapped_column(Boolean, default=False)
    halted_reason: Mapped[str] = mapped_column(String(255), default="")
    halted_by: Mapped[str] = mapped_column(String(8), default="", server_default="")  # "" | owner | admin
    max_order_value: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_position_value: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    daily_loss_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AccountFenceRow(Base):
    """Cluster mode: the fencing token of the account's current owner (see storage.fences)."""

    __tablename__ = "account_fences"

    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id", ondelete="CASCADE"),
                                            primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)  # the lease's acquisition revision; only grows
    node_id: Mapped[str] = mapped_column(String(64))
    claimed_ms: Mapped[int] = mapped_column(BigInteger)
