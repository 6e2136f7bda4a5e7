"""Cancel, modify, reservations, answers that never lie, day-order expiry: through the running app.

Paper account: 100,000,000 KRW; commission 0.015 % (floor), sell tax 0.18 %. 005930's previous
close in the simulated market is 37,200 (limits 26,050..48,350, tick 50): a buy limit at 33,000
rests (the walk starts at the close). Every money figure below is computed by hand in its comment.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import msgspec
import pytest
from sqlalchemy import func, select

from actors import paths
from actors.account import AccountActor
from actors.account_hub import AccountRef
from actors.account_messages import PlaceOrder
from engine.brokers.sim import base_price
from engine.runtime import MailboxSpec, ManualClock
from storage.models import OrderRow
from tests.web.orders_env import as_admin, drive, order, register
from tests.web.helpers import connect, until
from web.app import create_app
from web.keys import SYSTEM as SYSTEM_KEY

assert base_price("005930") == 37_200
REST = 33_000


def limit(qty, price=REST, side="buy"):
    return {"stock_code": "005930", "order_type": side, "quantity": qty, "price": price}


async def no_limits(client, headers, account_id, **overrides):
    body = {"max_order_value": 0, "max_position_value": 0, **overrides}
    resp = await client.put(f"/accounts/{account_id}/risk", json=body, headers=await as_admin(client, headers))
    assert resp.status == 200, await resp.text()


async def balance(client, headers):
    resp = await client.get("/accounts/balance", headers=headers)
    assert resp.status == 200
    return await resp.json()


async def test_a_resting_buy_reserves_cash_and_a_cancel_releases_it(client, clock, make_user):
    _, alice = await make_user("alice@example.com")
    _, bob = await make_user("bob@example.com")
    account = await register(client, alice)
    await no_limits(client, alice, account)
    ws = await connect(client, alice)
    status, first = await order(client, clock, alice, limit(1_800))  # 59,400,000 + 8,910 commission
    assert status == 201
    cash = await balance(client, alice)
    assert cash["cash_balance"] == 100_000_000 and cash["orderable_cash"] == 100_000_000 - 59_408_910
    assert cash["settlement_d2"] == 100_000_000  # the paper account settles at once: nothing pending

    status, refused = await order(client, clock, alice, limit(1_300))  # 42,900,000 + 6,435 > 40,591,090
    assert status == 422 and refused["error"]["code"] == "insufficient_cash"
    assert "40591090" in refused["error"]["message"]

    assert (await client.delete(f"/stocks/orders/{first['order_id']}", headers=bob)).status == 404
    resp = await client.delete(f"/stocks/orders/{first['order_id']}", headers=alice)
    assert resp.status == 200
    view = await resp.json()
    assert view["status"] == "cancelled" and view["filled_quantity"] == 0 and view["pending_action"] is None
    events = [m["event"] for m in await until(ws, "order", 2)]
    assert events == ["accepted", "cancelled"]
    assert (await balance(client, alice))["orderable_cash"] == 100_000_000

    again = await client.delete(f"/stocks/orders/{first['order_id']}", headers=alice)
    error = (await again.json())["error"]
    assert again.status == 409 and error["code"] == "not_cancellable" and "cancelled" in error["message"]
    assert error["fields"] == {"status": "cancelled"}
    status, _ = await order(client, clock, alice, limit(1_300))  # the released cash buys it now
    assert status == 201
    await ws.close()


async def test_modify_checks_its_change_and_moves_the_reservation(client, clock, make_user):
    _, headers = await make_user()
    account = await register(client, headers)
    await no_limits(client, headers, account)
    ws = await connect(client, headers)
    status, placed = await order(client, clock, headers, limit(10))
    assert status == 201
    url = f"/stocks/orders/{placed['order_id']}"
    for body, code in [({}, "nothing_to_modify"), ({"price": 33_010}, "off_tick"),
                       ({"price": 50_000}, "outside_price_limits"), ({"quantity": 11}, "invalid_quantity"),
                       ({"price": REST, "quantity": 10}, "nothing_to_modify")]:
        resp = await client.patch(url, json=body, headers=headers)
        assert resp.status == 422 and (await resp.json())["error"]["code"] == code, body
    resp = await client.patch(url, json={"price": 33_500, "quantity": 6}, headers=headers)
    assert resp.status == 200
    view = await resp.json()
    assert (view["price"], view["quantity"], view["status"]) == (33_500, 6, "accepted")
    # 6 x 33,500 = 201,000; commission 201,000 x 0.015 % = 30.15 -> 30
    assert (await balance(client, headers))["orderable_cash"] == 100_000_000 - 201_030
    accepted, modified = await until(ws, "order", 2)
    assert (accepted["event"], modified["event"]) == ("accepted", "modified")
    assert (modified["order"]["price"], modified["order"]["quantity"]) == (33_500, 6)
    await ws.close()

    status, market = await order(client, clock, headers, {"stock_code": "005930", "order_type": "buy",
                                                          "quantity": 1})
    assert status == 201
    resp = await client.patch(f"/stocks/orders/{market['order_id']}", json={"quantity": 1}, headers=headers)
    error = (await resp.json())["error"]
    assert resp.status == 409 and error["code"] == "not_modifiable" and "filled" in error["message"]


async def test_open_sells_reserve_their_shares_and_open_buys_count_for_the_position_limit(client, clock,
                                                                                         make_user):
    _, headers = await make_user()
    account = await register(client, headers)
    await no_limits(client, headers, account, max_position_value=5_000_000)
    status, _ = await order(client, clock, headers, {"stock_code": "005930", "order_type": "buy",
                                                     "quantity": 10})
    assert status == 201
    status, _ = await order(client, clock, headers, limit(10, 48_000, "sell"))
    assert status == 201  # rests far above the market
    status, second = await order(client, clock, headers, limit(10, 48_000, "sell"))
    assert status == 422 and second["error"]["code"] == "insufficient_holdings"
    stock = (await balance(client, headers))["stock_balance"][0]
    assert (stock["quantity"], stock["orderable_quantity"]) == (10, 0)

    status, _ = await order(client, clock, headers, limit(100))  # 3,300,000 open, 10 shares held
    assert status == 201
    status, over = await order(client, clock, headers, limit(100))  # + 3,300,000 more > 5,000,000
    assert status == 422 and over["error"]["code"] == "max_position_value"
    assert "open buys" in over["error"]["message"]


async def test_sixty_parallel_buys_each_learn_their_order_and_none_answered_503_executes(
        client, clock, make_user, session_factory):
    _, headers = await make_user()
    await register(client, headers)
    buy = {"stock_code": "005930", "order_type": "buy", "quantity": 1}
    await order(client, clock, headers, buy)  # a book exists: market orders fill as it stands
    replies = await asyncio.gather(*(client.post("/stocks/order", json=buy, headers=headers)
                                     for _ in range(60)))
    answered = {}
    for resp in replies:
        body = await resp.json()
        assert resp.status in (201, 202), body
        answered[body["order_id"]] = resp.status
    async with session_factory() as session:
        journal = {str(r.id): r.status for r in await session.scalars(select(OrderRow))}
    assert len(journal) == 61 and set(answered) <= set(journal)  # every order journalled was answered


async def test_a_full_account_mailbox_is_429_before_anything_is_journalled(client, clock, make_user,
                                                                           session_factory, monkeypatch):
    monkeypatch.setattr(AccountActor, "mailbox", MailboxSpec(limit=2))
    _, headers = await make_user()
    await register(client, headers)
    buy = {"stock_code": "005930", "order_type": "buy", "quantity": 1}
    await order(client, clock, headers, buy)
    replies = await asyncio.gather(*(client.post("/stocks/order", json=buy, headers=headers)
                                     for _ in range(30)))
    busy = [r for r in replies if r.status == 429]
    assert busy and all(r.headers["Retry-After"] == "1" for r in busy)
    assert {(await r.json())["error"]["code"] for r in busy} == {"account_busy"}
    assert all(r.status in (201, 202, 429) for r in replies)
    async with session_factory() as session:
        journalled = await session.scalar(select(func.count()).select_from(OrderRow))
    assert journalled == 1 + len([r for r in replies if r.status != 429])


@pytest.fixture
def market_clock():
    # Tuesday 2026-12-01, 14:00 KST: the regular session closes at 15:30 KST.
    return ManualClock(start_ms=int(dt.datetime(2026, 12, 1, 5, 0, tzinfo=dt.UTC).timestamp() * 1000))


async def test_a_day_order_expires_at_the_session_close(aiohttp_client, app_settings, engine, market_clock,
                                                        make_user):
    settings = msgspec.structs.replace(app_settings, ignore_market_hours=False)
    client = await aiohttp_client(create_app(settings, clock=market_clock))
    _, headers = await make_user()
    await register(client, headers)
    ws = await connect(client, headers)
    resp = await client.post("/stocks/order", json=limit(5), headers=headers)
    assert resp.status == 201, await resp.text()
    order_id = (await resp.json())["order_id"]
    await market_clock.advance(89 * 60)  # 15:29: still open
    got = await (await client.get(f"/stocks/orders/{order_id}", headers=headers)).json()
    assert got["status"] == "accepted"
    await market_clock.advance(2 * 60)  # 15:31: closed
    events = await until(ws, "order", 2)
    assert [e["event"] for e in events] == ["accepted", "expired"]
    got = await (await client.get(f"/stocks/orders/{order_id}", headers=headers)).json()
    assert got["status"] == "expired" and "session closed" in got["reason"]
    assert (await client.delete(f"/stocks/orders/{order_id}", headers=headers)).status == 409
    cash = await balance(client, headers)
    assert cash["orderable_cash"] == cash["cash_balance"] == 100_000_000
    await ws.close()


async def test_a_stopping_swing_cancels_its_open_orders_and_only_those(client, clock, make_user):
    from actors import paths
    from actors.account_hub import AccountRef
    from actors.account_messages import CancelOpen, PlaceOrder
    from web.keys import SYSTEM

    _, headers = await make_user()
    account = await register(client, headers)
    actor = await client.app[SYSTEM].ref(paths.ACCOUNTS).ask(AccountRef(account), 5)
    ticket = await actor.ask(PlaceOrder(account_id=account, code="005930", side="buy", quantity=2, price=REST,
                                        client_order_id="swing-9-1", source="swing:9"), 5)
    swing_order = await ticket.wait(5)
    status, rest_order = await order(client, clock, headers, limit(3))
    assert swing_order.status == "accepted" and status == 201
    assert await actor.ask(CancelOpen(account_id=account, source="swing:9", reason="swing 9 stopped"), 5) == 1
    orders = {o["order_id"]: o for o in (await (await client.get("/stocks/orders", headers=headers)).json())
              ["orders"]}
    assert orders[str(swing_order.order_id)]["status"] == "cancelled"
    assert orders[str(swing_order.order_id)]["reason"] == "swing 9 stopped"
    assert orders[rest_order["order_id"]]["status"] == "accepted"


async def test_per_user_limits_name_themselves(aiohttp_client, app_settings, engine, clock, make_user):
    from tests.web.helpers import DEMO
    from tests.web.orders_env import PAPER

    settings = msgspec.structs.replace(app_settings, max_accounts_per_user=1, max_swings_per_user=1,
                                       max_open_orders_per_account=2)
    client = await aiohttp_client(create_app(settings, clock=clock))
    _, headers = await make_user()
    await register(client, headers)
    resp = await client.post("/accounts/register", json={**PAPER, "account_number": "50123457-01"},
                             headers=headers)
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "max_accounts"
    assert (await client.post("/swing/register", json=DEMO, headers=headers)).status == 201
    resp = await client.post("/swing/register", json=DEMO, headers=headers)
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "max_swings"
    for _ in range(2):
        assert (await client.post("/stocks/order", json=limit(1), headers=headers)).status == 201
    resp = await client.post("/stocks/order", json=limit(1), headers=headers)
    error = (await resp.json())["error"]
    assert resp.status == 422 and error["code"] == "max_open_orders" and "limit is 2" in error["message"]


async def test_the_openapi_document_has_cancel_and_modify(client):
    paths = (await (await client.get("/openapi.json")).json())["paths"]
    item = paths["/stocks/orders/{order_id}"]
    assert {"get", "delete", "patch"} <= set(item)
    assert {"200", "404", "409"} <= set(item["delete"]["responses"])
    assert "requestBody" in item["patch"] and {"200", "409", "422"} <= set(item["patch"]["responses"])
    assert {"201", "202", "429", "503"} <= set(paths["/stocks/order"]["post"]["responses"])


async def test_one_socket_more_than_the_per_user_limit_is_refused(aiohttp_client, app_settings, engine, clock,
                                                                  make_user):
    settings = msgspec.structs.replace(app_settings, ws_max_connections_per_user=2)
    client = await aiohttp_client(create_app(settings, clock=clock))
    _, alice = await make_user("alice@example.com")
    _, bob = await make_user("bob@example.com")
    first, second = await connect(client, alice), await connect(client, alice)
    await client.app[SYSTEM_KEY].idle()  # both sessions registered with the hub
    ws = await client.ws_connect("/kis_socket")
    await ws.send_json({"type": "auth", "token": alice["Authorization"].split()[1]})
    error = await ws.receive_json(timeout=5)
    assert error["type"] == "error" and error["code"] == "max_connections"
    closed = await ws.receive(timeout=5)
    assert closed.data == 1008 or ws.close_code == 1008
    other = await connect(client, bob)  # another user is not limited by alice's sockets
    for sock in (first, second, other):
        await sock.close()


def _account_view(client, account_id):
    (row,) = [r for r in client.app[SYSTEM_KEY].snapshot() if r["path"] == f"/accounts/{account_id}"]
    return row["details"]


async def test_orders_arriving_together_are_journalled_together_each_counting_the_ones_before(
        client, clock, make_user, session_factory):
    _, headers = await make_user()
    account = await register(client, headers)
    await no_limits(client, headers, account)
    await order(client, clock, headers, limit(1))  # the account's actor runs
    actor = await client.app[SYSTEM_KEY].ref(paths.ACCOUNTS).ask(AccountRef(account), 5)
    # Six asks queued before the actor takes the first: it journals them together. 1,000 x 33,000 =
    # 33,000,000 + 4,950 commission each; 100,000,000 - 33,004 (the first order) = 99,966,996 holds
    # three: 3 x 33,004,950 = 99,014,850; a fourth would need 132,019,800.
    tickets = await asyncio.gather(*(actor.ask(PlaceOrder(
        account_id=account, code="005930", side="buy", quantity=1_000, price=REST,
        client_order_id=f"k{i}"), 5) for i in range(6)))
    results = [await t.wait(5) for t in tickets]
    assert [r.status for r in results] == ["accepted"] * 3 + ["refused"] * 3, results
    assert {r.reason_code for r in results[3:]} == {"insufficient_cash"}
    assert "buying power 952146 KRW" in results[3].reason
    assert _account_view(client, account)["placed_together"] == 5  # taken from the mailbox behind the first
    cash = await balance(client, headers)
    assert cash["orderable_cash"] == 100_000_000 - 33_004 - 3 * 33_004_950 == 952_146
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(OrderRow)) == 4


async def test_one_key_sent_several_times_at_once_is_one_order(client, clock, make_user, session_factory):
    _, headers = await make_user()
    account = await register(client, headers)
    await no_limits(client, headers, account)
    await order(client, clock, headers, limit(1))
    keyed = {**headers, "Idempotency-Key": "same"}
    replies = await drive(client, clock, asyncio.gather(*(
        client.post("/stocks/order", json=limit(10), headers=keyed) for _ in range(5))))
    assert [r.status for r in replies] == [201] * 5
    assert len({(await r.json())["order_id"] for r in replies}) == 1
    other = await drive(client, clock, client.post("/stocks/order", json=limit(11), headers=keyed))
    assert other.status == 409  # the key's order is another body
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(OrderRow)) == 2
