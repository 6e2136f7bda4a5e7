"""Orders, fills, cancels and halts each leave one INFO line an operator can audit from, with
no secret in it (account number, app key and secret, token, email)."""

from __future__ import annotations

import logging

from tests.web.orders_env import PAPER, order, register

BUY = {"stock_code": "005930", "order_type": "buy", "quantity": 3}


async def test_orders_fills_cancels_and_halts_are_logged_at_info(client, clock, make_user, caplog):
    _, headers = await make_user("auditor@example.com")
    account = await register(client, headers)
    caplog.set_level(logging.INFO)
    got, body = await order(client, clock, headers, BUY)
    assert got == 201, body
    order_id = int(body["order_id"])
    got, body = await order(client, clock, headers, {**BUY, "price": 27000})  # far below: rests, then cancel
    assert got in (201, 202), body
    resting = int(body["order_id"])
    resp = await client.delete(f"/stocks/orders/{resting}", headers=headers)
    assert resp.status in (200, 202), await resp.text()
    assert (await client.post(f"/accounts/{account}/halt", json={"reason": "audit"}, headers=headers)).status == 200
    assert (await client.post(f"/accounts/{account}/resume", headers=headers)).status == 200
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    mine = [line for line in lines if f"order {order_id} " in line]
    assert any(" accepted: buy 005930 3 @ market" in line for line in mine), lines
    assert any(" filled: buy 005930 3 " in line and "filled 3 for" in line for line in mine), lines
    assert any(f"order {resting} cancelled" in line for line in lines), lines
    assert any(f"account {account} halted by user" in line and "audit" in line for line in lines)
    assert any(f"account {account} resumed by user" in line for line in lines)
    text = "\n".join(lines)
    token = headers["Authorization"].split()[1]
    for secret in (PAPER["account_number"], PAPER["account_number"].replace("-", ""), PAPER["api_key"],
                   PAPER["secret_key"], token, "auditor@example.com"):
        assert secret not in text
