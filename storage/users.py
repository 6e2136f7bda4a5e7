"""Users: registration, lookup by email, roles.

A :class:`UserRepo` works inside the caller's session and transaction
(``async with session_factory.begin() as session``); it flushes but never
commits. Emails are normalised once (:func:`normalize_email`: trimmed, NFKC,
case-folded) and stored and compared in that form, byte for byte on SQLite and
MariaDB alike (the column is ``utf8mb4_bin`` there), so one spelling is one user
and one throttle key. After :class:`~storage.errors.EmailTaken` the transaction is spoiled:
leave the ``begin()`` block (it rolls back).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Literal

import msgspec
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import is_unique_violation
from storage.errors import EmailTaken, NotFound
from storage.models import User as UserRow
from storage.models import utc_now

Role = Literal["user", "admin"]


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    email: str
    role: Role
    created_at: datetime
    password_hash: str  # for login only; never put a User in a response
    token_version: int = 0  # a token issued under an older version is refused

    def __repr__(self) -> str:
        return f"User(id={self.id}, email={self.email!r}, role={self.role!r})"

    __str__ = __repr__


def normalize_email(email: str) -> str:
    """The one form an email is stored, looked up and throttled under: NFKC, case-folded."""
    return unicodedata.normalize("NFKC", email.strip()).casefold()


class UserRepo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, email: str, password_hash: str, role: Role = "user") -> User:
        """Insert a user; :class:`EmailTaken` if the email is registered already."""
        row = UserRow(
            email=normalize_email(email), password_hash=password_hash, role=role, created_at=utc_now()
        )
        self.session.add(row)
        try:
            await self.session.flush()
        except IntegrityError as error:
            if is_unique_violation(error):
                raise EmailTaken() from None
            raise
        return _to_struct(row)

    async def get(self, user_id: int) -> User | None:
        row = await self.session.get(UserRow, user_id)
        return None if row is None else _to_struct(row)

    async def get_by_email(self, email: str) -> User | None:
        row = await self.session.scalar(select(UserRow).where(UserRow.email == normalize_email(email)))
        return None if row is None else _to_struct(row)

    async def bump_token_version(self, user_id: int, password_hash: str | None = None) -> int:
        """Invalidate every token issued so far (and set a new password hash); the new version."""
        values: dict[str, object] = {"token_version": UserRow.token_version + 1}
        if password_hash is not None:
            values["password_hash"] = password_hash
        result = await self.session.execute(update(UserRow).where(UserRow.id == user_id).values(**values))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound("no such user")
        version = await self.session.scalar(select(UserRow.token_version).where(UserRow.id == user_id))
        return int(version or 0)

    async def token_version(self, user_id: int) -> int | None:
        """The user's token version, or ``None`` when the user does not exist (any more)."""
        version = await self.session.scalar(select(UserRow.token_version).where(UserRow.id == user_id))
        return None if version is None else int(version)

    async def delete(self, user_id: int) -> bool:
        result = await self.session.execute(delete(UserRow).where(UserRow.id == user_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def set_role(self, email: str, role: Role) -> User:
        """Give the user with ``email`` the ``role``; :class:`NotFound` if there is none."""
        row = await self.session.scalar(select(UserRow).where(UserRow.email == normalize_email(email)))
        if row is None:
            raise NotFound("no user with that email")
        row.role = role
        await self.session.flush()
        return _to_struct(row)

    async def promote(self, email: str) -> User:
        """Make the user an admin (``autotrader users promote EMAIL``)."""
        return await self.set_role(email, "admin")


def _to_struct(row: UserRow) -> User:
    return User(
        id=row.id,
        email=row.email,
        role=row.role,  # type: ignore[arg-type]  # the CHECK constraint keeps it a Role
        created_at=row.created_at,
        password_hash=row.password_hash,
        token_version=row.token_version or 0,
    )
