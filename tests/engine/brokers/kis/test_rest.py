"""KisRest: headers, EGW00201 back-off and retry, token re-issue on EGW00121, throttle."""

import asyncio

import aiohttp
import pytest

from engine.brokers.kis.auth import KisAuth
from engine.brokers.kis.errors import KisApiError, KisRateLimited, KisTransportError
from engine.brokers.kis.rest import KisRest
from engine.brokers.kis.simulator import SimulatorConfig
from engine.brokers.kis.throttle import Throttle
from engine.runtime.clock import ManualClock, WallClock

PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"
PARAMS = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"}


def _rest(http, url, clock, rate=1000.0, **kw) -> KisRest:
    auth = KisAuth(http, url, "app1", "sec1", clock, timeout_s=5)
    return KisRest(http, url, auth, Throttle(rate, clock), timeout_s=5, **kw)


async def test_rate_limit_answers_are_retried_after_a_backoff(start_simulator):
    async with start_simulator(SimulatorConfig(rest_rate_per_s=2)) as s, aiohttp.ClientSession() as http:
        rest = _rest(http, s.url, WallClock(), rate_limit_backoff_s=0.3)
        answers = await asyncio.gather(*(rest.get(PRICE, "FHKST01010100", PARAMS) for _ in range(4)))
        assert all(a.body["rt_cd"] == "0" for a in answers)
        assert rest.rate_limited >= 1 and s.sim.rate_limited["app1"] == rest.rate_limited


async def test_rate_limit_gives_up_after_the_retries(start_simulator):
    async with start_simulator(SimulatorConfig(rest_rate_per_s=1)) as s, aiohttp.ClientSession() as http:
        rest = _rest(http, s.url, WallClock(), rate_limit_retries=0, rate_limit_backoff_s=0.01)
        await rest.get(PRICE, "FHKST01010100", PARAMS)
        with pytest.raises(KisRateLimited) as info:
            await rest.get(PRICE, "FHKST01010100", PARAMS)
        assert (info.value.status, info.value.code) == (500, "EGW00201")


async def test_rejected_token_is_reissued_once(start_simulator):
    clock = ManualClock()
    async with start_simulator(SimulatorConfig(token_interval_s=0), clock) as s, aiohttp.ClientSession() as http:
        rest = _rest(http, s.url, clock)
        await rest.get(PRICE, "FHKST01010100", PARAMS)
        s.sim.tokens.clear()  # the server forgot every token (EGW00121)
        call = asyncio.create_task(rest.get(PRICE, "FHKST01010100", PARAMS))
        await clock.advance(60)  # the re-issue respects the one-a-minute rule
        async with asyncio.timeout(5):
            assert (await call).body["rt_cd"] == "0"
        assert s.sim.token_issuances["app1"] == 2


async def test_business_error_and_transport_error(start_simulator):
    async with start_simulator(SimulatorConfig()) as s, aiohttp.ClientSession() as http:
        rest = _rest(http, s.url, WallClock())
        with pytest.raises(KisApiError) as info:
            await rest.get(PRICE, "FHKST01010100", {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "1"})
        assert info.value.status == 200 and info.value.code == "SIM00422"
        port = s.port
    async with aiohttp.ClientSession() as http:
        rest = _rest(http, f"http://127.0.0.1:{port}", WallClock())
        with pytest.raises(KisTransportError):
            await rest.get(PRICE, "FHKST01010100", PARAMS)


async def test_throttle_spaces_calls_on_the_clock():
    clock = ManualClock()
    throttle = Throttle(2.0, clock)
    await throttle.acquire()
    second = asyncio.create_task(throttle.acquire())
    await clock.advance(0.4)
    assert not second.done()
    await clock.advance(0.1)
    async with asyncio.timeout(1):
        await second
    throttle.penalize(3.0)
    third = asyncio.create_task(throttle.acquire())
    await clock.advance(2.9)
    assert not third.done()
    await clock.advance(0.2)
    async with asyncio.timeout(1):
        await third
    assert throttle.waits == 2
