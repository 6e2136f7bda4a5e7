"""KIS tokens survive restarts; one owner per app key; start-up never dies of a broker (issue 12).

The KIS simulator on 127.0.0.1 enforces KIS's one token issuance a minute per app
key (EGW00133) on its clock, so a restart within the minute that asked for a
new token would be refused. The restart test runs on market time: a clock inside a
session that moves at wall speed (``SessionClock``), the simulator's and the server's.
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from sqlalchemy import select

from engine.brokers.kis.simulator import SimulatorConfig
from engine.runtime import ManualClock, WallClock
from storage.kis_tokens import KisTokenRow
from tests.engine.brokers.kis.broker_env import APP_KEY, APP_SECRET, HTS_ID
from tests.engine.brokers.kis.helpers import SessionClock, running_simulator
from tests.web.orders_env import register
from tests.web.helpers import common_price as _common_price
from web.app import create_app
from web.keys import SOURCE
from web.trading import RECONCILE, keyring

pytestmark = pytest.mark.timeout(60)
KIS = {"account_number": "50123456-01", "api_key": APP_KEY, "secret_key": APP_SECRET, "broker": "kis",
       "hts_id": HTS_ID}


def _settings(app_settings, sim, **extra):
    return msgspec.structs.replace(
        app_settings, kis_rest_url=sim.url, kis_ws_url=sim.ws_url, kis_rest_rate_per_s=1000.0,
        kis_timeout_s=2.0, order_timeout_s=5.0, **extra)


async def test_a_restart_within_the_minute_reuses_the_token_of_the_shared_app_key(
        aiohttp_client, app_settings, engine, session_factory, make_user):
    clock = SessionClock()  # market hours respected: inside a session, at wall speed (tokens' minutes)
    async with running_simulator(SimulatorConfig(rest_rate_per_s=1000), clock) as sim:
        # the normal retail set-up: market data and the account on one app key
        settings = _settings(app_settings, sim, market_data="kis", kis_app_key=APP_KEY, kis_app_secret=APP_SECRET,
                             ignore_market_hours=False)
        app = create_app(settings, clock=clock)
        client = await aiohttp_client(app)
        _, headers = await make_user()
        account = await register(client, headers, KIS)
        code, price = _common_price(sim)
        resp = await client.post("/stocks/order", headers=headers, json={
            "stock_code": code, "order_type": "buy", "quantity": 1, "price": price, "client_order_id": "open-1"})
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["order_id"]
        ring = keyring(app)
        assert app[SOURCE].rest is ring.known(APP_KEY, False)  # one KisRest: one token, one throttle
        bars = await app[SOURCE].backfill(code, "1Min", 5)  # the market-data side calls KIS too
        assert bars
        assert sim.sim.token_issuances[APP_KEY] == 1
        async with session_factory() as session:
            (row,) = (await session.execute(select(KisTokenRow))).scalars()
        (token,) = sim.sim.tokens
        assert token not in row.token_enc and APP_KEY not in row.key_hash  # encrypted, keyed hash
        await client.close()

        # restarted inside the minute, with an open order to reconcile: listens, no new token
        app = create_app(settings, clock=clock)
        client = await aiohttp_client(app)
        ready = await client.get("/ready")
        assert ready.status == 200 and (await ready.json())["waiting_accounts"] == []
        assert app[RECONCILE].done.is_set()
        resp = await client.post("/stocks/order", headers=headers, json={
            "stock_code": code, "order_type": "buy", "quantity": 1, "price": price, "client_order_id": "open-2",
            "account_id": account})
        assert resp.status == 201, await resp.text()
        assert sim.sim.token_issuances[APP_KEY] == 1  # the stored token served both processes
        await client.close()
        sim.sim.orders.release()


async def test_no_token_yet_the_server_listens_and_orders_wait_with_503(
        aiohttp_client, app_settings, engine, session_factory, make_user):
    clock = ManualClock()
    async with running_simulator(SimulatorConfig(rest_rate_per_s=1000)) as sim:
        settings = _settings(app_settings, sim, reconcile_retry_s=5.0)
        app = create_app(settings, clock=WallClock())
        client = await aiohttp_client(app)
        _, headers = await make_user()
        account = await register(client, headers, KIS)
        code, price = _common_price(sim)
        body = {"stock_code": code, "order_type": "buy", "quantity": 1, "price": price, "account_id": account}
        assert (await client.post("/stocks/order", headers=headers, json=body)).status == 201
        await client.close()
        async with session_factory.begin() as session:  # the token is lost (say, its data key was dropped)
            for row in (await session.execute(select(KisTokenRow))).scalars():
                await session.delete(row)
        sim.sim._last_token.clear()
        sim.sim.issue_token(APP_KEY, APP_SECRET)  # ... and another process used this minute's issuance

        app = create_app(settings, clock=clock)
        client = await aiohttp_client(app)  # start-up survives EGW00133
        ready = await (await client.get("/ready")).json()
        assert ready["waiting_accounts"] == [account] and "EGW00133" in ready["checks"]["accounts"]
        resp = await client.post("/stocks/order", headers=headers, json=body)
        assert resp.status == 503 and resp.headers["Retry-After"] == "5"
        assert (await resp.json())["error"]["code"] == "broker_unavailable"

        sim.sim._last_token.clear()  # KIS's minute is over
        await clock.advance(120)  # ours too: the next background retry (5, 10, 20, 40 s apart) reconciles
        async with asyncio.timeout(10):
            await app[RECONCILE].done.wait()
        assert (await (await client.get("/ready")).json())["waiting_accounts"] == []
        await client.close()
        sim.sim.orders.release()


async def test_an_order_whose_balance_the_broker_cannot_give_is_503_not_500(
        aiohttp_client, app_settings, engine, make_user):
    async with running_simulator(SimulatorConfig(rest_rate_per_s=1000)) as sim:
        settings = _settings(app_settings, sim)
        client = await aiohttp_client(create_app(settings, clock=WallClock()))
        _, headers = await make_user()
        account = await register(client, headers, KIS)  # the check issued this minute's token
        sim.sim.tokens.clear()  # KIS dropped it (EGW00121): a new one only after the minute
        code, price = _common_price(sim)
        resp = await client.post("/stocks/order", headers=headers, json={
            "stock_code": code, "order_type": "buy", "quantity": 1, "price": price, "account_id": account})
        assert resp.status == 503, await resp.text()
        assert (await resp.json())["error"]["code"] == "broker_unavailable"
        assert resp.headers["Retry-After"]
        await client.close()


async def test_registration_checks_kis_credentials(aiohttp_client, app_settings, engine, make_user):
    config = SimulatorConfig(rest_rate_per_s=1000, apps=((APP_KEY, APP_SECRET),))
    async with running_simulator(config) as sim:
        client = await aiohttp_client(create_app(_settings(app_settings, sim), clock=WallClock()))
        _, headers = await make_user()
        for bad, code in (({"api_key": "bogus-key"}, "EGW00103"), ({"secret_key": "bogus-secret"}, "EGW00105")):
            resp = await client.post("/accounts/register", headers=headers, json={**KIS, **bad})
            assert resp.status == 422, await resp.text()
            error = (await resp.json())["error"]
            assert error["code"] == "bad_credentials" and code in error["message"]
            assert "유효하지 않은" in error["message"]  # the broker's own words
        assert (await (await client.get("/accounts", headers=headers)).json())["accounts"] == []
        await register(client, headers, KIS)
        await register(client, headers, {**KIS, "account_number": "50123457-01"})
        assert sim.sim.token_issuances[APP_KEY] == 1  # the check used the key's one token
        await client.close()


async def test_registration_when_kis_cannot_answer_is_503_with_retry_after(
        aiohttp_client, app_settings, engine, make_user):
    async with running_simulator(SimulatorConfig(rest_rate_per_s=1000)) as sim:
        sim.sim.issue_token(APP_KEY, APP_SECRET)  # this minute's issuance is used elsewhere
        client = await aiohttp_client(create_app(_settings(app_settings, sim), clock=WallClock()))
        _, headers = await make_user()
        resp = await client.post("/accounts/register", headers=headers, json=KIS)
        assert resp.status == 503 and resp.headers["Retry-After"] == "60"
        assert (await resp.json())["error"]["code"] == "broker_unavailable"
        await client.close()
