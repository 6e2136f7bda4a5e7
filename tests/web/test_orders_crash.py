"""Crash between the steps of an order, then a restart of the app on the same database.

The fault hook stops the account actor at a named step (an in-process crash);
the restarted app reconciles before it listens: no order is sent twice, none is lost.
"""

from __future__ import annotations

import msgspec
import pytest
from sqlalchemy import func, select

from storage.models import FillRow, PaperOrderRow
from tests.web.helpers import crash_at
from tests.web.orders_env import order, register
from web.app import create_app
from web.trading import ORDER_FAULT

BUY = {"stock_code": "005930", "order_type": "buy", "quantity": 10}


async def _count(session_factory, model) -> int:
    async with session_factory() as session:
        return await session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("step, answer, status, paper_orders, fills", [
    ("journal", 500, "rejected", 0, 0),  # never sent: the broker has no such order
    # The paper market order walked the book in the broker call; the actor died journalling its
    # acceptance (send) or its fill (fill): the client was told 202 pending, the journal learns the fill.
    ("send", 202, "filled", 1, 1),
    ("fill", 202, "filled", 1, 1),
])
async def test_restart_reconciles_instead_of_resending(aiohttp_client, app_settings, engine, session_factory,
                                                       clock, make_user, step, answer, status, paper_orders,
                                                       fills):
    # the crashed actor stays down, like the process; the client's answer waits 1 s, not 30, for it
    dies = msgspec.structs.replace(app_settings, restart_max=0, order_timeout_s=1.0)
    app = create_app(dies, clock=clock)
    app[ORDER_FAULT] = crash_at(step)
    client = await aiohttp_client(app)
    _, headers = await make_user()
    await register(client, headers)
    code, first = await order(client, clock, {**headers, "Idempotency-Key": "k1"}, BUY)
    assert code == answer  # the actor "died" mid-request: after journalling, the client still learns the id
    if answer == 202:
        assert first["status"] == "pending"
    await client.close()

    client = await aiohttp_client(create_app(app_settings, clock=clock))  # reconciles before listening
    resp = await client.get("/stocks/orders", headers=headers)
    (journalled,) = (await resp.json())["orders"]
    assert journalled["status"] == status and journalled["client_order_id"] == "k1"
    if answer == 202:
        assert first["order_id"] == journalled["order_id"]
    assert await _count(session_factory, PaperOrderRow) == paper_orders
    assert await _count(session_factory, FillRow) == fills
    assert len(journalled["fills"]) == fills

    code, again = await order(client, clock, {**headers, "Idempotency-Key": "k1"}, BUY)
    if status == "filled":  # the same key answers with the first order, never a second one
        assert (code, again["order_id"]) == (201, journalled["order_id"])
    else:  # the first order's final answer again
        assert code == 422 and again["error"]["code"] == status
        assert again["error"]["message"].startswith(f"order {journalled['order_id']} {status}")
    assert await _count(session_factory, PaperOrderRow) == paper_orders  # the same key never resends
    resp = await client.get("/accounts/balance", headers=headers)
    balance = await resp.json()
    assert sum(s["quantity"] for s in balance["stock_balance"]) == (10 if fills else 0)


async def test_a_cancel_journalled_then_cut_is_finished_on_restart(aiohttp_client, app_settings, engine,
                                                                   clock, make_user):
    dies = msgspec.structs.replace(app_settings, restart_max=0)
    app = create_app(dies, clock=clock)
    app[ORDER_FAULT] = crash_at("cancel")  # the cancel is journalled on the order, never sent
    client = await aiohttp_client(app)
    _, headers = await make_user()
    await register(client, headers)
    resting = {"stock_code": "005930", "order_type": "buy", "quantity": 4, "price": 33_000}
    code, placed = await order(client, clock, headers, resting)
    assert code == 201
    resp = await client.delete(f"/stocks/orders/{placed['order_id']}", headers=headers)
    assert resp.status == 500
    got = await (await client.get(f"/stocks/orders/{placed['order_id']}", headers=headers)).json()
    assert got["status"] == "accepted" and got["pending_action"] == "cancel"
    await client.close()

    client = await aiohttp_client(create_app(app_settings, clock=clock))  # reconciles before listening
    got = await (await client.get(f"/stocks/orders/{placed['order_id']}", headers=headers)).json()
    assert got["status"] == "cancelled" and got["pending_action"] is None
    assert "reconciliation" in got["reason"]
    balance = await (await client.get("/accounts/balance", headers=headers)).json()
    assert balance["orderable_cash"] == balance["cash_balance"] == 100_000_000
