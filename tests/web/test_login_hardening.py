"""Logins cannot be raced, sprayed or turned against the victim; tokens can be revoked.

Each test drives the real app; a small middleware in front of it lets a test say which
client address a request comes from (``X-Test-Remote``), as a real peer address would.
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from aiohttp import web
from sqlalchemy import delete

from storage import HasherBusy, PasswordHasher, UserRepo
from storage.models import User as UserRow
from web.app import create_app
from web.auth import TOKEN_VERSIONS
from web.keys import SETTINGS

PASSWORD = "s3cret-pass"
WRONG = "wrong-pass1"


@web.middleware
async def fake_remote(request, handler):  # type: ignore[no-untyped-def]
    remote = request.headers.get("X-Test-Remote")
    return await handler(request.clone(remote=remote) if remote else request)


@pytest.fixture
def hard_settings(app_settings):
    return msgspec.structs.replace(app_settings, bcrypt_cost=4, login_max_failures=5, login_max_per_address=20,
                                   login_max_delay_s=8.0, login_lockout_s=300.0, register_max_per_address=1000)


@pytest.fixture
async def hclient(aiohttp_client, hard_settings, engine, clock):
    app = create_app(hard_settings, clock=clock)
    app.middlewares.insert(0, fake_remote)
    return await aiohttp_client(app)


async def register(client, email, password=PASSWORD, remote="10.0.0.1"):
    resp = await client.post("/users/register", json={"email": email, "password": password},
                             headers={"X-Test-Remote": remote})
    return resp.status


async def login(client, email, password=PASSWORD, remote="10.0.0.1"):
    resp = await client.post("/users/login", json={"email": email, "password": password},
                             headers={"X-Test-Remote": remote})
    return resp


async def test_parallel_guesses_are_counted_when_they_start(hclient):
    assert await register(hclient, "kim@example.com") == 201
    guesses = [login(hclient, "kim@example.com", f"guess-{i}-pass") for i in range(40)]
    statuses = [resp.status for resp in await asyncio.gather(*guesses)]
    assert statuses.count(401) <= 5  # only 5 reached bcrypt: the others found them in flight
    assert statuses.count(429) >= 35


async def test_own_account_success_does_not_reset_an_address_spraying_others(hclient):
    assert await register(hclient, "mallory@example.com") == 201
    statuses = []
    for i in range(30):  # one wrong guess on each of many victims, a good login of one's own in between
        statuses.append((await login(hclient, f"victim{i}@example.com", WRONG)).status)
        assert (await login(hclient, "mallory@example.com")).status in (200, 429)
    assert statuses[:20] == [401] * 20
    assert set(statuses[20:]) == {429}  # the address's failures stayed counted


async def test_an_attacker_cannot_lock_out_a_victim_who_knows_the_password(hclient, clock):
    assert await register(hclient, "kim@example.com") == 201
    assert (await login(hclient, "kim@example.com", remote="10.0.0.7")).status == 200  # kim's usual address
    for i in range(12):  # the attacker, from addresses of its own
        await login(hclient, "kim@example.com", WRONG, remote=f"192.0.2.{i // 4}")
    assert (await login(hclient, "kim@example.com", remote="10.0.0.7")).status == 200
    # from an address kim never used, the slowed email asks for a short wait, never the lock-out window
    resp = await login(hclient, "kim@example.com", remote="10.0.0.99")
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 8
    await clock.advance(8.5)
    assert (await login(hclient, "kim@example.com", remote="10.0.0.99")).status == 200


async def test_a_typo_prone_user_behind_a_nat_locks_out_only_themselves(hclient):
    for email in ("kim@example.com", "lee@example.com"):
        assert await register(hclient, email) == 201
    for _ in range(5):
        assert (await login(hclient, "kim@example.com", WRONG, remote="10.0.0.1")).status == 401
    assert (await login(hclient, "kim@example.com", remote="10.0.0.1")).status == 429
    assert (await login(hclient, "lee@example.com", remote="10.0.0.1")).status == 200  # same office address


@pytest.mark.parametrize("variant", ["KIM@Example.COM", "ｋｉｍ@example.com", " kim@example.com "])
async def test_email_variants_are_one_user(hclient, variant):
    assert await register(hclient, "kim@example.com") == 201
    assert await register(hclient, variant) == 409
    assert (await login(hclient, variant)).status == 200


async def test_accent_variants_are_other_users_on_both_databases(hclient):
    assert await register(hclient, "kim@example.com") == 201
    assert (await login(hclient, "kím@example.com")).status == 401  # not kim (MariaDB's collation said it was)
    assert await register(hclient, "kím@example.com", "other-Pass-2") == 201
    assert (await login(hclient, "kím@example.com", "other-Pass-2")).status == 200
    assert (await login(hclient, "kim@example.com")).status == 200
    assert await register(hclient, "STRASSE@example.com") == 201
    assert await register(hclient, "straße@example.com") == 409  # case-folded: ß is ss


async def test_accent_variants_are_separate_throttle_keys_and_users(hclient):
    assert await register(hclient, "kim@example.com") == 201
    for _ in range(5):
        assert (await login(hclient, "kím@example.com", WRONG)).status == 401
    assert (await login(hclient, "kím@example.com", WRONG)).status == 429
    assert (await login(hclient, "kim@example.com")).status == 200


async def test_registration_is_throttled_per_address(aiohttp_client, hard_settings, engine, clock):
    app = create_app(msgspec.structs.replace(hard_settings, register_max_per_address=3), clock=clock)
    app.middlewares.insert(0, fake_remote)
    client = await aiohttp_client(app)
    assert [await register(client, f"u{i}@example.com") for i in range(4)] == [201, 201, 201, 429]
    assert await register(client, "u9@example.com", remote="10.0.0.2") == 201
    await clock.advance(hard_settings.login_lockout_s + 1)
    assert await register(client, "u5@example.com") == 201


async def test_the_bcrypt_queue_is_bounded():
    hasher = PasswordHasher(cost=10, concurrency=1, max_waiting=2)
    hashed = await hasher.hash(PASSWORD)
    results = await asyncio.gather(*(hasher.verify(PASSWORD, hashed) for _ in range(5)), return_exceptions=True)
    assert results[:3] == [True, True, True]
    assert all(isinstance(r, HasherBusy) for r in results[3:])
    assert await hasher.verify(PASSWORD, hashed) is True  # room again once they finished


async def test_a_login_burst_past_the_bcrypt_queue_is_429_not_a_wait(aiohttp_client, hard_settings, engine, clock):
    app = create_app(msgspec.structs.replace(hard_settings, bcrypt_concurrency=1, bcrypt_queue=2), clock=clock)
    app.middlewares.insert(0, fake_remote)
    client = await aiohttp_client(app)
    assert await register(client, "kim@example.com") == 201
    burst = [login(client, "kim@example.com", remote=f"10.1.0.{i}") for i in range(12)]
    statuses = [resp.status for resp in await asyncio.gather(*burst)]
    assert statuses.count(200) >= 3 and statuses.count(429) >= 1
    assert set(statuses) <= {200, 429}


async def _token(client, email="kim@example.com", password=PASSWORD):
    resp = await login(client, email, password)
    assert resp.status == 200
    return {"Authorization": f"Bearer {(await resp.json())['access_token']}"}


async def test_logout_revokes_every_earlier_token(hclient):
    assert await register(hclient, "kim@example.com") == 201
    first, second = await _token(hclient), await _token(hclient)
    assert (await hclient.get("/accounts", headers=first)).status == 200
    assert (await hclient.post("/users/logout", headers=second)).status == 200
    for headers in (first, second):
        resp = await hclient.get("/accounts", headers=headers)
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "token_revoked"
    assert (await hclient.get("/accounts", headers=await _token(hclient))).status == 200
    assert (await hclient.post("/users/login", json={"email": "kim@example.com", "password": PASSWORD},
                               headers=first)).status == 200  # a stale header does not spoil a login


async def test_password_change_needs_the_old_password_and_revokes_old_tokens(hclient):
    assert await register(hclient, "kim@example.com") == 201
    old = await _token(hclient)
    resp = await hclient.post("/users/password", headers=old,
                              json={"old_password": WRONG, "new_password": "n3w-Password"})
    assert resp.status == 401
    resp = await hclient.post("/users/password", headers=old,
                              json={"old_password": PASSWORD, "new_password": "short"})
    assert resp.status == 422 and "new_password" in (await resp.json())["error"]["fields"]
    resp = await hclient.post("/users/password", headers=old,
                              json={"old_password": PASSWORD, "new_password": "n3w-Password"})
    assert resp.status == 200
    new = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
    assert (await hclient.get("/accounts", headers=old)).status == 401
    assert (await hclient.get("/accounts", headers=new)).status == 200
    assert (await login(hclient, "kim@example.com")).status == 401
    assert (await login(hclient, "kim@example.com", "n3w-Password")).status == 200


async def test_a_deleted_users_token_is_401(hclient, session_factory):
    assert await register(hclient, "kim@example.com") == 201
    headers = await _token(hclient)
    async with session_factory.begin() as session:
        user = await UserRepo(session).get_by_email("kim@example.com")
        await session.execute(delete(UserRow).where(UserRow.id == user.id))
    resp = await hclient.get("/accounts", headers=headers)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "token_revoked"


async def test_a_revoked_token_is_refused_on_the_websocket(hclient):
    assert await register(hclient, "kim@example.com") == 201
    headers = await _token(hclient)
    assert (await hclient.post("/users/logout", headers=headers)).status == 200
    ws = await hclient.ws_connect("/kis_socket")
    await ws.send_json({"type": "auth", "token": headers["Authorization"].split()[1], "strategy_type": "basic"})
    msg = await asyncio.wait_for(ws.receive_json(), 5)
    assert msg["type"] == "error" and msg["code"] == "token_revoked"
    await ws.close()


async def test_a_cached_token_version_is_replaced_at_once_by_logout(hclient):
    """The revocation check keeps the user's version in process; a logout here refuses the old
    token on the very next request, with no database read and no time passing."""
    cache = hclient.app[TOKEN_VERSIONS]
    assert await register(hclient, "kim@example.com") == 201
    headers = await _token(hclient)
    assert (await hclient.get("/accounts", headers=headers)).status == 200
    reads, hits = cache.reads, cache.hits
    assert (await hclient.get("/accounts", headers=headers)).status == 200
    assert (cache.reads, cache.hits) == (reads, hits + 1)  # answered from the cache
    assert (await hclient.post("/users/logout", headers=headers)).status == 200
    resp = await hclient.get("/accounts", headers=headers)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_revoked"
    assert cache.reads == reads  # the cache itself refused it
    fresh = await _token(hclient)
    assert (await hclient.get("/accounts", headers=fresh)).status == 200


async def test_a_cached_token_version_is_replaced_at_once_by_a_password_change(hclient):
    assert await register(hclient, "kim@example.com") == 201
    old = await _token(hclient)
    assert (await hclient.get("/accounts", headers=old)).status == 200  # cached now
    resp = await hclient.post("/users/password", headers=old,
                              json={"old_password": PASSWORD, "new_password": "n3w-Password"})
    assert resp.status == 200
    new = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
    assert (await hclient.get("/accounts", headers=old)).status == 401
    assert (await hclient.get("/accounts", headers=new)).status == 200


async def test_a_revocation_made_elsewhere_counts_within_token_cache_s(hclient, session_factory, clock):
    """Another node's logout (or an operator's edit) reaches this process's cache when the kept
    version is older than token_cache_s: the next request reads the database again."""
    assert await register(hclient, "kim@example.com") == 201
    headers = await _token(hclient)
    assert (await hclient.get("/accounts", headers=headers)).status == 200
    async with session_factory.begin() as session:
        user = await UserRepo(session).get_by_email("kim@example.com")
        await UserRepo(session).bump_token_version(user.id)  # as another node's logout does
    await clock.advance(hclient.app[SETTINGS].token_cache_s)
    resp = await hclient.get("/accounts", headers=headers)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_revoked"
