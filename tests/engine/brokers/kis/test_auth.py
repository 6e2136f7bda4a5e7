"""Access token: cached, renewed near expiry, at most one issuance a minute."""

import asyncio

import aiohttp
import pytest

from engine.brokers.kis.auth import KisAuth
from engine.brokers.kis.errors import KisTokenError
from engine.brokers.kis.simulator import SimulatorConfig
from engine.runtime.clock import ManualClock


async def test_token_is_cached_and_renewed_near_expiry(start_simulator):
    clock = ManualClock()
    async with start_simulator(SimulatorConfig(token_interval_s=0), clock) as s, aiohttp.ClientSession() as http:
        auth = KisAuth(http, s.url, "app1", "sec1", clock)
        first = await auth.access_token()
        assert await auth.access_token() == first
        results = await asyncio.gather(*(auth.access_token() for _ in range(5)))
        assert set(results) == {first} and s.sim.token_issuances["app1"] == 1
        await clock.advance(86_400 - 600)  # 10 minutes before expiry: renew
        second = await auth.access_token()
        assert second != first and s.sim.token_issuances["app1"] == 2


async def test_reissue_waits_for_the_minute(start_simulator):
    clock = ManualClock()
    async with start_simulator(SimulatorConfig(token_interval_s=0), clock) as s, aiohttp.ClientSession() as http:
        auth = KisAuth(http, s.url, "app1", "sec1", clock)
        token = await auth.access_token()
        auth.invalidate_token(token)
        pending = asyncio.create_task(auth.access_token())
        await clock.advance(59)
        assert not pending.done() and s.sim.token_issuances["app1"] == 1
        await clock.advance(1)
        async with asyncio.timeout(5):
            assert await pending != token
        assert s.sim.token_issuances["app1"] == 2


async def test_egw00133_is_a_typed_error(start_simulator):
    async with start_simulator(SimulatorConfig()) as s, aiohttp.ClientSession() as http:
        await KisAuth(http, s.url, "app1", "sec1", ManualClock()).access_token()
        other_process = KisAuth(http, s.url, "app1", "sec1", ManualClock())
        with pytest.raises(KisTokenError) as info:
            await other_process.access_token()
        assert (info.value.status, info.value.code) == (403, "EGW00133")


async def test_approval_key_is_cached_until_invalidated(start_simulator):
    async with start_simulator(SimulatorConfig()) as s, aiohttp.ClientSession() as http:
        auth = KisAuth(http, s.url, "app1", "sec1", ManualClock())
        key = await auth.approval_key()
        assert await auth.approval_key() == key and s.sim.approvals[key] == "app1"
        auth.invalidate_approval()
        assert await auth.approval_key() != key
        assert "sec1" not in repr(auth)


async def test_approval_key_is_renewed_after_a_day(start_simulator):
    clock = ManualClock()
    async with start_simulator(SimulatorConfig(), clock) as s, aiohttp.ClientSession() as http:
        auth = KisAuth(http, s.url, "app1", "sec1", clock)
        first = await auth.approval_key()
        await clock.advance(86_400 - 1)
        assert await auth.approval_key() == first and auth.approvals == 1
        await clock.advance(1)  # a day old: fetched again
        assert await auth.approval_key() != first and auth.approvals == 2


async def test_a_stored_token_is_reused_and_egw00133_marks_the_minute(start_simulator):
    from engine.brokers.kis.auth import StoredToken

    class Store:
        def __init__(self) -> None:
            self.saved: dict = {}

        async def load(self, scope, app_key):
            return self.saved.get((scope, app_key))

        async def save(self, scope, app_key, token):
            self.saved[(scope, app_key)] = token

    clock = ManualClock()
    async with start_simulator(SimulatorConfig(), clock) as s, aiohttp.ClientSession() as http:
        store = Store()
        first = KisAuth(http, s.url, "app1", "sec1", clock, store=store)
        token = await first.access_token()
        again = KisAuth(http, s.url, "app1", "sec1", clock, store=store, max_wait_s=1.0)  # "a restart"
        assert await again.access_token() == token and s.sim.token_issuances["app1"] == 1
        (saved,) = store.saved.values()
        assert isinstance(saved, StoredToken) and saved.token == token
        other = KisAuth(http, s.url, "app2", "sec2", clock, max_wait_s=1.0)
        s.sim.issue_token("app2", "sec2")  # someone else used app2's minute
        with pytest.raises(KisTokenError) as first_refusal:
            await other.access_token()
        assert first_refusal.value.code == "EGW00133"
        with pytest.raises(KisTokenError, match="the next in"):  # no second try inside the minute
            await other.access_token()
        assert s.sim.token_issuances["app2"] == 1
