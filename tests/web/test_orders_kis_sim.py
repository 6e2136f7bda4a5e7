"""A KIS account end to end: the app's default KisBroker against ``autotrader kis-sim`` on 127.0.0.1."""

from __future__ import annotations

import msgspec

from engine.brokers.kis.simulator import SimulatorConfig, running_simulator
from engine.market.session_clock import SessionClock
from engine.runtime import WallClock
from tests.web.helpers import KIS, common_price
from tests.web.orders_env import register
from web.app import create_app


async def test_a_kis_order_reaches_the_simulator_once(aiohttp_client, app_settings, engine, make_user):
    async with running_simulator(SimulatorConfig(rest_rate_per_s=1000)) as sim:
        settings = msgspec.structs.replace(
            app_settings, kis_rest_url=sim.url, kis_ws_url=sim.ws_url, kis_rest_rate_per_s=1000.0,
            kis_timeout_s=2.0)
        app = create_app(settings, clock=WallClock())
        client = await aiohttp_client(app)
        _, headers = await make_user()
        await register(client, headers, KIS)
        code, price = common_price(sim)
        body = {"stock_code": code, "order_type": "buy", "quantity": 1, "price": price,
                "client_order_id": "kis-1"}
        resp = await client.post("/stocks/order", json=body, headers=headers)
        assert resp.status == 201, await resp.text()
        again = await client.post("/stocks/order", json=body, headers=headers)
        assert (await again.json())["order_id"] == (await resp.json())["order_id"]
        assert len(sim.sim.orders.orders) == 1  # the repeat was answered from the journal
        (order,) = (await (await client.get("/stocks/orders", headers=headers)).json())["orders"]
        assert order["broker_order_no"] and order["status"] in ("accepted", "partially_filled", "filled")
        balance = await client.get("/accounts/balance", headers=headers)
        assert balance.status == 200 and isinstance((await balance.json())["cash_balance"], int)
        await client.close()
        sim.sim.orders.release()


async def test_accounts_sharing_an_app_key_share_its_token_and_throttle(aiohttp_client, app_settings, engine,
                                                                       make_user):
    async with running_simulator(SimulatorConfig(rest_rate_per_s=1000)) as sim:
        settings = msgspec.structs.replace(
            app_settings, kis_rest_url=sim.url, kis_ws_url=sim.ws_url, kis_rest_rate_per_s=1000.0,
            kis_timeout_s=2.0)
        client = await aiohttp_client(create_app(settings, clock=WallClock()))
        _, headers = await make_user()
        first = await register(client, headers, KIS)
        second = await register(client, headers, {**KIS, "account_number": "50123457-01"})
        code, price = common_price(sim)
        for account_id, key in ((first, "a"), (second, "b")):
            resp = await client.post("/stocks/order", headers=headers, json={
                "stock_code": code, "order_type": "buy", "quantity": 1, "price": price,
                "client_order_id": key, "account_id": account_id})
            assert resp.status == 201, await resp.text()
        assert sum(sim.sim.token_issuances.values()) == 1  # one token per app key: one issuance a minute at KIS
        await client.close()
        sim.sim.orders.release()


async def test_a_kis_order_is_modified_then_cancelled_through_order_rvsecncl(aiohttp_client, app_settings, engine,
                                                                            make_user):
    from engine.market.krx import price_limits, round_to_tick, tick_size

    async with running_simulator(SimulatorConfig(rest_rate_per_s=1000)) as sim:
        settings = msgspec.structs.replace(
            app_settings, kis_rest_url=sim.url, kis_ws_url=sim.ws_url, kis_rest_rate_per_s=1000.0,
            kis_timeout_s=2.0)
        client = await aiohttp_client(create_app(settings, clock=WallClock()))
        _, headers = await make_user()
        await register(client, headers, KIS)
        code, price = common_price(sim)
        lower = price_limits(sim.sim.market.state(code).prev_close)[0]
        low = round_to_tick((lower + price) // 2, "up")  # below the market, inside the limits: rests
        resp = await client.post("/stocks/order", headers=headers, json={
            "stock_code": code, "order_type": "buy", "quantity": 5, "price": low})
        assert resp.status == 201, await resp.text()
        url = f"/stocks/orders/{(await resp.json())['order_id']}"
        higher = low + tick_size(low)
        resp = await client.patch(url, json={"price": higher, "quantity": 3}, headers=headers)
        assert resp.status == 200, await resp.text()
        modified = await resp.json()
        (child,) = [o for o in sim.sim.orders.orders if o.orgn and not o.is_cancel]
        assert (modified["price"], modified["quantity"], modified["broker_order_no"]) == (higher, 3, child.odno)
        resp = await client.delete(url, headers=headers)
        assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
        assert all(not o.open for o in sim.sim.orders.orders)  # nothing rests at KIS any more
        resp = await client.delete(url, headers=headers)
        assert resp.status == 409
        await client.close()
        sim.sim.orders.release()


async def test_a_kis_balance_shows_each_holding_s_market_once_learnt(aiohttp_client, app_settings, engine,
                                                                     make_user):
    """inquire-balance does not say a holding's market: null until search-info told it (in the
    background, the balance answered at once), then KOSPI / KOSDAQ, kept for the process."""
    from engine.brokers.kis.listings import SEARCH_INFO_PATH
    from web.trading import KIS_KEYRING

    async with running_simulator(SimulatorConfig(rest_rate_per_s=1000)) as sim:
        sim.sim.orders.open_account("5012345601", cash=1_000_000, app_key=KIS["api_key"],
                                    holdings={"000660": (3, 46_000), "005930": (5, 37_000)})
        calls = []
        tr_ids, answer = sim.sim.routes[("GET", SEARCH_INFO_PATH)]

        async def counted(simulator, request, tr_id):
            calls.append(request.query["PDNO"])
            return await answer(simulator, request, tr_id)

        sim.sim.add_route("GET", SEARCH_INFO_PATH, tr_ids, counted)
        settings = msgspec.structs.replace(
            app_settings, kis_rest_url=sim.url, kis_ws_url=sim.ws_url, kis_rest_rate_per_s=1000.0,
            kis_timeout_s=2.0, balance_cache_s=0)
        client = await aiohttp_client(create_app(settings, clock=WallClock()))
        _, headers = await make_user()
        await register(client, headers, KIS)
        first = await (await client.get("/accounts/balance", headers=headers)).json()
        assert {h["stock_code"]: h["market"] for h in first["stock_balance"]} == {"000660": None, "005930": None}
        await client.app[KIS_KEYRING].listings.settled()
        after = await (await client.get("/accounts/balance", headers=headers)).json()
        assert {h["stock_code"]: h["market"] for h in after["stock_balance"]} == {
            "000660": "KOSDAQ", "005930": "KOSPI"}
        assert sorted(calls) == ["000660", "005930"]  # once per code
        await client.close()
        sim.sim.orders.release()


async def test_kis_orders_do_not_each_cost_a_balance_inquiry_and_still_reserve_their_cash(
        aiohttp_client, app_settings, engine, make_user):
    """Issue 17 §3 (on KIS the app key's rate limit is the bound): the risk checks read the balance
    (inquire-balance + inquire-psbl-order, 2 REST calls) once per cache window, not once per order,
    and the orders taken since that read still reserve their cash (hand-computed below)."""
    from engine.market.krx import price_limits, round_to_tick
    from engine.risk import Fees

    clock = SessionClock()  # market hours respected, inside a session
    async with running_simulator(SimulatorConfig(rest_rate_per_s=1000), clock) as sim:
        settings = msgspec.structs.replace(
            app_settings, kis_rest_url=sim.url, kis_ws_url=sim.ws_url, kis_rest_rate_per_s=1000.0,
            kis_timeout_s=2.0, balance_cache_s=600.0, max_position_value=0, max_order_value=0,
            ignore_market_hours=False)
        client = await aiohttp_client(create_app(settings, clock=clock))
        _, headers = await make_user()
        await register(client, headers, KIS)
        code, price = common_price(sim)
        lower = price_limits(sim.sim.market.state(code).prev_close)[0]
        low = round_to_tick((lower + price) // 2, "up")  # rests below the market
        before = (await (await client.get("/accounts/balance", headers=headers)).json())["orderable_cash"]
        calls = (sim.sim.tr_calls["TTTC8434R"], sim.sim.tr_calls["TTTC8908R"])
        for i in range(5):
            resp = await client.post("/stocks/order", headers=headers, json={
                "stock_code": code, "order_type": "buy", "quantity": 10, "price": low, "client_order_id": f"r{i}"})
            assert resp.status == 201, await resp.text()
        assert (sim.sim.tr_calls["TTTC8434R"], sim.sim.tr_calls["TTTC8908R"]) == calls  # no inquiry per order
        cost = Fees(commission_pct=settings.commission_pct).buy_cost(10 * low)
        after = (await (await client.get("/accounts/balance", headers=headers)).json())["orderable_cash"]
        assert after == before - 5 * cost  # the five open buys reserve value + commission each
        too_many = after // low + 1
        resp = await client.post("/stocks/order", headers=headers, json={
            "stock_code": code, "order_type": "buy", "quantity": too_many, "price": low})
        assert resp.status == 422 and (await resp.json())["error"]["code"] == "insufficient_cash", await resp.text()
        assert (sim.sim.tr_calls["TTTC8434R"], sim.sim.tr_calls["TTTC8908R"]) == calls
        await client.close()
        sim.sim.orders.release()
