"""Every check before sending is a clear 4xx naming its rule; nothing is journalled for it."""

from __future__ import annotations

import msgspec
import pytest

from engine.brokers.sim import base_price
from engine.market.krx import price_limits
from tests.web.orders_env import as_admin, order, register

BUY = {"stock_code": "005930", "order_type": "buy", "quantity": 10}
BASE = base_price("005930")  # 37,200: tick 50, limits 26,050 .. 48,350


@pytest.mark.parametrize("body, status, code, field", [
    ({**BUY, "quantity": 0}, 422, "invalid_quantity", "quantity"),
    ({**BUY, "quantity": -3}, 422, "invalid_quantity", "quantity"),
    ({**BUY, "quantity": 1.5}, 422, "invalid", "quantity"),
    ({**BUY, "stock_code": "5930"}, 422, "invalid", "stock_code"),
    ({**BUY, "order_type": "short"}, 422, "invalid", "order_type"),
    ({**BUY, "colour": "red"}, 422, "invalid", "colour"),
    ({**BUY, "price": BASE + 10}, 422, "off_tick", "price"),
    ({**BUY, "price": price_limits(BASE)[1] + 50}, 422, "outside_price_limits", "price"),
    ({**BUY, "price": price_limits(BASE)[0] - 50}, 422, "outside_price_limits", "price"),
    ({**BUY, "order_type": "sell"}, 422, "insufficient_holdings", "quantity"),
])
async def test_bad_orders_are_refused_naming_the_rule(client, clock, make_user, body, status, code, field):
    _, headers = await make_user()
    await register(client, headers)
    got, error = await order(client, clock, headers, body)
    assert got == status, error
    assert error["error"]["code"] == code and field in error["error"]["fields"]
    resp = await client.get("/stocks/orders", headers=headers)
    assert (await resp.json())["orders"] == []


async def test_malformed_json_is_400_and_no_account_is_422(client, clock, make_user):
    _, headers = await make_user()
    resp = await client.post("/stocks/order", data=b"{nope", headers=headers)
    assert resp.status == 400
    got, error = await order(client, clock, headers, BUY)
    assert got == 422 and error["error"]["code"] == "no_account"


async def test_buying_power_counts_the_fees(client, clock, make_user, app_settings):
    _, headers = await make_user()
    await register(client, headers)
    shares = app_settings.paper_initial_cash // BASE  # the whole cash at the base price, fees not covered
    limit = {**BUY, "price": BASE, "quantity": shares}
    account = (await (await client.get("/accounts", headers=headers)).json())["accounts"][0]["account_id"]
    resp = await client.put(f"/accounts/{account}/risk", json={"max_order_value": 0, "max_position_value": 0},
                            headers=await as_admin(client, headers))
    assert resp.status == 200
    got, error = await order(client, clock, headers, limit)
    assert got == 422 and error["error"]["code"] == "insufficient_cash"
    assert "fees" in error["error"]["message"]
    got, body = await order(client, clock, headers, {**limit, "quantity": shares - 1})  # room for the fees
    assert got == 201, body


async def test_outside_the_session_orders_are_refused(aiohttp_client, app_settings, engine, clock, make_user):
    from web.app import create_app

    closed = msgspec.structs.replace(app_settings, ignore_market_hours=False)  # the clock says Sunday night
    client = await aiohttp_client(create_app(closed, clock=clock))
    _, headers = await make_user()
    await register(client, headers)
    got, error = await order(client, clock, headers, {**BUY, "price": BASE})
    assert got == 422 and error["error"]["code"] == "market_closed"


async def test_limits_name_themselves(client, clock, make_user):
    _, headers = await make_user()
    account = await register(client, headers)
    await client.put(f"/accounts/{account}/risk", json={"max_order_value": BASE * 5}, headers=headers)
    got, error = await order(client, clock, headers, {**BUY, "price": BASE})
    assert got == 422 and error["error"]["code"] == "max_order_value"
    assert str(BASE * 5) in error["error"]["message"]
    await client.put(f"/accounts/{account}/risk", json={"max_position_value": BASE * 15}, headers=headers)
    got, body = await order(client, clock, headers, {**BUY, "quantity": 10})
    assert got == 201, body
    got, error = await order(client, clock, headers, {**BUY, "quantity": 10})
    assert got == 422 and error["error"]["code"] == "max_position_value"


async def test_a_realised_loss_past_the_daily_limit_halts_buys_not_sells(client, clock, make_user):
    _, headers = await make_user()
    account = await register(client, headers)
    await client.put(f"/accounts/{account}/risk", json={"daily_loss_limit": 1}, headers=headers)
    assert (await order(client, clock, headers, BUY))[0] == 201
    assert (await order(client, clock, headers, {**BUY, "order_type": "sell", "quantity": 5}))[0] == 201
    got, error = await order(client, clock, headers, BUY)  # spread and fees made the round trip a loss
    assert got == 422 and error["error"]["code"] == "daily_loss_limit"
    got, body = await order(client, clock, headers, {**BUY, "order_type": "sell", "quantity": 5})
    assert got == 201, body
