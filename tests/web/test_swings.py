"""Auto swings through the whole app on the manual clock: registration rules, the demo
reaching SIGNAL 3 with real paper orders, and the status and events endpoints."""

from __future__ import annotations


import msgspec
import pytest

from storage import SwingRepo
from tests.web.helpers import DEMO, next_check, settle_swing
from tests.web.orders_env import register
from web.keys import SYSTEM

SPEC_BODY = {"short_term": 5, "medium_term": 20, "long_term": 60, "rsi_threshold": 30,
             "adx_threshold": 25, "obv_threshold": 1000}


@pytest.fixture
def app_settings(db_settings):
    return msgspec.structs.replace(db_settings, market_data="sim", ignore_market_hours=True)


async def status(client, headers):
    resp = await client.get("/swing/status", headers=headers)
    assert resp.status == 200
    return await resp.json()


async def test_the_spec_body_is_422_naming_stock_code_and_unit_amount(client, make_user):
    _, headers = await make_user()
    await register(client, headers)
    resp = await client.post("/swing/register", json=SPEC_BODY, headers=headers)
    assert resp.status == 422
    assert {"stock_code", "unit_amount"} <= set((await resp.json())["error"]["fields"])


@pytest.mark.parametrize("change, field", [
    ({"short_term": 20}, "medium_term"),
    ({"long_term": 300}, "long_term"),
    ({"rsi_threshold": 50}, "rsi_threshold"),
    ({"adx_threshold": 101}, "adx_threshold"),
    ({"obv_threshold": -1}, "obv_threshold"),
    ({"unit_amount": 0}, "unit_amount"),
    ({"stock_code": "5930"}, "stock_code"),
    ({"bar_size": "2H"}, "bar_size"),
    ({"stop_loss_pct": 100}, "stop_loss_pct"),
    ({"surprise": 1}, "surprise"),
])
async def test_bad_parameters_are_422_naming_the_field(client, make_user, change, field):
    _, headers = await make_user()
    await register(client, headers)
    resp = await client.post("/swing/register", json={**DEMO, **change}, headers=headers)
    assert resp.status == 422, await resp.text()
    assert field in (await resp.json())["error"]["fields"]


async def test_no_account_is_422_and_another_users_account_is_404(client, make_user):
    _, alice = await make_user("alice@example.com")
    _, bob = await make_user("bob@example.com")
    resp = await client.post("/swing/register", json=DEMO, headers=alice)
    assert resp.status == 422 and "account_id" in (await resp.json())["error"]["fields"]
    bobs = await register(client, bob)
    resp = await client.post("/swing/register", json={**DEMO, "account_id": bobs}, headers=alice)
    assert resp.status == 404


async def test_status_with_no_swing(client, make_user):
    _, headers = await make_user()
    assert await status(client, headers) == {"status": "none", "signal": None, "last_updated": None,
                                             "signal_state": None, "swings": []}


async def test_demo_reaches_signal_3_within_a_quarter_hour_with_real_paper_orders(client, clock, make_user,
                                                                                   session_factory):
    _, headers = await make_user()
    await register(client, headers)
    resp = await client.post("/swing/register", json=DEMO, headers=headers)
    assert resp.status == 201
    body = await resp.json()
    assert body["message"] == "오토 스윙 등록 성공"
    swing_id = body["swing_id"]
    await settle_swing(client.server.app, clock, swing_id)  # registered, history loaded
    seen_states = []
    for _ in range(15):  # fifteen simulated minutes (it completes in 12 on this walk)
        await next_check(client, clock, swing_id)
        current = (await status(client, headers))["swings"][0]
        seen_states.append(current["signal_state"])
        if current["status"] == "completed":
            break
    assert current["status"] == "completed" and current["signal_state"] == 3, seen_states
    assert 1 in seen_states
    events = (await (await client.get(f"/swing/{swing_id}/events?limit=200", headers=headers)).json())["events"]
    kinds = [e["kind"] for e in events]
    assert "fill" in kinds and "check" in kinds
    fills = [e for e in events if e["kind"] == "fill"]
    assert {e["action"] for e in fills} == {"buy", "sell"}
    orders = (await (await client.get("/stocks/orders", headers=headers)).json())["orders"]
    swing_orders = [o for o in orders if o["client_order_id"].startswith(f"swing-{swing_id}-")]
    assert len(swing_orders) == len(fills) and all(o["status"] == "filled" for o in swing_orders)
    assert current["shares"] == 0 and current["pending_order"] is None
    top = await status(client, headers)
    assert top["status"] == "completed" and top["signal_state"] == 3 and top["signal"] in ("buy", "sell", "hold")
    async with session_factory() as session:
        stored = await SwingRepo(session).get(swing_id)
    assert stored.signal_state == 3 and stored.intent_order_id is None


async def test_events_page_and_swings_are_private(client, clock, make_user):
    _, alice = await make_user("alice@example.com")
    _, bob = await make_user("bob@example.com")
    await register(client, alice)
    swing_id = (await (await client.post("/swing/register", json=DEMO, headers=alice)).json())["swing_id"]
    for _ in range(5):
        await next_check(client, clock, swing_id)
    first = await (await client.get(f"/swing/{swing_id}/events?limit=2", headers=alice)).json()
    assert len(first["events"]) == 2 and first["next_before"] == first["events"][-1]["id"]
    older = await (await client.get(f"/swing/{swing_id}/events?limit=2&before={first['next_before']}",
                                    headers=alice)).json()
    assert older["events"] and older["events"][0]["id"] < first["events"][-1]["id"]
    assert (await client.get(f"/swing/{swing_id}/events?limit=0", headers=alice)).status == 422
    for path in (f"/swing/{swing_id}", f"/swing/{swing_id}/events"):
        assert (await client.get(path, headers=bob)).status == 404
    assert (await client.delete(f"/swing/{swing_id}", headers=bob)).status == 404
    assert (await client.get("/swing/nope", headers=alice)).status == 404


async def test_delete_stops_the_swing(client, clock, make_user):
    _, headers = await make_user()
    await register(client, headers)
    swing_id = (await (await client.post("/swing/register", json={**DEMO, "long_term": 200},
                                         headers=headers)).json())["swing_id"]
    await next_check(client, clock, swing_id)
    resp = await client.delete(f"/swing/{swing_id}", headers=headers)
    assert resp.status == 200
    assert (await resp.json())["swing"]["status"] == "stopped"
    await clock.advance(120)
    assert (await status(client, headers))["swings"][0]["status"] == "stopped"
    assert client.server.app[SYSTEM].lookup(f"/swings/{swing_id}") is None
