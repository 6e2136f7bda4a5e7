"""Crypto: authenticated encryption, rotation over several keys, keyed hash, masks."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from storage.accounts import AccountRepo
from storage.crypto import Crypto, mask, rotate_keys
from storage.errors import DecryptionFailed, KeyConfigError
from storage.models import Account as AccountRow
from storage.users import UserRepo

OLD = Fernet.generate_key().decode("ascii")
NEW = Fernet.generate_key().decode("ascii")


def test_round_trip_and_fresh_ciphertext_each_time() -> None:
    crypto = Crypto(OLD, "hk")
    first, second = crypto.encrypt("5012345601"), crypto.encrypt("5012345601")
    assert first != second and "5012345601" not in first
    assert crypto.decrypt(first) == crypto.decrypt(second) == "5012345601"


def test_tampered_ciphertext_is_rejected_without_leaking() -> None:
    crypto = Crypto(OLD, "hk")
    raw = bytearray(base64.urlsafe_b64decode(crypto.encrypt("app-secret-value")))
    raw[40] ^= 0x01  # one bit of the ciphertext body
    with pytest.raises(DecryptionFailed) as caught:
        crypto.decrypt(base64.urlsafe_b64encode(bytes(raw)).decode("ascii"))
    assert "app-secret-value" not in str(caught.value)
    with pytest.raises(DecryptionFailed):
        crypto.decrypt("not a token")


def test_first_key_encrypts_every_key_decrypts() -> None:
    old_token = Crypto(OLD, "hk").encrypt("secret")
    both = Crypto(f"{NEW}, {OLD}", "hk")
    assert both.decrypt(old_token) == "secret"
    rotated = both.rotate(old_token)
    assert Crypto(NEW, "hk").decrypt(rotated) == "secret"
    with pytest.raises(DecryptionFailed):
        Crypto(OLD, "hk").decrypt(rotated)
    with pytest.raises(DecryptionFailed):
        Crypto(NEW, "hk").decrypt(old_token)


def test_keyed_hash_depends_on_the_key() -> None:
    assert Crypto(OLD, "k1").keyed_hash("5012345601") == Crypto(NEW, "k1").keyed_hash("5012345601")
    assert Crypto(OLD, "k1").keyed_hash("5012345601") != Crypto(OLD, "k2").keyed_hash("5012345601")
    assert len(Crypto(OLD, "k1").keyed_hash("x")) == 64


def test_bad_keys_are_refused_without_showing_them() -> None:
    with pytest.raises(KeyConfigError, match="key #2") as caught:
        Crypto(f"{OLD},not-a-fernet-key", "hk")
    assert "not-a-fernet-key" not in str(caught.value)
    with pytest.raises(KeyConfigError):
        Crypto("", "hk")
    with pytest.raises(KeyConfigError):
        Crypto(OLD, "")


def test_repr_and_mask() -> None:
    assert repr(Crypto(f"{NEW},{OLD}", "hk")) == "Crypto(keys=2)"
    assert mask("5012345601") == "****5601"
    assert mask("abcd") == "****"
    assert mask("") == "****"


async def test_rotate_keys_re_encrypts_every_row(session_factory) -> None:
    old = Crypto(OLD, "hk")
    async with session_factory.begin() as session:
        user = await UserRepo(session).create("rot@example.com", "h")
        ids = [
            (
                await AccountRepo(session, old).create(
                    user.id, broker="paper", account_number=f"5000000{i}-01", app_key=f"key{i}",
                    app_secret=f"secret{i}", paper_initial_cash=0,
                )
            ).id
            for i in range(3)
        ]
    rotated = Crypto(f"{NEW},{OLD}", "hk")
    assert await rotate_keys(session_factory, rotated) == 3

    new_only = Crypto(NEW, "hk")
    async with session_factory() as session:
        for i, account_id in enumerate(ids):
            creds = await AccountRepo(session, new_only).credentials(account_id)
            plain = (creds.account_number, creds.app_key, creds.app_secret)
            assert plain == (f"5000000{i}01", f"key{i}", f"secret{i}")
        tokens = (await session.execute(select(AccountRow.app_secret_enc))).scalars().all()
    for token in tokens:
        with pytest.raises(DecryptionFailed):
            old.decrypt(token)
