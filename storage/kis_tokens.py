"""KIS access tokens that outlive the process (issue 12), one row per (REST host, app key).

KIS issues one token a minute per app key and every issuance sends the user a
KakaoTalk notice, so a restart must reuse the token it had. The row is found by
a keyed hash of host and app key (never the plaintext key); the token is a
Fernet ciphertext like the other secrets, with its expiry and the time it was
issued (so a restart inside the minute knows to wait). A row that no longer
decrypts (its data key was dropped) reads as absent: a new token is issued.

``autotrader keys rotate`` re-encrypts these rows too (:func:`rotate_tokens`), so
dropping the old data key afterwards costs no token; ``keys check`` lists them
(:func:`check_tokens`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import BigInteger, String, Text, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from engine.brokers.kis.auth import StoredToken
from storage.crypto import Crypto
from storage.errors import DecryptionFailed
from storage.keys import validate_data_keys
from storage.models import Base, UTCDateTime


class KisTokenRow(Base):
    __tablename__ = "kis_tokens"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # HMAC of host + app key
    token_enc: Mapped[str] = mapped_column(Text)
    expires_ms: Mapped[int] = mapped_column(BigInteger)  # UTC epoch ms
    issued_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SqlTokenStore:
    """:class:`engine.brokers.kis.auth.TokenStore` on the database."""

    def __init__(self, sessions: async_sessionmaker, crypto: Crypto) -> None:
        self._sessions = sessions
        self._crypto = crypto

    def __repr__(self) -> str:
        return "SqlTokenStore()"

    def _hash(self, scope: str, app_key: str) -> str:
        return self._crypto.keyed_hash(f"kis-token|{scope}|{app_key}")

    async def load(self, scope: str, app_key: str) -> StoredToken | None:
        async with self._sessions() as session:
            row = await session.get(KisTokenRow, self._hash(scope, app_key))
            if row is None:
                return None
            try:
                token = self._crypto.decrypt(row.token_enc)
            except DecryptionFailed:
                return None
            return StoredToken(token, row.expires_ms, row.issued_ms)

    async def save(self, scope: str, app_key: str, token: StoredToken) -> None:
        key_hash = self._hash(scope, app_key)
        async with self._sessions.begin() as session:
            row = (await session.execute(select(KisTokenRow).where(KisTokenRow.key_hash == key_hash)
                                         .with_for_update())).scalar_one_or_none()
            if row is None:
                row = KisTokenRow(key_hash=key_hash)
                session.add(row)
            row.token_enc = self._crypto.encrypt(token.token)
            row.expires_ms = token.expires_ms
            row.issued_ms = token.issued_ms
            row.updated_at = datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class TokenKeys:
    """Which configured data key (1-based; ``None``: none) opens one stored KIS token."""

    key_hash: str
    key: int | None
    expires_ms: int

    def describe(self, now_ms: int) -> str:
        name = f"kis token {self.key_hash[:8]}"
        left = "expired" if self.expires_ms <= now_ms else f"expires in {(self.expires_ms - now_ms) // 60_000} min"
        if self.key is None:
            return f"{name} ({left}): does NOT decrypt under any configured data key (a new token will be issued)"
        return f"{name} ({left}): decrypts under key #{self.key}"


def _key_of(fernets: list[Fernet], token: str) -> int | None:
    raw = token.encode("ascii", "replace")
    for index, fernet in enumerate(fernets, start=1):
        try:
            fernet.decrypt(raw)
            return index
        except InvalidToken:
            continue
    return None


async def check_tokens(sessions: async_sessionmaker, data_keys: str) -> list[TokenKeys]:
    """Every stored token and the data key that opens it (there is one row per app key and host: few)."""
    fernets = [Fernet(key) for key in validate_data_keys(data_keys)]
    async with sessions() as session:
        rows = (await session.execute(
            select(KisTokenRow.key_hash, KisTokenRow.token_enc, KisTokenRow.expires_ms).order_by(KisTokenRow.key_hash)
        )).all()
    return [TokenKeys(row.key_hash, _key_of(fernets, row.token_enc), row.expires_ms) for row in rows]


async def tokens_not_under(sessions: async_sessionmaker, data_keys: str) -> int:
    """How many stored tokens open under a later data key but not the first (rotation would move them)."""
    return sum(row.key not in (1, None) for row in await check_tokens(sessions, data_keys))


async def rotate_tokens(sessions: async_sessionmaker, crypto: Crypto) -> tuple[int, int]:
    """Re-encrypt every stored token under the first data key; (rewritten, unreadable).

    A row no configured key opens is left alone (it reads as absent; the next issuance
    for its key overwrites it). Rows are locked while rewritten, so a server saving a
    token meanwhile waits instead of being overwritten by the old value.
    """
    rewritten = unreadable = 0
    async with sessions.begin() as session:
        rows = (await session.execute(select(KisTokenRow).with_for_update())).scalars().all()
        for row in rows:
            try:
                row.token_enc = crypto.rotate(row.token_enc)
            except DecryptionFailed:
                unreadable += 1
                continue
            rewritten += 1
    return rewritten, unreadable
