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
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16), default="user")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


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
