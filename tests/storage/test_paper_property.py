"""Property: whatever sequence of place / cancel / modify / new books hits a paper account, its
cash and holdings never go negative and equal what its fills say (value ± commission, − tax),
no fill is outside the day's limits and no order fills more than its quantity.

Two forms. In order: each step straight on the broker, one after the other. Concurrently:
batches of place / cancel / modify sent to the running app at once (``asyncio.gather`` over REST,
through the account's AccountActor), the market moving between batches on market time, the same
invariants checked after each batch against the journal's fills and the balance endpoint.
Capped for CI (the ``paper_property`` profile): 15 examples of up to 30 steps, derandomised; the
concurrent form, 8 sequences of up to 4 batches of up to 6 requests, run in one app per leg.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.brokers.base import CancelRequest, ModifyRequest, OrderRejected, OrderRequest
from engine.brokers.paper import NoQuote, PaperBroker
from engine.market.krx import price_limits
from engine.risk import Fees
from engine.runtime import ManualClock
from storage import SqlPaperLedger, UserRepo
from storage.db import create_engine, create_session_factory
from tests.storage.helpers import Board, paper_account
from tests.web.orders_env import drive

settings.register_profile("paper_property", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FEES = Fees(0.015, 0.18)
CASH = 2_000_000
LOW, HIGH = price_limits(50_000)

step = st.one_of(
    st.tuples(st.just("book"), st.integers(-20, 20), st.integers(1, 30), st.integers(1, 30)),
    st.tuples(st.just("market"), st.sampled_from(["buy", "sell"]), st.integers(1, 40)),
    st.tuples(st.just("limit"), st.sampled_from(["buy", "sell"]), st.integers(1, 40), st.integers(-10, 10)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("modify"), st.integers(0, 20), st.integers(-5, 0), st.integers(-5, 5)),
    st.tuples(st.just("cross")),
)


async def _scenario(db_settings, steps) -> None:
    engine = create_engine(db_settings)
    sessions = create_session_factory(engine)
    try:
        account_id = await paper_account(sessions, db_settings, f"{uuid.uuid4().hex}@example.com", CASH,
                                         account_number=f"{uuid.uuid4().int % 10**8:08d}-01")
        clock = ManualClock()
        board = Board(clock)
        broker = PaperBroker(account_id, SqlPaperLedger(sessions), board, clock, FEES, quote_timeout_s=0.5)
        await broker.start()
        placed: list[tuple[str, str, int | None]] = []  # (order no, side, price)
        fills = []
        mid = 50_000
        for op in steps:
            match op:
                case ("book", move, ask_qty, bid_qty):
                    await clock.advance(1)
                    mid = min(max(mid + 100 * move, LOW + 300), HIGH - 300)
                    board.publish((mid + 100, mid + 200, mid + 300), (mid, mid - 100, mid - 200),
                                  ask_qty=(ask_qty, ask_qty, ask_qty), bid_qty=(bid_qty, bid_qty, bid_qty))
                case ("market", side, qty):
                    if board.latest("005930") is None:
                        continue  # no book yet: a market order would wait for one (the manual clock)
                    ack = await broker.place_order(OrderRequest(client_order_id="m", code="005930", side=side,
                                                                quantity=qty))
                    placed.append((ack.broker_order_no, side, None))
                    try:
                        fills += (await broker.await_fills(ack.broker_order_no)).fills
                    except NoQuote:
                        pass
                case ("limit", side, qty, ticks):
                    price = mid + 100 * ticks
                    ack = await broker.place_order(OrderRequest(client_order_id="l", code="005930", side=side,
                                                                quantity=qty, price=price))
                    placed.append((ack.broker_order_no, side, price))
                case ("cancel", i) if placed:
                    no, side, price = placed[i % len(placed)]
                    try:
                        await broker.cancel_order(CancelRequest(broker_order_no=no, code="005930", side=side,
                                                                quantity=0, price=price))
                    except OrderRejected:
                        pass
                case ("modify", i, dq, ticks) if placed:
                    no, side, price = placed[i % len(placed)]
                    open_order = broker._open.get(no)
                    if open_order is None or price is None:
                        continue
                    new_price = min(max(price + 100 * ticks, LOW), HIGH)
                    new_qty = max(1, open_order.remaining + dq)
                    await broker.modify_order(ModifyRequest(broker_order_no=no, code="005930", side=side,
                                                            remaining=open_order.remaining, quantity=new_qty,
                                                            old_price=price, price=new_price))
                    placed[i % len(placed)] = (no, side, new_price)
                case ("cross",):
                    fills += (await broker.fill_resting())[0]
            cash, positions = await broker.ledger.cash_and_positions(account_id)
            bought = sum(f.quantity for f in fills if f.side == "buy")
            sold = sum(f.quantity for f in fills if f.side == "sell")
            expected = CASH + sum((f.quantity * f.price - f.commission - f.tax) if f.side == "sell"
                                  else -(f.quantity * f.price + f.commission) for f in fills)
            assert cash >= 0 and cash == expected
            assert all(p.quantity > 0 for p in positions)
            assert sum(p.quantity for p in positions) == bought - sold >= 0
            assert all(LOW <= f.price <= HIGH for f in fills)
            assert all(f.commission == FEES.commission(f.quantity * f.price) for f in fills)
            for o in await broker.ledger.orders(account_id):
                assert 0 <= o.filled_quantity <= o.quantity
            balance = await broker.balance()  # the broker's kept book is the ledger's, figure for figure
            assert balance.cash == cash
            assert {h.code: (h.quantity, h.average_price) for h in balance.holdings} == {
                p.code: (p.quantity, p.average_price) for p in positions}
            assert balance.orderable is not None and 0 <= balance.orderable <= balance.cash
        await broker.close()
    finally:
        await engine.dispose()


@settings(settings.get_profile("paper_property"))
@given(steps=st.lists(step, min_size=1, max_size=30))
def test_cash_and_holdings_never_go_negative_and_equal_the_fills(db_settings, steps):
    asyncio.run(asyncio.wait_for(_scenario(db_settings, steps), 60))


# -- concurrently, through the app ---------------------------------------------------------------

REST_CASH = 2_000_000
CLOSE = 37_200  # 005930's previous close in the simulated market; tick 50, limits 26,050..48,350
request = st.one_of(
    st.tuples(st.just("market"), st.sampled_from(["buy", "sell"]), st.integers(1, 25)),
    # ticks away from the previous close on the passive side: most rest, a few (negative) cross
    st.tuples(st.just("limit"), st.sampled_from(["buy", "sell"]), st.integers(1, 25), st.integers(-2, 8)),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("modify"), st.integers(0, 30), st.integers(-5, 5), st.integers(-4, 4)),
)
batches = st.lists(st.tuples(st.lists(request, min_size=1, max_size=6), st.integers(0, 3)), min_size=1,
                   max_size=4)
ANSWERS = {"POST": {201, 202, 422}, "DELETE": {200, 409}, "PATCH": {200, 409, 422}}


def _sequences() -> list:
    found: list = []

    @settings(settings.get_profile("paper_property"), max_examples=8, database=None,
              suppress_health_check=list(HealthCheck))
    @given(seq=batches)
    def collect(seq) -> None:
        found.append(seq)

    collect()
    return found


async def _rest_user(client, sessions, app_settings):
    from web.auth import issue_token

    async with sessions.begin() as session:
        user = await UserRepo(session).create(f"{uuid.uuid4().hex}@example.com", "x")
    headers = {"Authorization": f"Bearer {issue_token(user.id, app_settings.jwt_secret, 3600)}"}
    body = {"account_number": f"5{uuid.uuid4().int % 10**7:07d}-01", "api_key": "PSabcdefghijklmnop1234",
            "secret_key": "Zx9" * 60}
    resp = await client.post("/accounts/register", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return headers, (await resp.json())["account_id"]


def _call(client, headers, ids: list[str], op):
    match op:
        case ("market", side, qty):
            return "POST", client.post("/stocks/order", headers=headers, json={
                "stock_code": "005930", "order_type": side, "quantity": qty})
        case ("limit", side, qty, ticks):
            price = CLOSE - 50 * ticks if side == "buy" else CLOSE + 50 * ticks
            return "POST", client.post("/stocks/order", headers=headers, json={
                "stock_code": "005930", "order_type": side, "quantity": qty, "price": price})
        case ("cancel", i) if ids:
            return "DELETE", client.delete(f"/stocks/orders/{ids[i % len(ids)]}", headers=headers)
        case ("modify", i, dq, ticks) if ids:
            return "PATCH", client.patch(f"/stocks/orders/{ids[i % len(ids)]}", headers=headers, json={
                "quantity": max(1, 6 + dq), "price": CLOSE + 50 * ticks})
    return None


async def _status(coro):
    resp = await coro
    return resp.status, await resp.json()


async def _check(client, sessions, headers, account_id: int) -> None:
    from sqlalchemy import select

    from storage.models import FillRow, OrderRow

    async with sessions() as session:
        rows = (await session.execute(select(FillRow, OrderRow.side).join(OrderRow, FillRow.order_id == OrderRow.id)
                                      .where(FillRow.account_id == account_id))).all()
        journal = list(await session.scalars(select(OrderRow).where(OrderRow.account_id == account_id)))
    cash, positions = await SqlPaperLedger(sessions).cash_and_positions(account_id)
    # cash = 2,000,000 − Σ buys (qty × price + commission) + Σ sells (qty × price − commission − tax);
    # commission 0.015 % and tax 0.18 % of each fill's value, each floored to the won
    expected = REST_CASH
    for fill, side in rows:
        value = fill.quantity * fill.price
        assert fill.commission == value * 15 // 100_000
        if side == "buy":
            assert fill.tax == 0
            expected -= value + fill.commission
        else:
            assert fill.tax == value * 18 // 10_000
            expected += value - fill.commission - fill.tax
    bought = sum(f.quantity for f, side in rows if side == "buy")
    sold = sum(f.quantity for f, side in rows if side == "sell")
    assert cash >= 0 and cash == expected
    assert all(p.quantity > 0 for p in positions) and sum(p.quantity for p in positions) == bought - sold >= 0
    for o in journal:
        assert 0 <= o.filled_quantity <= o.quantity
        assert o.filled_quantity == sum(f.quantity for f, _ in rows if f.order_id == o.id)
    resp = await client.get("/accounts/balance", headers=headers)
    assert resp.status == 200
    balance = await resp.json()
    assert balance["cash_balance"] == cash and 0 <= balance["orderable_cash"] <= cash
    held = {p.code: p.quantity for p in positions}
    assert {s["stock_code"]: s["quantity"] for s in balance["stock_balance"]} == held
    assert all(0 <= s["orderable_quantity"] <= s["quantity"] for s in balance["stock_balance"])


async def test_concurrent_place_cancel_modify_keep_cash_and_holdings_equal_to_the_fills(
        aiohttp_client, db_settings, engine):
    from storage.db import create_session_factory as factory
    from web.app import create_app
    from web.keys import SYSTEM

    app_settings = msgspec.structs.replace(db_settings, market_data="sim", ignore_market_hours=False,
                                           paper_initial_cash=REST_CASH, sell_tax_pct=0.18)
    # Tuesday 2026-12-01, 10:00 KST: inside the regular session; the batches take seconds of it
    clock = ManualClock(start_ms=int(dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC).timestamp() * 1000))
    client = await aiohttp_client(create_app(app_settings, clock=clock))
    system = client.app[SYSTEM]
    sessions = factory(engine)
    for seq in _sequences():
        headers, account_id = await _rest_user(client, sessions, app_settings)
        ids: list[str] = []
        # first 30 shares at the market (about 1.1 M of the 2 M), so sells have something to sell
        status, _ = await drive(client, clock, _status(client.post("/stocks/order", headers=headers, json={
            "stock_code": "005930", "order_type": "buy", "quantity": 30})))
        assert status == 201
        for ops, wait_s in seq:
            calls = [c for c in (_call(client, headers, ids, op) for op in ops) if c is not None]

            async def send(method, coro):
                resp = await coro
                body = await resp.json()
                assert resp.status in ANSWERS[method], (method, resp.status, body)
                return method, body

            answers = await drive(client, clock, asyncio.gather(*(send(m, c) for m, c in calls)))
            ids += [body["order_id"] for method, body in answers if method == "POST" and "order_id" in body]
            await clock.advance(wait_s)  # the market moves: resting orders may cross
            await drive(client, clock, system.idle())
            await _check(client, sessions, headers, account_id)
