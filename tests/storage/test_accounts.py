"""AccountRepo on both databases: encrypted registration, masked listing, scoping, credentials."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from storage.accounts import Account, AccountRepo
from storage.crypto import Crypto
from storage.errors import AccountExists, DecryptionFailed, NotFound
from storage.users import UserRepo

NUMBER = "50123456-01"
APP_KEY = "PSabcdefghijklmnopqrstuvwxyz012345KEY9"
APP_SECRET = "s3cr3t/" + "Q" * 170 + "=Z9x1"


@pytest.fixture
def crypto(db_settings) -> Crypto:
    return Crypto.from_settings(db_settings)


async def _user(session_factory, email: str) -> int:
    async with session_factory.begin() as session:
        return (await UserRepo(session).create(email, "h")).id


async def _register(session_factory, crypto, user_id: int, number: str = NUMBER, **extra) -> Account:
    fields = {"broker": "paper", "app_key": APP_KEY, "app_secret": APP_SECRET}
    fields["paper_initial_cash"] = 100_000_000
    fields.update(extra)
    async with session_factory.begin() as session:
        return await AccountRepo(session, crypto).create(user_id, account_number=number, **fields)


async def test_paper_account_is_listed_masked_with_initial_cash(session_factory, crypto) -> None:
    owner = await _user(session_factory, "a@example.com")
    created = await _register(session_factory, crypto, owner)
    async with session_factory() as session:
        listed = await AccountRepo(session, crypto).list_for_user(owner)
    assert listed == [created]
    account = listed[0]
    assert account.broker == "paper" and account.paper_trading is False
    assert account.account_number_mask == "****5601"
    assert account.app_key_mask == "****KEY9"
    assert account.cash_balance == 100_000_000
    assert account.created_at.tzinfo is not None


async def test_kis_account_keeps_flags_and_starts_without_paper_cash(session_factory, crypto) -> None:
    owner = await _user(session_factory, "kis@example.com")
    account = await _register(
        session_factory, crypto, owner, broker="kis", paper_trading=True, hts_id="hts_user"
    )
    assert (account.broker, account.paper_trading, account.hts_id, account.cash_balance) == (
        "kis", True, "hts_user", 0,
    )


async def test_same_number_twice_for_one_user_conflicts_even_without_dash(session_factory, crypto) -> None:
    owner = await _user(session_factory, "b@example.com")
    await _register(session_factory, crypto, owner, NUMBER)
    with pytest.raises(AccountExists):
        await _register(session_factory, crypto, owner, NUMBER.replace("-", ""))
    other = await _user(session_factory, "c@example.com")
    await _register(session_factory, crypto, other, NUMBER)  # another user may hold the same number


async def test_listing_is_ordered_by_id_and_scoped_to_the_owner(session_factory, crypto) -> None:
    alice = await _user(session_factory, "alice@example.com")
    bob = await _user(session_factory, "bob@example.com")
    first = await _register(session_factory, crypto, alice, "11111111-01")
    bobs = await _register(session_factory, crypto, bob, "22222222-01")
    second = await _register(session_factory, crypto, alice, "33333333-01")
    async with session_factory() as session:
        repo = AccountRepo(session, crypto)
        assert [a.id for a in await repo.list_for_user(alice)] == [first.id, second.id]
        assert await repo.get_for_user(alice, first.id) == first
        assert await repo.get_for_user(alice, bobs.id) is None
        assert await repo.get_for_user(bob, bobs.id) == bobs
        assert await repo.list_for_user(10**9) == []


async def test_credentials_decrypt_for_broker_code_and_mask_in_repr(session_factory, crypto) -> None:
    owner = await _user(session_factory, "d@example.com")
    account = await _register(session_factory, crypto, owner, broker="kis", hts_id="hts")
    async with session_factory() as session:
        creds = await AccountRepo(session, crypto).credentials(account.id)
    assert (creds.account_number, creds.app_key, creds.app_secret) == ("5012345601", APP_KEY, APP_SECRET)
    assert (creds.cano, creds.product_code) == ("50123456", "01")
    for shown in (repr(creds), str(creds)):
        assert "5012345601" not in shown and APP_KEY not in shown and "s3cr3t" not in shown


async def test_credentials_of_a_missing_account_is_not_found(session_factory, crypto) -> None:
    async with session_factory() as session:
        with pytest.raises(NotFound):
            await AccountRepo(session, crypto).credentials(10**9)


async def test_credentials_under_a_foreign_key_are_rejected(session_factory, crypto) -> None:
    owner = await _user(session_factory, "e@example.com")
    account = await _register(session_factory, crypto, owner)
    stranger = Crypto(Fernet.generate_key().decode("ascii"), "another-hash-key")
    async with session_factory() as session:
        with pytest.raises(DecryptionFailed) as caught:
            await AccountRepo(session, stranger).credentials(account.id)
    assert APP_SECRET not in str(caught.value)
