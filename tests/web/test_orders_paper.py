"""Paper fills: after acceptance, limit orders when crossed, 503 without quotes, events on /kis_socket."""

from __future__ import annotations


import msgspec

from actors import paths
from actors.account_messages import GetBalance
from actors.account_hub import AccountRef
from engine.brokers.base import UpstreamCounters
from engine.brokers.sim import base_price
from tests.web.orders_env import drive, order, register
from tests.web.helpers import connect, until
from web.app import create_app
from web.keys import SYSTEM
from web.trading import QUOTE_BOARD

async def barrier(client, account_id):
    """Everything told to the account's actor before this has been handled."""
    hub = client.app[SYSTEM].ref(paths.ACCOUNTS)
    actor = await hub.ask(AccountRef(account_id), 5)
    await actor.ask(GetBalance(account_id), 5)


BUY = {"stock_code": "005930", "order_type": "buy", "quantity": 3}
BASE = base_price("005930")


async def test_market_fill_uses_the_book_as_it_stands_at_acceptance(client, clock, make_user):
    _, headers = await make_user()
    await register(client, headers)
    board = client.app[QUOTE_BOARD]
    board.watch("005930")
    await drive(client, clock, board.quote_after("005930", 0, 5.0))  # a book exists before the order
    book = board.latest("005930")
    resp = await client.post("/stocks/order", json=BUY, headers=headers)  # no clock moved: no wait
    assert resp.status == 201
    placed = await resp.json()
    got = await (await client.get(f"/stocks/orders/{placed['order_id']}", headers=headers)).json()
    assert got["created_at"].endswith("+09:00") and got["status"] == "filled"
    assert [(f["quantity"], f["price"], f["ts_ms"]) for f in got["fills"]] == [(3, book.asks[0], book.ts_ms)]


async def test_a_limit_order_rests_then_fills_when_crossed(client, clock, make_user):
    _, headers = await make_user()
    await register(client, headers)
    limit = {**BUY, "price": BASE + 2 * 50}  # above the ask the walk starts at: crossed by the next quote
    resp = await client.post("/stocks/order", json=limit, headers=headers)
    assert resp.status == 201
    order_id = (await resp.json())["order_id"]
    got = await (await client.get(f"/stocks/orders/{order_id}", headers=headers)).json()
    assert got["status"] == "accepted" and got["fills"] == []
    await clock.advance(1.0)  # the next quote crosses it
    await barrier(client, got["account_id"])
    got = await (await client.get(f"/stocks/orders/{order_id}", headers=headers)).json()
    assert got["status"] == "filled"
    assert got["fills"][0]["price"] <= limit["price"]


async def test_no_quote_in_time_is_503_naming_it(aiohttp_client, app_settings, engine, clock, make_user):
    class Silent:
        name = "silent"

        async def start(self, sink): ...
        async def stop(self): ...
        async def subscribe(self, channel, code): ...
        async def unsubscribe(self, channel, code): ...
        async def backfill(self, code, bar_size, n): return []
        def market_time_ms(self): return clock.now_ms()
        def previous_close(self, code): return None
        def listing(self, code): return "KOSPI"
        def counters(self): return UpstreamCounters()

    settings = msgspec.structs.replace(app_settings, paper_quote_timeout_s=2.0)
    client = await aiohttp_client(create_app(settings, clock=clock, source=Silent()))
    _, headers = await make_user()
    await register(client, headers)
    status, error = await order(client, clock, headers, BUY)
    assert status == 503 and error["error"]["code"] == "no_quote"
    assert "005930" in error["error"]["message"]


async def test_order_events_reach_the_owners_socket_only(client, clock, make_user):
    _, alice = await make_user("alice@example.com")
    _, bob = await make_user("bob@example.com")
    await register(client, alice)
    ws_alice = await connect(client, alice)
    ws_bob = await connect(client, bob)
    status, placed = await order(client, clock, alice, BUY)
    assert status == 201
    accepted, filled = await until(ws_alice, "order", 2)
    assert accepted["event"] == "accepted" and filled["event"] == "filled"
    assert filled["order"]["order_id"] == placed["order_id"] and filled["order"]["filled_quantity"] == 3
    await ws_bob.send_json({"tr_type": "1", "tr_id": "H0STCNT0", "st_code": "000660"})
    first = await ws_bob.receive_json(timeout=5)
    assert first["type"] == "ack"  # bob's next message is his own ack, no order event
    await ws_alice.close()
    await ws_bob.close()
