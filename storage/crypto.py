"""Secrets at rest: authenticated encryption, a keyed hash, and masks for display.

Account numbers, app keys and app secrets are stored as Fernet tokens
(AES-128-CBC + HMAC-SHA256, so a changed byte is rejected, never decrypted to
garbage). ``AUTOTRADER_DATA_KEYS`` holds one or more keys, comma-separated: the
first encrypts, every one decrypts, so a key is rotated by putting a new key
first, running ``autotrader keys rotate`` (:func:`rotate_keys`, which
re-encrypts every row under the first key) and then dropping the old key.

Uniqueness of an account number per user is checked on
:meth:`Crypto.keyed_hash` (HMAC-SHA256 under ``AUTOTRADER_HASH_KEY``), never on
the plaintext. Nothing here logs, repr's or puts a plaintext or a key in an
error message.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from engine.settings import Settings
from storage.errors import DecryptionFailed, KeyConfigError
from storage.keys import validate_data_keys
from storage.models import Account

log = logging.getLogger(__name__)

ROTATE_BATCH = 200
MASK = "****"


def mask(value: str) -> str:
    """``****`` and the last 4 characters; only ``****`` for a value that short."""
    return MASK + value[-4:] if len(value) > 4 else MASK


class Crypto:
    """Encrypts and hashes secrets under the configured keys."""

    __slots__ = ("_fernet", "_hash_key", "_key_count")

    def __init__(self, data_keys: str, hash_key: str) -> None:
        keys = validate_data_keys(data_keys)
        if not hash_key:
            raise KeyConfigError("AUTOTRADER_HASH_KEY: no key given")
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._hash_key = hash_key.encode("utf-8")
        self._key_count = len(keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> Crypto:
        """From settings already filled by :func:`storage.keys.ensure_keys`."""
        return cls(settings.data_keys, settings.hash_key)

    def __repr__(self) -> str:
        return f"Crypto(keys={self._key_count})"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise DecryptionFailed() from None

    def rotate(self, token: str) -> str:
        """The same plaintext, encrypted under the first key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise DecryptionFailed() from None

    def keyed_hash(self, value: str) -> str:
        """HMAC-SHA256 of ``value`` as 64 hex characters."""
        return hmac.new(self._hash_key, value.encode("utf-8"), hashlib.sha256).hexdigest()


async def rotate_keys(session_factory: async_sessionmaker, crypto: Crypto) -> int:
    """Re-encrypt every account's secrets under the first data key; returns rows rewritten.

    Works in batches, one transaction each, so it can run beside the server.
    """
    rewritten = 0
    last_id = 0
    while True:
        async with session_factory.begin() as session:
            rows = (
                await session.execute(
                    select(
                        Account.id, Account.account_number_enc, Account.app_key_enc, Account.app_secret_enc
                    )
                    .where(Account.id > last_id)
                    .order_by(Account.id)
                    .limit(ROTATE_BATCH)
                )
            ).all()
            for row in rows:
                await session.execute(
                    update(Account)
                    .where(Account.id == row.id)
                    .values(
                        account_number_enc=crypto.rotate(row.account_number_enc),
                        app_key_enc=crypto.rotate(row.app_key_enc),
                        app_secret_enc=crypto.rotate(row.app_secret_enc),
                    )
                )
        if not rows:
            break
        rewritten += len(rows)
        last_id = rows[-1].id
    log.info("re-encrypted %d account rows under the first data key", rewritten)
    return rewritten
