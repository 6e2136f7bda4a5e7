"""KIS access tokens that outlive the process (issue 12), one row per (REST host, app key).

KIS issues one token a minute per app key and every issuance sends the user a
KakaoTalk notice, so a restart must reuse the token it had. The row is found by
a keyed hash of host and app key (never the plaintext key); the token is a
Fernet ciphertext like the other secrets, with its expiry and the time it was
issued (so a restart inside the minute knows to wait). A row that no longer
decrypts (its data key was dropped) reads as absent: a new token is issued.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, String, Text, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from engine.brokers.kis.auth import StoredToken
from storage.crypto import Crypto
from storage.errors import DecryptionFailed
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
