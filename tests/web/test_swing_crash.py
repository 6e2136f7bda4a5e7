"""A swing's transition cut at each step of its order, then the app restarted on the same
database: the swing resumes, no order is sent twice, and the SIGNAL matches the fills."""

from __future__ import annotations


import msgspec
import pytest
from sqlalchemy import func, select

from actors.swing import GetSwing
from engine.strategy.swing import SwingParams
from engine.swings import Intent
from storage import SwingRepo
from storage.models import PaperOrderRow
from tests.web.orders_env import register
from tests.web.helpers import DEMO, crash_at, quiesce, settle_swing
from web.app import create_app
from web.keys import SYSTEM
from web.trading import ORDER_FAULT


@pytest.fixture
def app_settings(db_settings):
    return msgspec.structs.replace(db_settings, market_data="sim", ignore_market_hours=True)


async def broker_orders(session_factory) -> int:
    """Orders the paper broker's own book holds: what actually reached the broker."""
    async with session_factory() as session:
        return await session.scalar(select(func.count()).select_from(PaperOrderRow))


async def run_until_an_order_is_in_flight(client, clock, swing_id):
    """Check after check until the swing orders; then let the account reach the faulty step."""
    app = client.server.app
    ref = app[SYSTEM].lookup(f"/swings/{swing_id}")
    for _ in range(15):
        now = clock.now_ms()
        await clock.advance_to_ms(now - now % 60_000 + 62_500)  # just past the next check
        await quiesce(app, clock)
        view = await ref.ask(GetSwing(), 5)
        if view.pending_order is not None:
            return view.pending_order
    raise AssertionError("the swing never ordered")


# "send": the paper market order walked the book inside the broker call; only its journalling was cut.
@pytest.mark.parametrize("step, filled", [("journal", False), ("send", True), ("fill", True)])
async def test_restart_mid_transition_resumes_without_a_duplicate(aiohttp_client, app_settings, engine,
                                                                  session_factory, clock, make_user, step, filled):
    dies = msgspec.structs.replace(app_settings, restart_max=0)
    app = create_app(dies, clock=clock)
    app[ORDER_FAULT] = crash_at(step)
    client = await aiohttp_client(app)
    _, headers = await make_user()
    await register(client, headers)
    swing_id = (await (await client.post("/swing/register", json=DEMO, headers=headers)).json())["swing_id"]
    await settle_swing(client.server.app, clock, swing_id)
    in_flight = await run_until_an_order_is_in_flight(client, clock, swing_id)
    async with session_factory() as session:
        before = await SwingRepo(session).get(swing_id)
    assert before.intent_order_id == in_flight and before.signal_state == 0  # durable intent, SIGNAL unmoved
    await client.close()  # the process is gone

    client = await aiohttp_client(create_app(app_settings, clock=clock))
    view = await settle_swing(client.server.app, clock, swing_id)
    assert view.pending_order is None
    async with session_factory() as session:
        after = await SwingRepo(session).get(swing_id)
        events = await SwingRepo(session).events(swing_id, limit=200)
    assert after.intent_order_id is None
    assert any(e.kind == "resumed" and e.order_id == in_flight for e in events)
    if filled:
        assert after.signal_state == 1 and after.shares > 0
    else:
        assert after.signal_state == 0 and after.shares == 0
        assert any(e.kind == "rejected" and e.order_id == in_flight for e in events)
    orders = (await (await client.get("/stocks/orders", headers=headers)).json())["orders"]
    assert [o["client_order_id"] for o in orders].count(in_flight) == 1
    sent = [o for o in orders if o.get("broker_order_no")]
    assert await broker_orders(session_factory) == len(sent)  # nothing reached the broker twice


async def test_an_intent_that_never_reached_the_account_is_placed_once(aiohttp_client, app_settings, engine,
                                                                      session_factory, clock, make_user):
    """The crash came after the intent was written, before the order was sent."""
    client = await aiohttp_client(create_app(app_settings, clock=clock))
    user_id, headers = await make_user()
    account_id = await register(client, headers)
    await client.close()
    params = {**DEMO, "account_id": account_id, "repeat": False, "account_id": account_id}
    intent = {"status": "active", "action": "buy", "quantity_rule": "unit_amount", "quantity": 3, "price": 100000,
              "signal_before": 0, "signal_after": 1, "trigger": "first_stage_buy", "reason": "test",
              "bar_start_ms": clock.now_ms() - 120_000, "indicators": {}}
    async with session_factory.begin() as session:
        repo = SwingRepo(session)
        swing = await repo.create(user_id=user_id, account_id=account_id, stock_code=DEMO["stock_code"],
                                  params=SwingParams(**params), status="active")
        await repo.save(swing.id, msgspec.structs.replace(
            swing.state(), order_seq=1, intent_order_id=f"swing-{swing.id}-1", intent=Intent(**intent)))
    client = await aiohttp_client(create_app(app_settings, clock=clock))
    view = await settle_swing(client.server.app, clock, swing.id)
    assert view.pending_order is None and view.signal_state == 1 and view.shares == 3
    orders = (await (await client.get("/stocks/orders", headers=headers)).json())["orders"]
    assert [o["client_order_id"] for o in orders] == [f"swing-{swing.id}-1"]
    assert await broker_orders(session_factory) == 1
