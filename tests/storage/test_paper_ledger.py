"""The paper broker over the real ledger: fills against the book as it stands, level by level, average
price, realised P&L, refusals, reservations, cancel/modify/expiry. Every figure is computed by hand."""

from __future__ import annotations

import asyncio

import pytest

from engine.brokers.base import BrokerFill, CancelRequest, FillCosts, ModifyRequest, OrderRejected, OrderRequest
from engine.brokers.paper import NoQuote, PaperBroker
from engine.risk import Fees
from engine.runtime import ManualClock
from storage import SqlPaperLedger
from tests.storage.helpers import Board, paper_account


@pytest.fixture
async def paper(session_factory, db_settings):
    account_id = await paper_account(session_factory, db_settings, "p@example.com", 1_000_000)
    clock = ManualClock()
    board = Board(clock)
    crossed = []
    broker = PaperBroker(account_id, SqlPaperLedger(session_factory), board, clock, Fees(0.015, 0.18),
                         quote_timeout_s=3.0, on_cross=lambda: crossed.append(1))
    await broker.start()
    return broker, board, clock, crossed


def _req(side, qty, price=None, key="c"):
    return OrderRequest(client_order_id=key, code="005930", side=side, quantity=qty, price=price)


async def test_market_orders_walk_the_book_as_it_stands_and_move_the_ledger(paper):
    broker, board, clock, _ = paper
    board.publish((50_000, 50_100), (49_950,), ask_qty=(4, 10), bid_qty=(20,))  # before the order: used
    ack = await broker.place_order(_req("buy", 10))
    walk = await broker.await_fills(ack.broker_order_no)  # no waiting: the latest book is the market
    assert [(f.quantity, f.price, f.commission) for f in walk.fills] == [(4, 50_000, 30), (6, 50_100, 45)]
    assert walk.cancelled == ""  # 4 x 50,000 x 0.015 % = 30; 6 x 50,100 = 300,600 -> 45.09 -> 45
    balance = await broker.balance()
    assert balance.cash == 1_000_000 - 200_030 - 300_645 == 499_325
    assert balance.holdings[0].average_price == 500_600 // 10 == 50_060
    assert balance.holdings[0].current_price == 49_950

    # The same book gave this account 4 + 6 shares already: 4 are left at 50,100, the 5th is cancelled.
    ack = await broker.place_order(_req("buy", 5))
    walk = await broker.await_fills(ack.broker_order_no)
    assert [(f.quantity, f.price) for f in walk.fills] == [(4, 50_100)]
    assert "the remaining 1 were cancelled" in walk.cancelled
    assert (await broker.balance()).cash == 499_325 - 200_400 - 30

    await clock.advance(1)
    board.publish((49_900,), (49_900, 49_800), ask_qty=(9,), bid_qty=(6, 10))
    ack = await broker.place_order(_req("sell", 14))
    walk = await broker.await_fills(ack.broker_order_no)
    first, second = walk.fills
    assert (first.quantity, first.price, second.quantity, second.price) == (6, 49_900, 8, 49_800)
    assert first.tax == 6 * 49_900 * 18 // 10_000 == 538 and second.tax == 8 * 49_800 * 18 // 10_000 == 717
    # Realised P&L is the cash round trip (engine.pnl): the 14 shares cost 200,030 + 300,645 + 200,430
    # = 701,105 KRW, commission in; 6 of 14 take 701,105 x 6 // 14 = 300,473, the last 8 the rest, 400,632.
    basis = 200_030 + 300_645 + 200_400 + 30
    assert first.realized_pnl == 299_400 - 44 - 538 - basis * 6 // 14 == -1_655
    assert second.commission == 398_400 * 15 // 100_000 == 59
    assert second.realized_pnl == 398_400 - 59 - 717 - (basis - basis * 6 // 14) == -3_008
    # The two sales sum to the round trip's cash exactly: (298,818 + 397,624) - 701,105 = -4,663.
    assert first.realized_pnl + second.realized_pnl == (299_400 - 44 - 538 + 398_400 - 59 - 717) - basis
    # The account books a paper fill's costs as the ledger made them; a broker that does not say gets None.
    assert first.costs() == FillCosts(commission=44, tax=538, realized_pnl=-1_655)
    assert BrokerFill(broker_order_no="1", code="005930", side="sell", quantity=6, price=49_900,
                      ts_ms=0).costs() is None
    statuses = await broker.orders_today()
    assert [(s.filled_quantity, s.cancelled) for s in statuses] == [(10, False), (4, True), (14, False)]
    assert (await broker.balance()).holdings == []


async def test_no_quote_cancels_and_overdraw_cancels(paper):
    broker, board, clock, _ = paper
    ack = await broker.place_order(_req("buy", 1))
    fills = asyncio.ensure_future(broker.await_fills(ack.broker_order_no))  # no book yet: waits for one
    await clock.advance(3.5)
    with pytest.raises(NoQuote):
        await fills
    board.publish((50_000,), (49_950,), ask_qty=(1_000,), bid_qty=(1_000,))
    ack = await broker.place_order(_req("buy", 100))  # 100 x 50,000 > 1,000,000
    walk = await broker.await_fills(ack.broker_order_no)
    assert walk.fills == [] and "short of" in walk.cancelled
    assert [s.cancelled for s in await broker.orders_today()] == [True, True]
    assert (await broker.balance()).cash == 1_000_000


async def test_limit_orders_rest_until_crossed_and_fill_what_the_book_shows(paper):
    broker, board, clock, crossed = paper
    ack = await broker.place_order(_req("buy", 5, price=49_000))
    board.publish((49_500,), (49_450,))
    assert crossed == [] and (await broker.fill_resting()) == ([], {})
    await clock.advance(1)
    board.publish((48_900, 49_000, 49_100), (48_850,), ask_qty=(2, 2, 9), bid_qty=(5,))
    assert crossed == [1]
    fills, cancelled = await broker.fill_resting()
    assert [(f.quantity, f.price) for f in fills] == [(2, 48_900), (2, 49_000)] and cancelled == {}
    assert (await broker.fill_resting()) == ([], {})  # that book's shares are taken; 1 share rests
    (status,) = await broker.orders_today()
    assert status.broker_order_no == ack.broker_order_no and status.filled_quantity == 4
    assert not status.cancelled


async def test_open_orders_reserve_and_cancel_modify_expire_release(paper):
    broker, board, clock, _ = paper
    board.publish((50_000,), (49_950,), ask_qty=(100,), bid_qty=(100,))
    ack = await broker.place_order(_req("buy", 10, price=40_000))  # rests: reserves 400,000 + 60
    balance = await broker.balance()
    assert balance.cash == 1_000_000 and balance.orderable == 1_000_000 - 400_060
    moved = await broker.modify_order(ModifyRequest(broker_order_no=ack.broker_order_no, code="005930",
                                                    side="buy", remaining=10, quantity=6, old_price=40_000,
                                                    price=41_000))
    assert moved.quantity == 6
    assert (await broker.balance()).orderable == 1_000_000 - 246_036  # 6 x 41,000 + 36 commission
    done = await broker.cancel_order(CancelRequest(broker_order_no=ack.broker_order_no, code="005930",
                                                   side="buy", quantity=6, price=41_000))
    assert done.quantity == 6 and (await broker.balance()).orderable == 1_000_000
    with pytest.raises(OrderRejected):
        await broker.modify_order(ModifyRequest(broker_order_no=ack.broker_order_no, code="005930",
                                                side="buy", remaining=6, quantity=6, old_price=41_000,
                                                price=42_000))
    ack2 = await broker.place_order(_req("buy", 3, price=40_000))
    assert await broker.expire_open("the session closed") == [ack2.broker_order_no]
    statuses = await broker.orders_today()
    assert [(s.cancelled, s.expired) for s in statuses] == [(True, False), (False, True)]
    assert (await broker.balance()).orderable == 1_000_000


async def test_concurrent_market_orders_open_one_position(paper):
    """The account's broker calls run concurrently: two first buys of a code must not both insert it."""
    broker, board, clock, _ = paper
    board.publish((50_000,), (49_950,), ask_qty=(100,), bid_qty=(100,))

    async def buy(qty):
        ack = await broker.place_order(_req("buy", qty))
        return (await broker.await_fills(ack.broker_order_no)).fills

    first, second = await asyncio.gather(buy(3), buy(4))
    assert [f.quantity for f in first + second] == [3, 4]
    (holding,) = (await broker.balance()).holdings
    assert holding.quantity == 7 and holding.average_price == 50_000
    # 150,000 + 22 and 200,000 + 30 commission
    assert (await broker.balance()).cash == 1_000_000 - 150_022 - 200_030
