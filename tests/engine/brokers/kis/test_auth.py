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
