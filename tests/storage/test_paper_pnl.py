"""The paper ledger's realised P&L is the cash round trip (engine.pnl) on the exact cost basis it keeps,
the tax by the trade's date and the code's market; partial sells sum to the whole. By hand, both databases."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.brokers.base import OrderRequest
from engine.brokers.paper import PaperBroker
from engine.market import krx
from engine.risk import Fees
from engine.runtime import ManualClock
from storage import SqlPaperLedger
from tests.storage.helpers import Board, paper_account

# Tuesday 2026-03-03 10:00 KST, in the session; a sale settles 03-05 and pays 2026's rates:
# KOSPI 0.05 % + 0.15 % rural (each floored), KOSDAQ 0.20 %.
START_MS = krx.kst_midnight_ms(dt.date(2026, 3, 3)) + 10 * 3_600_000
FEES = Fees(0.015)  # commission 0.015 % on both sides, the tax by the KRX schedule


@pytest.fixture
async def paper(session_factory, db_settings):
    account_id = await paper_account(session_factory, db_settings, "pnl@example.com", 10_000_000)
    clock = ManualClock(START_MS)
    board = Board(clock)
    ledger = SqlPaperLedger(session_factory)
    broker = PaperBroker(account_id, ledger, board, clock, FEES, quote_timeout_s=3.0)
    await broker.start()
    return broker, board, clock, ledger, account_id


async def trade(broker, board, clock, side, qty, price, key):
    await clock.advance(1)
    board.publish((price,), (price,), ask_qty=(qty,), bid_qty=(qty,))
    ack = await broker.place_order(OrderRequest(client_order_id=key, code="005930", side=side, quantity=qty,
                                                price=None))
    walk = await broker.await_fills(ack.broker_order_no)
    [fill] = walk.fills
    return fill


@pytest.mark.parametrize("market, tax", [("KOSPI", 250 + 752), ("KOSDAQ", 1_003)])
async def test_a_round_trip_realises_exactly_its_cash(paper, market, tax):
    broker, board, clock, ledger, account_id = paper
    board.markets["005930"] = market
    buy = await trade(broker, board, clock, "buy", 10, 50_000, "b")
    # 10 x 50,000 = 500,000; commission floor(75.0) = 75; the exact basis 500,075 (the average 50,000)
    assert (buy.commission, buy.realized_pnl) == (75, 0)
    cash, [pos] = await ledger.cash_and_positions(account_id)
    assert (cash, pos.quantity, pos.average_price, pos.cost_basis) == (10_000_000 - 500_075, 10, 50_000, 500_075)
    balance = await broker.balance()
    assert balance.holdings[0].market == market  # the holding says where the code is listed
    sell = await trade(broker, board, clock, "sell", 10, 50_150, "s")
    # 10 x 50,150 = 501,500; commission floor(75.225) = 75; tax: KOSPI floor(250.75) + floor(752.25)
    # = 250 + 752 = 1,002, KOSDAQ floor(1,003.0) = 1,003
    assert (sell.commission, sell.tax) == (75, tax)
    assert sell.realized_pnl == 501_500 - 75 - tax - 500_075
    cash, positions = await ledger.cash_and_positions(account_id)
    assert positions == [] and cash - 10_000_000 == sell.realized_pnl  # the P&L is the cash it made


async def test_partial_sells_sum_to_the_round_trip(paper):
    broker, board, clock, ledger, account_id = paper
    first = await trade(broker, board, clock, "buy", 3, 50_050, "b1")  # 150,150 + floor(22.5225) = 22
    second = await trade(broker, board, clock, "buy", 4, 50_000, "b2")  # 200,000 + floor(30.0) = 30
    assert (first.commission, second.commission) == (22, 30)
    _, [pos] = await ledger.cash_and_positions(account_id)
    # the average price is floored (350,150 / 7 = 50,021.43); the basis is exact: 150,172 + 200,030
    assert (pos.quantity, pos.average_price, pos.cost_basis) == (7, 50_021, 350_202)
    sales = [await trade(broker, board, clock, "sell", q, 50_500, f"s{i}") for i, q in enumerate((2, 2, 3))]
    # 2 x 50,500 = 101,000: commission floor(15.15) = 15, tax floor(50.5) + floor(151.5) = 50 + 151 = 201;
    #   basis 350,202 x 2 // 7 = 100,057 (100,057.7 rounded down)
    # 2 more: the same fees; basis 250,145 x 2 // 5 = 100,058
    # the last 3: 151,500, commission floor(22.725) = 22, tax floor(75.75) + floor(227.25) = 75 + 227 = 302,
    #   and the rest of the basis, 350,202 - 100,057 - 100,058 = 150,087
    assert [(s.commission, s.tax) for s in sales] == [(15, 201), (15, 201), (22, 302)]
    assert [s.realized_pnl for s in sales] == [101_000 - 216 - 100_057, 101_000 - 216 - 100_058,
                                               151_500 - 324 - 150_087] == [727, 726, 1_089]
    # together, the whole round trip's cash: 353,500 - 756 (sell fees) - 350,202 (what the buys took)
    assert sum(s.realized_pnl for s in sales) == 353_500 - 756 - 350_202 == 2_542
    cash, positions = await ledger.cash_and_positions(account_id)
    assert positions == [] and cash == 10_000_000 + 2_542
