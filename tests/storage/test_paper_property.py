"""Property: whatever sequence of place / cancel / modify / new books hits a paper account, its
cash and holdings never go negative and equal what its fills say (value ± commission, − tax),
no fill is outside the day's limits and no order fills more than its quantity.

The AccountActor serialises an account's broker calls, so the sequence is applied in order;
the concurrent side (60 parallel orders through the app) is tests/web/test_orders_lifecycle.py.
Capped for CI: 15 examples of up to 30 steps, derandomised.
"""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.brokers.base import CancelRequest, ModifyRequest, OrderRejected, OrderRequest
from engine.brokers.paper import NoQuote, PaperBroker
from engine.market.krx import price_limits
from engine.risk import Fees
from engine.runtime import ManualClock
from storage import AccountRepo, Crypto, SqlPaperLedger, UserRepo
from storage.db import create_engine, create_session_factory
from tests.storage.test_paper_ledger import Board

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
        async with sessions.begin() as session:
            user = await UserRepo(session).create(f"{uuid.uuid4().hex}@example.com", "x")
            account = await AccountRepo(session, Crypto.from_settings(db_settings)).create(
                user.id, broker="paper", account_number=f"{uuid.uuid4().int % 10**8:08d}-01", app_key="k" * 20,
                app_secret="s" * 20, paper_initial_cash=CASH)
        clock = ManualClock()
        board = Board(clock)
        broker = PaperBroker(account.id, SqlPaperLedger(sessions), board, clock, FEES, quote_timeout_s=0.5)
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
            cash, positions = await broker.ledger.cash_and_positions(account.id)
            bought = sum(f.quantity for f in fills if f.side == "buy")
            sold = sum(f.quantity for f in fills if f.side == "sell")
            expected = CASH + sum((f.quantity * f.price - f.commission - f.tax) if f.side == "sell"
                                  else -(f.quantity * f.price + f.commission) for f in fills)
            assert cash >= 0 and cash == expected
            assert all(p.quantity > 0 for p in positions)
            assert sum(p.quantity for p in positions) == bought - sold >= 0
            assert all(LOW <= f.price <= HIGH for f in fills)
            assert all(f.commission == FEES.commission(f.quantity * f.price) for f in fills)
            for o in await broker.ledger.orders(account.id):
                assert 0 <= o.filled_quantity <= o.quantity
            balance = await broker.balance()
            assert balance.orderable is not None and 0 <= balance.orderable <= balance.cash
        await broker.close()
    finally:
        await engine.dispose()


@settings(settings.get_profile("paper_property"))
@given(steps=st.lists(step, min_size=1, max_size=30))
def test_cash_and_holdings_never_go_negative_and_equal_the_fills(db_settings, steps):
    asyncio.run(asyncio.wait_for(_scenario(db_settings, steps), 60))
