"""The kill switch reaches the swings, through the running app on market time: halting an account
halts its swings (with an event saying why) and they decide nothing; resuming it puts them back
to the status they had. A swing registered while its account is halted is halted at once."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from engine.market.krx import KST
from engine.runtime import ManualClock
from tests.web.helpers import DEMO, next_check, settle_swing
from tests.web.orders_env import register
from web.keys import SYSTEM

REASON = "checking the books"


@pytest.fixture
def clock() -> ManualClock:
    # Tuesday 2026-12-01, 10:00 KST: inside the continuous session.
    return ManualClock(int(dt.datetime(2026, 12, 1, 10, 0, tzinfo=KST).timestamp() * 1000))


@pytest.fixture
def app_settings(db_settings):
    return msgspec.structs.replace(db_settings, market_data="sim", ignore_market_hours=False)


async def swing_view(client, headers, swing_id):
    resp = await client.get(f"/swing/{swing_id}", headers=headers)
    assert resp.status == 200
    return await resp.json()


async def events(client, headers, swing_id):
    resp = await client.get(f"/swing/{swing_id}/events?limit=200", headers=headers)
    return list(reversed((await resp.json())["events"]))


async def swing_orders(client, headers, swing_id):
    orders = (await (await client.get("/stocks/orders", headers=headers)).json())["orders"]
    return [o for o in orders if o["client_order_id"].startswith(f"swing-{swing_id}-")]


async def test_an_account_halt_halts_its_swings_and_resuming_lifts_it(client, clock, make_user):
    app = client.server.app
    _, headers = await make_user()
    account = await register(client, headers)
    swing_id = (await (await client.post("/swing/register", json=DEMO, headers=headers)).json())["swing_id"]
    await settle_swing(app, clock, swing_id)
    await next_check(client, clock, swing_id)
    before = (await swing_view(client, headers, swing_id))["status"]
    assert before in ("warming_up", "active")

    resp = await client.post(f"/accounts/{account}/halt", json={"reason": REASON}, headers=headers)
    assert resp.status == 200
    await app[SYSTEM].idle()
    assert (await swing_view(client, headers, swing_id))["status"] == "halted"
    last = (await events(client, headers, swing_id))[-1]
    assert (last["kind"], last["reason"]) == (
        "halted", f"the account is halted: {REASON}; no decision until it is resumed")

    orders, seen = len(await swing_orders(client, headers, swing_id)), len(await events(client, headers, swing_id))
    for _ in range(3):  # three closed bars while halted: no decision, no order, no new event
        await next_check(client, clock, swing_id)
    assert (await swing_view(client, headers, swing_id))["status"] == "halted"
    assert len(await events(client, headers, swing_id)) == seen
    assert len(await swing_orders(client, headers, swing_id)) == orders

    assert (await client.post(f"/accounts/{account}/resume", headers=headers)).status == 200
    await app[SYSTEM].idle()
    assert (await swing_view(client, headers, swing_id))["status"] == before
    last = (await events(client, headers, swing_id))[-1]
    assert last["kind"] == "resumed" and last["reason"].endswith(f"back to {before}")
    await next_check(client, clock, swing_id)  # it decides again
    assert (await events(client, headers, swing_id))[-1]["kind"] in ("check", "order", "fill", "rejected")


async def test_a_swing_registered_while_its_account_is_halted_is_halted_at_once(client, clock, make_user):
    app = client.server.app
    _, headers = await make_user()
    account = await register(client, headers)
    assert (await client.post(f"/accounts/{account}/halt", headers=headers)).status == 200
    swing_id = (await (await client.post("/swing/register", json=DEMO, headers=headers)).json())["swing_id"]
    await settle_swing(app, clock, swing_id)
    assert (await swing_view(client, headers, swing_id))["status"] == "halted"
    assert [(e["kind"], e["reason"]) for e in await events(client, headers, swing_id)] == [
        ("halted", "the account is halted: halted by request; no decision until it is resumed")]
    await next_check(client, clock, swing_id)
    assert [e["kind"] for e in await events(client, headers, swing_id)] == ["halted"]  # nothing decided

    assert (await client.post(f"/accounts/{account}/resume", headers=headers)).status == 200
    await app[SYSTEM].idle()
    assert (await swing_view(client, headers, swing_id))["status"] == "warming_up"  # as registered


async def test_the_swing_view_says_why_it_is_halted_and_keeps_it_across_a_restart(
        aiohttp_client, app_settings, engine, clock, make_user):
    from web.app import create_app

    client = await aiohttp_client(create_app(app_settings, clock=clock))
    _, headers = await make_user()
    account = await register(client, headers)
    swing_id = (await (await client.post("/swing/register", json=DEMO, headers=headers)).json())["swing_id"]
    await settle_swing(client.server.app, clock, swing_id)
    assert (await swing_view(client, headers, swing_id))["halted_reason"] is None  # running: null

    assert (await client.post(f"/accounts/{account}/halt", json={"reason": REASON}, headers=headers)).status == 200
    await client.server.app[SYSTEM].idle()
    why = f"the account is halted: {REASON}; no decision until it is resumed"
    view = await swing_view(client, headers, swing_id)
    assert (view["status"], view["halted_reason"]) == ("halted", why)
    listed = (await (await client.get("/swing/status", headers=headers)).json())["swings"]
    assert [(s["swing_id"], s["halted_reason"]) for s in listed] == [(swing_id, why)]
    await client.close()  # the process is gone; the reason is in the database

    client = await aiohttp_client(create_app(app_settings, clock=clock))
    await settle_swing(client.server.app, clock, swing_id)
    view = await swing_view(client, headers, swing_id)
    assert (view["status"], view["halted_reason"]) == ("halted", why)

    assert (await client.post(f"/accounts/{account}/resume", headers=headers)).status == 200
    await client.server.app[SYSTEM].idle()
    view = await swing_view(client, headers, swing_id)
    assert view["status"] != "halted" and view["halted_reason"] is None  # lifted with the halt
