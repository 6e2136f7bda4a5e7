"""Orders, balances and risk controls are the caller's own; the kill switch stops every new order."""

from __future__ import annotations

from tests.web.orders_env import order, register

BUY = {"stock_code": "005930", "order_type": "buy", "quantity": 2}
OTHER = {"account_number": "60123456-01", "api_key": "PSzyxwvutsrqponm9876", "secret_key": "Qw8" * 60}


async def test_another_users_order_and_account_are_404(client, clock, make_user):
    _, alice = await make_user("alice@example.com")
    _, bob = await make_user("bob@example.com")
    alice_account = await register(client, alice)
    await register(client, bob, OTHER)
    status, placed = await order(client, clock, alice, BUY)
    assert status == 201
    assert (await client.get(f"/stocks/orders/{placed['order_id']}", headers=bob)).status == 404
    assert (await client.get("/stocks/orders/not-a-number", headers=bob)).status == 404
    assert (await (await client.get("/stocks/orders", headers=bob)).json())["orders"] == []
    assert (await client.get(f"/accounts/balance?account_id={alice_account}", headers=bob)).status == 404
    status, error = await order(client, clock, bob, {**BUY, "account_id": alice_account})
    assert status == 404, error
    assert (await client.post(f"/accounts/{alice_account}/halt", headers=bob)).status == 404
    resp = await client.get("/stocks/orders?stock_code=005930&status=filled", headers=alice)
    assert [o["order_id"] for o in (await resp.json())["orders"]] == [placed["order_id"]]
    resp = await client.get("/stocks/orders?status=rejected", headers=alice)
    assert (await resp.json())["orders"] == []
    assert (await client.get("/stocks/orders?status=lost", headers=alice)).status == 422


async def test_halt_stops_every_new_order_until_resumed(client, clock, make_user):
    _, owner = await make_user("owner@example.com")
    _, admin = await make_user("admin@example.com", role="admin")
    account = await register(client, owner)
    resp = await client.post(f"/accounts/{account}/halt", json={"reason": "going on holiday"}, headers=owner)
    assert resp.status == 200 and (await resp.json())["halted"] is True
    status, error = await order(client, clock, owner, BUY)
    assert status == 422 and error["error"]["code"] == "account_halted"
    assert "going on holiday" in error["error"]["message"]
    resp = await client.post(f"/accounts/{account}/resume", headers=admin)  # an admin may, too
    assert resp.status == 200 and (await resp.json())["halted"] is False
    status, _ = await order(client, clock, owner, BUY)
    assert status == 201
    resp = await client.get(f"/accounts/{account}/risk", headers=owner)
    view = await resp.json()
    assert view["max_order_value"] == 50_000_000 and view["overrides"]["max_order_value"] is None
    bad = await client.put(f"/accounts/{account}/risk", json={"max_order_value": -1}, headers=owner)
    assert bad.status == 422 and "max_order_value" in (await bad.json())["error"]["fields"]


async def test_a_user_may_tighten_risk_limits_but_only_an_admin_may_loosen_them(client, make_user, app_settings):
    from tests.web.orders_env import register

    _, owner = await make_user("owner@example.com")
    _, admin = await make_user("admin@example.com", role="admin")
    account = await register(client, owner)
    url = f"/accounts/{account}/risk"
    tight = {"max_order_value": app_settings.max_order_value // 2}
    resp = await client.put(url, json=tight, headers=owner)
    assert resp.status == 200 and (await resp.json())["max_order_value"] == app_settings.max_order_value // 2
    for loose in ({"max_order_value": app_settings.max_order_value + 1}, {"max_position_value": 0},
                  {"daily_loss_limit": app_settings.daily_loss_limit * 2}):
        resp = await client.put(url, json=loose, headers=owner)
        assert resp.status == 403, loose
        error = (await resp.json())["error"]
        assert error["code"] == "loosen_admin_only" and set(error["fields"]) == set(loose)
    assert (await (await client.get(url, headers=owner)).json())["max_order_value"] == tight["max_order_value"]
    assert (await client.put(url, json={"max_order_value": None}, headers=owner)).status == 200  # back to the setting
    resp = await client.put(url, json={"max_order_value": 0, "max_position_value": 0}, headers=admin)
    assert resp.status == 200 and (await resp.json())["max_order_value"] == 0


async def test_an_owner_may_not_resume_a_halt_an_admin_put_on_their_account(client, clock, make_user):
    _, owner = await make_user("owner@example.com")
    _, admin = await make_user("admin@example.com", role="admin")
    account = await register(client, owner)
    resp = await client.post(f"/accounts/{account}/halt", json={"reason": "under review"}, headers=admin)
    assert resp.status == 200 and (await resp.json())["halted_by"] == "admin"
    resp = await client.post(f"/accounts/{account}/resume", headers=owner)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "admin_halt"
    # halting again does not make it the owner's (then resumable) halt
    resp = await client.post(f"/accounts/{account}/halt", json={"reason": "mine now"}, headers=owner)
    view = await resp.json()
    assert resp.status == 200 and (view["halted_by"], view["halted_reason"]) == ("admin", "under review")
    assert (await client.post(f"/accounts/{account}/resume", headers=owner)).status == 403
    status, error = await order(client, clock, owner, BUY)
    assert status == 422 and error["error"]["code"] == "account_halted", error
    resp = await client.post(f"/accounts/{account}/resume", headers=admin)
    assert resp.status == 200 and (await resp.json())["halted"] is False
    # the owner's own halt stays theirs to lift
    resp = await client.post(f"/accounts/{account}/halt", headers=owner)
    assert (await resp.json())["halted_by"] == "owner"
    resp = await client.post(f"/accounts/{account}/resume", headers=owner)
    assert resp.status == 200 and (await resp.json())["halted_by"] == ""
    status, _ = await order(client, clock, owner, BUY)
    assert status == 201
