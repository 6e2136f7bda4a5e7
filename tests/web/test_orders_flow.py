"""The done-when scenario on the embedded default (paper broker, simulated market)."""

from __future__ import annotations

from tests.web.orders_env import drive, order, register

BUY = {"stock_code": "005930", "order_type": "buy", "quantity": 10}


async def test_buy_then_sell_moves_cash_by_fills_and_fees(client, clock, make_user, app_settings):
    _, headers = await make_user()
    await register(client, headers)
    status, body = await order(client, clock, headers, BUY)
    assert status == 201, body
    assert body["message"] == "주문 성공" and isinstance(body["order_id"], str)

    resp = await client.get(f"/stocks/orders/{body['order_id']}", headers=headers)
    bought = await resp.json()
    assert bought["status"] == "filled" and bought["filled_quantity"] == 10
    (fill,) = bought["fills"]
    value = 10 * fill["price"]
    assert fill["commission"] == value * 150 // 1_000_000 and fill["tax"] == 0

    resp = await drive(client, clock, client.get("/accounts/balance", headers=headers))
    balance = await resp.json()
    assert balance["cash_balance"] == app_settings.paper_initial_cash - value - fill["commission"]
    (held,) = balance["stock_balance"]
    assert held["stock_code"] == "005930" and held["quantity"] == 10
    assert held["average_price"] == fill["price"]
    assert held["evaluation"] == 10 * held["current_price"]
    assert balance["total_evaluation"] == balance["cash_balance"] + held["evaluation"]

    status, sold = await order(client, clock, headers, {**BUY, "order_type": "sell", "quantity": 5})
    assert status == 201, sold
    resp = await client.get("/stocks/orders", headers=headers)
    orders = (await resp.json())["orders"]
    assert [o["order_id"] for o in orders] == [sold["order_id"], body["order_id"]]  # newest first
    (sell_fill,) = orders[0]["fills"]
    proceeds = 5 * sell_fill["price"]
    assert sell_fill["tax"] == proceeds * 15 // 10_000  # June 2025, KOSPI: 0 % tax + 0.15 % rural special tax
    resp = await client.get("/accounts/balance", headers=headers)
    after = await resp.json()
    assert after["cash_balance"] == (balance["cash_balance"] + proceeds - sell_fill["commission"]
                                     - sell_fill["tax"])
    assert after["stock_balance"][0]["quantity"] == 5


async def test_same_idempotency_key_returns_the_first_order_with_one_fill(client, clock, make_user):
    _, headers = await make_user()
    await register(client, headers)
    keyed = {**headers, "Idempotency-Key": "buy-1"}
    status, first = await order(client, clock, keyed, BUY)
    assert status == 201
    status, again = await order(client, clock, keyed, BUY)
    assert status == 201 and again["order_id"] == first["order_id"]
    status, body = await order(client, clock, headers, {**BUY, "client_order_id": "buy-1"})
    assert status == 201 and body["order_id"] == first["order_id"]
    resp = await client.get("/stocks/orders", headers=headers)
    (only,) = (await resp.json())["orders"]
    assert len(only["fills"]) == 1 and only["client_order_id"] == "buy-1"

    status, clash = await order(client, clock, keyed, {**BUY, "quantity": 11})
    assert status == 409 and clash["error"]["code"] == "idempotency_conflict"
