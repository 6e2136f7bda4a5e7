"""A fill that only reconciliation finds (the answer was lost, the process died) is journalled with
its fees and the one realised P&L of engine.pnl, on the cost basis the journal's fills leave, and the
daily loss limit counts it; a fill notice books the same (actors.account_books). A KIS account (a
fake Broker that speaks the protocol) on market time: Tuesday 2026-12-01 in the continuous session,
KRX hours respected.

Hand-computed (2026, KOSPI: 0.05 % tax + 0.15 % rural special tax, each floored; commission 0.015 %):
buy 10 at 50,000 → 500,000 + 75 = 500,075 of basis.
- sold at 51,000: 510,000 − 76 − (255 + 765) − 500,075 = +8,829;
- sold at 45,000: 450,000 − 67 − (225 + 675) − 500,075 = −51,042.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from actors.account_messages import Reconcile
from engine.brokers.base import BrokerFill, BrokerOrderStatus, Holding, OutcomeUnknown
from engine.brokers.sim import base_price
from engine.market.krx import KST
from engine.market.listing import simulated_market
from engine.runtime import ManualClock
from storage import SqlJournal
from tests.web.orders_env import KIS, FakeKis, account_actor, register
from web.app import create_app
from web.trading import KIS_BROKERS

CODE = "068270"  # base 40,050 on the simulated market (limits 28,050..52,050), a KOSPI code
BUY = {"stock_code": CODE, "order_type": "buy", "quantity": 10, "price": 50_000}


def test_the_code_is_what_the_hand_computation_assumes():
    assert simulated_market(CODE) == "KOSPI" and 28_000 < base_price(CODE) * 7 // 10 < 45_000
    assert base_price(CODE) * 13 // 10 > 51_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(int(dt.datetime(2026, 12, 1, 10, 0, tzinfo=KST).timestamp() * 1000))


@pytest.fixture
def app_settings(db_settings):
    return msgspec.structs.replace(db_settings, market_data="sim", ignore_market_hours=False, commission_pct=0.015,
                                   sell_tax_pct=None, balance_cache_s=0)


def kis_app(settings, clock, fake):
    app = create_app(settings, clock=clock)
    app[KIS_BROKERS] = lambda credentials: fake
    return app


async def bought_ten_then_sell_answer_lost(client, headers, account, fake, clock, price):
    """Buy 10 at 50,000 (filled by a notice), then a sell of the 10 whose answer is lost."""
    assert (await client.post("/stocks/order", json=BUY, headers=headers)).status == 201
    fake.listener(BrokerFill(broker_order_no="K1", code=CODE, side="buy", quantity=10, price=50_000,
                             ts_ms=clock.now_ms()))
    actor = await account_actor(client, account)
    await actor.ask(Reconcile(account), 5)  # barrier: the notice is journalled
    fake.holdings = [Holding(code=CODE, quantity=10, average_price=50_000, current_price=50_000)]
    fake.answers = [OutcomeUnknown("read timeout")]
    sell = {**BUY, "order_type": "sell", "price": price}
    resp = await client.post("/stocks/order", json=sell, headers=headers)
    assert resp.status == 202, await resp.text()
    at = clock.now_ms()
    fake.statuses = [  # KIS filled both; the journal knows only the buy's fill
        BrokerOrderStatus(broker_order_no="K1", code=CODE, side="buy", quantity=10, filled_quantity=10,
                          average_price=50_000, ordered_ms=at, price=50_000),
        BrokerOrderStatus(broker_order_no="0000207", code=CODE, side="sell", quantity=10, filled_quantity=10,
                          average_price=price, ordered_ms=at, price=price),
    ]
    fake.holdings = []


async def sell_fills(session_factory, account):
    from sqlalchemy import select

    from storage.models import FillRow, OrderRow

    async with session_factory() as session:
        rows = await session.execute(select(FillRow).join(OrderRow, OrderRow.id == FillRow.order_id)
                                     .where(OrderRow.account_id == account, OrderRow.side == "sell"))
        return [(f.quantity, f.price, f.commission, f.tax, f.realized_pnl) for (f,) in rows]


async def test_a_sale_found_after_a_crash_books_the_round_trip(aiohttp_client, app_settings, engine, clock,
                                                                make_user, session_factory):
    fake = FakeKis()
    client = await aiohttp_client(kis_app(app_settings, clock, fake))
    _, headers = await make_user()
    account = await register(client, headers, KIS)
    await bought_ten_then_sell_answer_lost(client, headers, account, fake, clock, 51_000)
    assert await sell_fills(session_factory, account) == []  # the journal has the sale open, unfilled
    await client.close()  # the process dies with the sale pending; KIS filled it meanwhile

    client = await aiohttp_client(kis_app(app_settings, clock, fake))
    await account_actor(client, account)  # a new AccountActor: its on_start reconciles
    assert await sell_fills(session_factory, account) == [(10, 51_000, 76, 1_020, 8_829)]
    journal = SqlJournal(session_factory)
    assert await journal.realized_since(account, clock.now_ms() - 3_600_000) == 8_829
    assert (await journal.cost_basis(account, CODE)).quantity == 0
    assert len(fake.sent) == 2  # never resent


async def test_the_daily_loss_limit_counts_a_loss_found_by_reconciliation(aiohttp_client, app_settings, engine,
                                                                          clock, make_user, session_factory):
    fake = FakeKis()
    client = await aiohttp_client(kis_app(app_settings, clock, fake))
    _, headers = await make_user()
    account = await register(client, headers, KIS)
    resp = await client.put(f"/accounts/{account}/risk", json={"daily_loss_limit": 50_000}, headers=headers)
    assert resp.status == 200, await resp.text()
    await bought_ten_then_sell_answer_lost(client, headers, account, fake, clock, 45_000)
    small = {**BUY, "quantity": 1}
    first = await client.post("/stocks/order", json=small, headers={**headers, "Idempotency-Key": "b1"})
    assert first.status == 201  # no loss known yet (the day's realised P&L is read and kept)

    assert await (await account_actor(client, account)).ask(Reconcile(account), 5) == 1  # the sale is found
    assert await sell_fills(session_factory, account) == [(10, 45_000, 67, 900, -51_042)]
    refused = await client.post("/stocks/order", json=small, headers={**headers, "Idempotency-Key": "b2"})
    body = await refused.json()
    assert refused.status == 422 and body["error"]["code"] == "daily_loss_limit", body
    assert "51042" in body["error"]["message"]


async def test_a_found_sale_is_taxed_on_the_market_kis_gave(aiohttp_client, app_settings, engine, clock, make_user,
                                                            session_factory):
    """KIS says KOSDAQ where the simulated market data would say KOSPI: the broker's word wins. 10 x 45,050
    = 450,500: KOSDAQ 0.20 % = 901; KOSPI would be 225 + 675 = 900 (each part floored)."""
    fake = FakeKis()
    fake.markets = {CODE: "KOSDAQ"}
    client = await aiohttp_client(kis_app(app_settings, clock, fake))
    _, headers = await make_user()
    account = await register(client, headers, KIS)
    await bought_ten_then_sell_answer_lost(client, headers, account, fake, clock, 45_050)
    assert await (await account_actor(client, account)).ask(Reconcile(account), 5) == 1
    # 450,500 − 67 − 901 − 500,075
    assert await sell_fills(session_factory, account) == [(10, 45_050, 67, 901, -50_543)]


async def test_a_fill_notice_books_the_same_round_trip_as_reconciliation(aiohttp_client, app_settings, engine,
                                                                          clock, make_user, session_factory):
    """The sale's notice arrives (no crash): the same +8,829, on the journal's basis, not on the broker's
    average price (which the account has not even read: the balance shows no holding)."""
    fake = FakeKis()
    client = await aiohttp_client(kis_app(app_settings, clock, fake))
    _, headers = await make_user()
    account = await register(client, headers, KIS)
    assert (await client.post("/stocks/order", json=BUY, headers=headers)).status == 201
    fake.listener(BrokerFill(broker_order_no="K1", code=CODE, side="buy", quantity=10, price=50_000,
                             ts_ms=clock.now_ms()))
    fake.holdings = [Holding(code=CODE, quantity=10, average_price=50_000, current_price=50_000)]
    sell = {**BUY, "order_type": "sell", "price": 51_000}
    assert (await client.post("/stocks/order", json=sell, headers=headers)).status == 201
    fake.holdings = []
    for part in (4, 6):  # two notices: the second sale takes the basis the first left
        fake.listener(BrokerFill(broker_order_no="K2", code=CODE, side="sell", quantity=part, price=51_000,
                                 ts_ms=clock.now_ms()))
    actor = await account_actor(client, account)
    await actor.ask(Reconcile(account), 5)  # barrier: the notices are journalled
    fills = await sell_fills(session_factory, account)
    # 4 x 51,000 = 204,000: commission 30, tax 102 + 306; basis 500,075 x 4 // 10 = 200,030 → +3,532
    # 6 x 51,000 = 306,000: commission 45, tax 153 + 459; basis the rest, 300,045 → +5,298
    assert fills == [(4, 51_000, 30, 408, 3_532), (6, 51_000, 45, 612, 5_298)]
    # the round trip's cash exactly: commission floored per fill (30 + 45 = 75, one won less than 76)
    assert sum(f[-1] for f in fills) == 8_829 + 1
