"""The AccountActor on a KIS account, through a fake Broker that speaks the protocol.

Covers what the paper broker cannot: fill notices, lost answers reconciled
(never resent), EGW00201 resends, broker rejections, and the swing protocol
(``PlaceOrder(reply_to=...)`` told to the hub, ``OrderResult`` told back).
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from actors import paths
from actors.account_messages import OrderResult, PlaceOrder, Reconcile
from engine.brokers.base import (
    BrokerFill, BrokerOrderStatus, BrokerUnavailable, OrderRejected, OutcomeUnknown,
)
from engine.brokers.sim import base_price
from engine.runtime import Actor
from tests.web.orders_env import KIS, FakeKis, account_actor, register
from web.app import create_app
from web.keys import SYSTEM
from web.trading import KIS_BROKERS

PRICE = base_price("005930")
LIMIT = {"stock_code": "005930", "order_type": "buy", "quantity": 4, "price": PRICE}


@pytest.fixture
async def kis(aiohttp_client, app_settings, engine, clock, make_user):
    fake = FakeKis()
    settings = msgspec.structs.replace(app_settings, order_retry_backoff_s=0.5)
    app = create_app(settings, clock=clock)
    app[KIS_BROKERS] = lambda credentials: fake
    client = await aiohttp_client(app)
    _, headers = await make_user()
    account = await register(client, headers, KIS)
    return client, headers, account, fake


async def _order(client, headers, account_id):
    resp = await client.get(f"/stocks/orders?account_id={account_id}", headers=headers)
    (order,) = (await resp.json())["orders"]
    return order


async def test_fill_notice_moves_the_order_to_filled(kis):
    client, headers, account, fake = kis
    resp = await client.post("/stocks/order", json=LIMIT, headers=headers)
    assert resp.status == 201
    assert fake.sent[0].price == PRICE and fake.sent[0].client_order_id
    fake.listener(BrokerFill(broker_order_no="K1", code="005930", side="buy", quantity=4, price=PRICE,
        ts_ms=1))
    await (await account_actor(client, account)).ask(Reconcile(account), 5)  # barrier: the notice was handled
    order = await _order(client, headers, account)
    assert order["status"] == "filled" and order["broker_order_no"] == "K1"
    assert order["fills"][0]["commission"] == 4 * PRICE * 150 // 1_000_000


async def test_a_lost_answer_is_reconciled_never_resent(kis):
    client, headers, account, fake = kis
    fake.answers = [OutcomeUnknown("read timeout")]
    resp = await client.post("/stocks/order", json=LIMIT, headers=headers)
    pending = await resp.json()  # journalled and maybe executed: the client learns its id, never a 503
    assert resp.status == 202 and pending["status"] == "pending"
    order = await _order(client, headers, account)
    assert order["status"] == "unknown" and order["order_id"] == pending["order_id"]
    fake.statuses = [BrokerOrderStatus(broker_order_no="0000117", code="005930", side="buy", quantity=4,
                                       filled_quantity=4, average_price=PRICE, ordered_ms=10**13)]
    moved = await (await account_actor(client, account)).ask(Reconcile(account), 5)
    order = await _order(client, headers, account)
    assert moved == 1 and order["status"] == "filled" and order["broker_order_no"] == "0000117"
    assert len(fake.sent) == 1


async def test_rate_limited_orders_are_resent_after_a_backoff(kis, clock):
    client, headers, account, fake = kis
    fake.answers = [BrokerUnavailable("초당 거래건수를 초과하였습니다", "EGW00201")]
    task = asyncio.ensure_future(client.post("/stocks/order", json=LIMIT, headers=headers))
    await fake.called.wait()
    await clock.advance(0.5)
    resp = await task
    assert resp.status == 201 and len(fake.sent) == 2


async def test_a_broker_rejection_is_422_with_its_words(kis):
    client, headers, account, fake = kis
    fake.answers = [OrderRejected("주문가능금액을 초과 했습니다", "APBK0952")]
    resp = await client.post("/stocks/order", json=LIMIT, headers=headers)
    error = (await resp.json())["error"]
    assert resp.status == 422 and error["code"] == "APBK0952" and "주문가능금액" in error["message"]
    assert (await _order(client, headers, account))["status"] == "rejected"


class Probe(Actor):
    def __init__(self, inbox: asyncio.Queue) -> None:
        self.inbox = inbox

    async def receive(self, msg):
        self.inbox.put_nowait(msg)


async def test_a_swing_tells_and_hears_back_even_when_halted(kis):
    client, headers, account, fake = kis
    inbox: asyncio.Queue = asyncio.Queue()
    system = client.app[SYSTEM]
    probe = system.spawn(f"{paths.SWINGS}/probe", lambda: Probe(inbox))
    hub = system.ref(paths.ACCOUNTS)
    hub.tell(PlaceOrder(account_id=account, code="005930", side="buy", quantity=1, price=PRICE,
                        source="swing:1", reply_to=probe))
    actor = await account_actor(client, account)
    await actor.ask(Reconcile(account), 5)  # barrier: accepted, result pending
    assert inbox.empty()
    fake.listener(BrokerFill(broker_order_no="K1", code="005930", side="buy", quantity=1, price=PRICE,
        ts_ms=1))
    result = await asyncio.wait_for(inbox.get(), 5)
    assert isinstance(result, OrderResult) and result.status == "filled" and result.filled_quantity == 1
    assert (await client.post(f"/accounts/{account}/halt", headers=headers)).status == 200
    hub.tell(PlaceOrder(account_id=account, code="005930", side="buy", quantity=1, price=PRICE,
                        source="swing:1", reply_to=probe))
    refused = await asyncio.wait_for(inbox.get(), 5)
    assert refused.status == "refused" and refused.reason_code == "account_halted"
    assert len(fake.sent) == 1


async def test_reconciliation_looks_an_order_up_on_its_own_date(kis, session_factory, clock):
    from actors.reconcile import reconcile
    from engine.market.krx import kst_date
    from engine.risk import Fees
    from storage import SqlJournal

    client, headers, account, fake = kis
    fake.answers = [OutcomeUnknown("read timeout")]
    assert (await client.post("/stocks/order", json=LIMIT, headers=headers)).status == 202
    created = (await _order(client, headers, account))["created_at"]
    fake.statuses = [BrokerOrderStatus(broker_order_no="0000118", code="005930", side="buy", quantity=4,
                                       filled_quantity=4, average_price=PRICE, ordered_ms=clock.now_ms())]
    fake.days.clear()
    tomorrow = clock.now_ms() + 86_400_000  # the process came back the next day
    moved = await reconcile(account, SqlJournal(session_factory), fake, Fees(0.015, 0.18), tomorrow,
                            lambda *_: None)
    assert fake.days == [kst_date(clock.now_ms()).strftime("%Y%m%d")] == [created[:10].replace("-", "")]
    assert [o.status for o in moved] == ["filled"]


async def test_without_fill_notices_open_orders_are_reconciled_on_a_timer(aiohttp_client, app_settings, engine,
                                                                         clock, make_user):
    fake = FakeKis()

    async def no_notices(listener, *, on_status=None):
        return False  # no HTS id: KIS pushes nothing

    fake.subscribe_fills = no_notices
    settings = msgspec.structs.replace(app_settings, reconcile_interval_s=5.0)
    app = create_app(settings, clock=clock)
    app[KIS_BROKERS] = lambda credentials: fake
    client = await aiohttp_client(app)
    _, headers = await make_user()
    account = await register(client, headers, {**KIS, "hts_id": None})
    assert (await client.post("/stocks/order", json=LIMIT, headers=headers)).status == 201
    fake.statuses = [BrokerOrderStatus(broker_order_no="K1", code="005930", side="buy", quantity=4,
                                       filled_quantity=4, average_price=PRICE, ordered_ms=clock.now_ms())]
    calls = len(fake.days)
    await clock.advance(5.5)
    await client.app[SYSTEM].idle()
    assert len(fake.days) == calls + 1  # one inquiry per interval, not a poll per order
    assert (await _order(client, headers, account))["status"] == "filled"
    fake.days.clear()
    await clock.advance(5.5)
    await client.app[SYSTEM].idle()
    assert fake.days == []  # nothing open: no call spent on the rate limit
