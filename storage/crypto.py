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
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class RowKeys:
    """Which configured data key opens each secret of one account row (1-based; ``None``: none)."""

    account_id: int
    account_number: int | None
    app_key: int | None
    app_secret: int | None
    hash_ok: bool  # the keyed hash of the decrypted number matches (False when it does not decrypt)

    @property
    def ok(self) -> bool:
        return None not in (self.account_number, self.app_key, self.app_secret) and self.hash_ok

    def describe(self) -> str:
        keys = {self.account_number, self.app_key, self.app_secret}
        if None in keys:
            opened = [name for name, key in (("account_number", self.account_number), ("app_key", self.app_key),
                                             ("app_secret", self.app_secret)) if key is not None]
            return (f"account {self.account_id}: does NOT decrypt under any configured data key"
                    + (f" (only {', '.join(opened)} does)" if opened else ""))
        where = "key #" + "/#".join(str(k) for k in sorted(keys))  # type: ignore[type-var]
        hashed = "hash key matches" if self.hash_ok else "hash key does NOT match (AUTOTRADER_HASH_KEY changed)"
        return f"account {self.account_id}: decrypts under {where}; {hashed}"


async def check_keys(session_factory: async_sessionmaker, data_keys: str, hash_key: str,
                     limit: int | None = None) -> list[RowKeys]:
    """For every account row (or the first ``limit``), which key decrypts it and whether the hash key fits."""
    fernets = [Fernet(key) for key in validate_data_keys(data_keys)]
    hasher = Crypto(data_keys, hash_key)
    out: list[RowKeys] = []
    last_id = 0
    while limit is None or len(out) < limit:
        async with session_factory() as session:
            rows = (await session.execute(
                select(Account.id, Account.account_number_enc, Account.account_number_hash,
                       Account.app_key_enc, Account.app_secret_enc)
                .where(Account.id > last_id).order_by(Account.id).limit(ROTATE_BATCH)
            )).all()
        if not rows:
            break
        for row in rows:
            number_key, number = _open(fernets, row.account_number_enc)
            hash_ok = number is not None and hmac.compare_digest(hasher.keyed_hash(number), row.account_number_hash)
            out.append(RowKeys(row.id, number_key, _open(fernets, row.app_key_enc)[0],
                               _open(fernets, row.app_secret_enc)[0], hash_ok))
        last_id = rows[-1].id
    return out if limit is None else out[:limit]


async def require_keys_open_rows(session_factory: async_sessionmaker, data_keys: str, hash_key: str) -> None:
    """Refuse to start (:class:`KeyConfigError`) when stored secrets do not open under the configured keys."""
    rows = await check_keys(session_factory, data_keys, hash_key)
    bad = [row for row in rows if not row.ok]
    if not bad:
        return
    undecryptable = [row for row in bad if None in (row.account_number, row.app_key, row.app_secret)]
    if undecryptable:
        raise KeyConfigError(
            f"the database holds {len(undecryptable)} of {len(rows)} encrypted account rows that none of the "
            "configured data keys decrypts (first: account "
            f"{undecryptable[0].account_id}); was keys.json deleted, emptied or replaced? Restore it or set "
            "AUTOTRADER_DATA_KEYS (and AUTOTRADER_HASH_KEY) to the keys that encrypted them; "
            "`autotrader keys check` lists every row"
        )
    raise KeyConfigError(
        f"AUTOTRADER_HASH_KEY does not match the one that hashed {len(bad)} of {len(rows)} account numbers "
        f"(first: account {bad[0].account_id}); was keys.json deleted, emptied or replaced? Restore its "
        "hash_key, or the same account number could be registered twice; `autotrader keys check` lists every row"
    )


async def rows_not_under(session_factory: async_sessionmaker, first_key: str) -> int:
    """How many account rows have a secret not encrypted under ``first_key``."""
    fernet = Fernet(first_key)
    count = 0
    last_id = 0
    while True:
        async with session_factory() as session:
            rows = (await session.execute(
                select(Account.id, Account.account_number_enc, Account.app_key_enc, Account.app_secret_enc)
                .where(Account.id > last_id).order_by(Account.id).limit(ROTATE_BATCH)
            )).all()
        if not rows:
            return count
        for row in rows:
            if any(_open([fernet], token)[0] is None
                   for token in (row.account_number_enc, row.app_key_enc, row.app_secret_enc)):
                count += 1
        last_id = rows[-1].id


def _open(fernets: list[Fernet], token: str) -> tuple[int | None, str | None]:
    raw = token.encode("ascii", "replace")
    for index, fernet in enumerate(fernets, start=1):
        try:
            return index, fernet.decrypt(raw).decode("utf-8")
        except (InvalidToken, UnicodeError):
            continue
    return None, None
