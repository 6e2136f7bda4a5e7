"""Broker accounts: registration with secrets encrypted, listing masked, credentials for brokers.

Account number, app key and app secret are encrypted with
:class:`~storage.crypto.Crypto` before they reach the session; the account
number's uniqueness per user is checked on its keyed hash. What leaves this
module for users is :class:`Account` (masked values only). The decrypted
:class:`AccountCredentials` are for the engine's broker code alone
(:meth:`AccountRepo.credentials`) and mask themselves in ``repr``.

Every user-facing query is scoped to the caller's ``user_id``. Like every
repository, :class:`AccountRepo` works inside the caller's session and
transaction; after :class:`~storage.errors.AccountExists` leave the
``begin()`` block (it rolls back).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import Crypto, mask
from storage.db import is_unique_violation
from storage.errors import AccountExists, NotFound
from storage.models import Account as AccountRow
from storage.models import utc_now

BrokerKind = Literal["paper", "kis"]


class Account(msgspec.Struct, frozen=True, kw_only=True):
    """An account as its owner may see it: secrets masked (``****`` + last 4)."""

    id: int
    user_id: int
    broker: BrokerKind
    paper_trading: bool
    account_number_mask: str
    app_key_mask: str
    hts_id: str | None
    cash_balance: int
    created_at: datetime


class AccountCredentials(msgspec.Struct, frozen=True, kw_only=True):
    """Decrypted values for broker code only; ``repr`` shows masks."""

    account_id: int
    user_id: int
    broker: BrokerKind
    paper_trading: bool
    account_number: str  # 10 digits, no dash
    app_key: str
    app_secret: str
    hts_id: str | None

    @property
    def cano(self) -> str:
        """KIS ``CANO``: the account number's first 8 digits."""
        return self.account_number[:8]

    @property
    def product_code(self) -> str:
        """KIS ``ACNT_PRDT_CD``: its last 2 digits."""
        return self.account_number[8:]

    def __repr__(self) -> str:
        return (
            f"AccountCredentials(account_id={self.account_id}, broker={self.broker!r}, "
            f"paper_trading={self.paper_trading}, account_number={mask(self.account_number)!r}, "
            f"app_key={mask(self.app_key)!r}, app_secret='****')"
        )

    __str__ = __repr__


async def account_owner(session: AsyncSession, account_id: int) -> int | None:
    """The user id owning ``account_id`` (no secret is read, so no Crypto is needed); None if absent."""
    return await session.scalar(select(AccountRow.user_id).where(AccountRow.id == account_id))


def normalize_account_number(account_number: str) -> str:
    """``12345678-01`` and ``1234567801`` are one account: digits only."""
    return account_number.strip().replace("-", "")


class AccountRepo:
    def __init__(self, session: AsyncSession, crypto: Crypto) -> None:
        self.session = session
        self.crypto = crypto

    async def create(
        self,
        user_id: int,
        *,
        broker: BrokerKind,
        account_number: str,
        app_key: str,
        app_secret: str,
        paper_initial_cash: int,
        paper_trading: bool = False,
        hts_id: str | None = None,
    ) -> Account:
        """Register an account for ``user_id``; :class:`AccountExists` if that user has the number.

        A ``paper`` account starts with ``paper_initial_cash`` (pass
        ``settings.paper_initial_cash``); a ``kis`` account's cash is the broker's.
        """
        number = normalize_account_number(account_number)
        row = AccountRow(
            user_id=user_id,
            broker=broker,
            paper_trading=paper_trading,
            account_number_enc=self.crypto.encrypt(number),
            account_number_hash=self.crypto.keyed_hash(number),
            account_number_mask=mask(number),
            hts_id=hts_id or None,
            app_key_enc=self.crypto.encrypt(app_key),
            app_secret_enc=self.crypto.encrypt(app_secret),
            app_key_mask=mask(app_key),
            cash_balance=paper_initial_cash if broker == "paper" else 0,
            created_at=utc_now(),
        )
        self.session.add(row)
        try:
            await self.session.flush()
        except IntegrityError as error:
            if is_unique_violation(error):
                raise AccountExists() from None
            raise
        return _to_struct(row)

    async def list_for_user(self, user_id: int) -> list[Account]:
        """The user's accounts, lowest id first (the first is the default account)."""
        rows = await self.session.scalars(
            select(AccountRow).where(AccountRow.user_id == user_id).order_by(AccountRow.id)
        )
        return [_to_struct(row) for row in rows]

    async def get_for_user(self, user_id: int, account_id: int) -> Account | None:
        """The account if it exists and belongs to ``user_id``, else ``None``."""
        if not 0 < account_id < 2**63:  # no such row, and SQLite cannot even bind it
            return None
        row = await self.session.scalar(
            select(AccountRow).where(AccountRow.id == account_id, AccountRow.user_id == user_id)
        )
        return None if row is None else _to_struct(row)

    async def credentials(self, account_id: int) -> AccountCredentials:
        """Decrypted credentials for broker code; :class:`NotFound` if no such account."""
        row = await self.session.get(AccountRow, account_id)
        if row is None:
            raise NotFound("no such account")
        return AccountCredentials(
            account_id=row.id,
            user_id=row.user_id,
            broker=row.broker,  # type: ignore[arg-type]  # CHECK constraint
            paper_trading=row.paper_trading,
            account_number=self.crypto.decrypt(row.account_number_enc),
            app_key=self.crypto.decrypt(row.app_key_enc),
            app_secret=self.crypto.decrypt(row.app_secret_enc),
            hts_id=row.hts_id,
        )


def _to_struct(row: AccountRow) -> Account:
    return Account(
        id=row.id,
        user_id=row.user_id,
        broker=row.broker,  # type: ignore[arg-type]  # CHECK constraint
        paper_trading=row.paper_trading,
        account_number_mask=row.account_number_mask,
        app_key_mask=row.app_key_mask,
        hts_id=row.hts_id,
        cash_balance=row.cash_balance,
        created_at=row.created_at,
    )
