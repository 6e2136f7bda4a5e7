"""/kis_socket end to end on the simulated market, driven by the manual clock."""

from __future__ import annotations

import json

import msgspec
import pytest
from aiohttp import WSMsgType

from tests.web.helpers import QUOTES, TRADES, connect, sessions_gone, until
from web.keys import ROUTER, SOURCE, SYSTEM


@pytest.fixture
def app_settings(db_settings):
    return msgspec.structs.replace(db_settings, market_data="sim", feed_grace_s=5.0, ws_max_subscriptions=3,
                                   sim_trades_per_s=2.0, sim_quotes_per_s=1.0)


async def test_auth_must_come_within_the_timeout(client, clock, app_settings):
    ws = await client.ws_connect("/kis_socket")
    await clock.advance(app_settings.ws_auth_timeout_s + 0.1)
    error = await ws.receive_json(timeout=5)
    assert error["type"] == "error" and error["code"] == "auth_timeout"
    closing = await ws.receive(timeout=5)
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED) and ws.close_code == 1008


@pytest.mark.parametrize("first, code", [
    ("not json", "bad_json"),
    (json.dumps({"type": "auth", "token": "abc.def.ghi"}), "invalid_token"),
    (json.dumps({"type": "hello"}), "auth_required"),
    (json.dumps({"tr_type": "1", "tr_id": "H0STCNT0", "st_code": "005930"}), "auth_required"),
])
async def test_bad_first_messages_close_with_1008(client, first, code):
    ws = await client.ws_connect("/kis_socket")
    await ws.send_str(first)
    error = await ws.receive_json(timeout=5)
    assert error == {"type": "error", "code": code, "message": error["message"]}
    await ws.receive(timeout=5)
    assert ws.close_code == 1008


async def test_bad_strategy_params_close_with_1008(client, make_user):
    _, headers = await make_user()
    ws = await client.ws_connect("/kis_socket")
    token = headers["Authorization"].split()[1]
    await ws.send_json({"type": "auth", "token": token, "strategy_type": "rsi", "params": {"period": 0}})
    error = await ws.receive_json(timeout=5)
    assert error["code"] == "bad_strategy" and "period" in error["message"]


async def test_subscribe_streams_integer_trades_and_quotes(client, clock, make_user):
    _, headers = await make_user()
    ws = await connect(client, headers)
    await ws.send_json(TRADES)
    assert (await until(ws, "ack"))[0] == {"type": "ack", "message": "subscribed", "tr_type": "1",
                                           "tr_id": "H0STCNT0", "st_code": "005930"}
    await ws.send_json(QUOTES)
    await until(ws, "ack")
    await clock.advance(2.0)
    trade = (await until(ws, "trade"))[0]
    for key in ("price", "volume", "cum_volume", "change", "ask", "bid"):
        assert isinstance(trade[key], int)
    assert trade["code"] == "005930" and len(trade["date"]) == 8 and len(trade["time"]) == 6
    quote = (await until(ws, "quote"))[0]
    assert len(quote["asks"]) == 10 and len(quote["bids"]) == 10
    assert all(isinstance(level["price"], int) and isinstance(level["qty"], int) for level in quote["asks"])
    assert quote["asks"][0]["price"] > quote["bids"][0]["price"]


async def test_every_client_message_gets_an_ack_or_an_error(client, make_user):
    _, headers = await make_user()
    ws = await connect(client, headers)
    cases = [
        ("{nope", "bad_json"),
        (json.dumps({"tr_type": "1", "tr_id": "H0XXXXX0", "st_code": "005930"}), "unknown_tr_id"),
        (json.dumps({"tr_type": "1", "tr_id": "H0STCNT0", "st_code": "59"}), "bad_code"),
        (json.dumps({"tr_type": "3", "tr_id": "H0STCNT0", "st_code": "005930"}), "invalid"),
        (json.dumps({"tr_type": "2", "tr_id": "H0STCNT0", "st_code": "005930"}), "not_subscribed"),
    ]
    for text, code in cases:
        await ws.send_str(text)
        msg = await ws.receive_json(timeout=5)
        assert msg["type"] == "error" and msg["code"] == code, (text, msg)
    await ws.send_bytes(b"\x00")
    assert (await ws.receive_json(timeout=5))["code"] == "text_only"


async def test_too_many_subscriptions_for_one_client(client, make_user, app_settings):
    _, headers = await make_user()
    ws = await connect(client, headers)
    for code in ("000001", "000002", "000003"):
        await ws.send_json({**TRADES, "st_code": code})
        assert (await until(ws, "ack"))[0]["st_code"] == code
    await ws.send_json({**TRADES, "st_code": "000004"})
    error = (await until(ws, "error"))[0]
    assert error["code"] == "too_many_subscriptions"


async def test_one_upstream_subscription_per_code_and_the_feed_stops_after_grace(client, clock, make_user,
                                                                                 app_settings):
    app = client.server.app
    clients = []
    for i in range(4):
        _, headers = await make_user(f"u{i}@example.com")
        ws = await connect(client, headers)
        await ws.send_json(TRADES)
        await until(ws, "ack")
        clients.append(ws)
    assert app[SOURCE].subscribed == {"005930": (True, False)}
    assert list(app[ROUTER].feeds) == ["005930"]
    await clock.advance(1.0)
    for ws in clients:  # every client gets the same trade
        assert (await until(ws, "trade"))[0]["code"] == "005930"
    for ws in clients:
        await ws.send_json({**TRADES, "tr_type": "2"})
        await until(ws, "ack")
    await clock.advance(app_settings.feed_grace_s / 2)
    assert "005930" in app[ROUTER].feeds  # still within the grace period
    await clock.advance(app_settings.feed_grace_s)
    assert app[ROUTER].feeds == {} and app[SOURCE].subscribed == {}
    assert app[SYSTEM].lookup("/feeds/005930") is None


async def test_closing_the_socket_releases_its_subscriptions(client, clock, make_user, app_settings):
    app = client.server.app
    _, headers = await make_user()
    ws = await connect(client, headers)
    await ws.send_json(TRADES)
    await until(ws, "ack")
    await ws.close()
    await sessions_gone(app)
    await clock.advance(app_settings.feed_grace_s + 1)
    assert app[ROUTER].feeds == {}


async def test_ohlc_returns_the_feeds_bars_and_validates(client, clock, make_user):
    _, headers = await make_user()
    ws = await connect(client, headers)
    await ws.send_json(TRADES)
    await until(ws, "ack")
    await clock.advance(180)
    resp = await client.get("/realtime/ohlc/005930?bar_size=1Min", headers=headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "success" and len(body["data"]) >= 3
    row = body["data"][-1]
    assert set(row) == {"time", "open", "high", "low", "close", "volume"}
    assert row["low"] <= min(row["open"], row["close"]) <= max(row["open"], row["close"]) <= row["high"]
    assert row["time"].endswith("+09:00")
    bad = await client.get("/realtime/ohlc/59?bar_size=2H", headers=headers)
    assert bad.status == 422
    assert set((await bad.json())["error"]["fields"]) == {"stock_code", "bar_size"}
    assert (await client.get("/realtime/ohlc/005930")).status == 401


async def test_strategy_data_shows_watched_trades_and_strategies(client, clock, make_user):
    _, headers = await make_user()
    ws = await connect(client, headers, strategy="rsi")
    await ws.send_json(TRADES)
    await until(ws, "ack")
    await clock.advance(3)
    resp = await client.get("/realtime/strategy-data", headers=headers)
    body = await resp.json()
    assert body["status"] == "success"
    data = body["data"]
    assert data["contract_data"]["005930"]["code"] == "005930"
    assert 1 <= len(data["executed_data"]) <= 100
    (strategy,) = data["active_strategies"]
    assert strategy["strategy_type"] == "rsi" and strategy["codes"] == ["005930"]
    assert strategy["params"] == {"period": 14, "oversold": 30.0, "overbought": 70.0}  # effective: defaults filled
    _, other = await make_user("other@example.com")
    empty = await (await client.get("/realtime/strategy-data", headers=other)).json()
    assert empty["data"] == {"contract_data": {}, "executed_data": [], "active_strategies": []}


async def test_signals_reach_the_session_and_strategy_data(client, clock, make_user):
    _, headers = await make_user()
    ws = await connect(client, headers, strategy="basic", params={"short": 2, "long": 3})
    await ws.send_json(TRADES)
    await until(ws, "ack")
    await clock.advance(20 * 60)
    signal = (await until(ws, "signal"))[0]
    assert signal["strategy"] == "basic" and signal["code"] == "005930"
    assert signal["side"] in ("buy", "sell") and isinstance(signal["price"], int)
    assert set(signal["indicators"]) == {"ema2", "ema3"}
    data = (await (await client.get("/realtime/strategy-data", headers=headers)).json())["data"]
    assert data["active_strategies"][0]["last_signals"]


async def test_messages_for_a_user_reach_only_that_users_sessions(client, make_user):
    from actors.session_hub import CountSessions, OrderEvent, ToUser
    from actors.wire import OrderView

    alice_id, alice = await make_user("alice@example.com")
    _, bob = await make_user("bob@example.com")
    ws_a = await connect(client, alice)
    ws_b = await connect(client, bob)
    hub = client.server.app[SYSTEM].ref("/sessions")
    assert await hub.ask(CountSessions(), 5) == 2
    order = OrderView(order_id="1", account_id=1, client_order_id="c-1", stock_code="005930", order_type="buy",
                      quantity=10, price=None, status="filled", filled_quantity=10, average_price=70_000, reason="")
    hub.tell(ToUser(alice_id, OrderEvent("filled", order)))
    assert await ws_a.receive_json(timeout=5) == {"type": "order", "event": "filled",
                                                  "order": msgspec.to_builtins(order)}
    await ws_b.send_json({"tr_type": "2", "tr_id": "H0STCNT0", "st_code": "005930"})
    assert (await ws_b.receive_json(timeout=5))["code"] == "not_subscribed"  # nothing else was queued for bob
    await ws_a.close()
    await ws_b.close()
