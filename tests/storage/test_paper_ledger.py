"""The paper broker over the real ledger: fills after acceptance, average price, realised P&L, refusals."""

from __future__ import annotations

import asyncio

import pytest

from engine.brokers.base import OrderRequest
from engine.brokers.paper import NoQuote, PaperBroker, PaperCancelled
from engine.market.messages import Quote
from engine.risk import Fees
from engine.runtime import ManualClock
from storage import AccountRepo, Crypto, SqlPaperLedger, UserRepo


class Board:
    """A QuoteSource fed by hand."""

    def __init__(self, clock):
        self.clock, self.latest_q, self.waiters, self.listeners = clock, {}, [], []

    def watch(self, code): ...
    def unwatch(self, code): ...

    def latest(self, code):
        return self.latest_q.get(code)

    async def quote_after(self, code, after_ms, timeout_s):
        future = asyncio.get_running_loop().create_future()
        self.waiters.append((after_ms, future))
        timer = self.clock.call_later(timeout_s,
            lambda: future.done() or future.set_exception(TimeoutError()))
        try:
            return await future
        finally:
            timer.cancel()

    def listen(self, fn):
        self.listeners.append(fn)
        return lambda: None

    def publish(self, ask, bid):
        q = Quote("005930", self.clock.now_ms(), (ask,), (bid,), (1,), (1,), 1, 1)
        self.latest_q[q.code] = q
        for after, fut in self.waiters:
            if q.ts_ms >= after and not fut.done():
                fut.set_result(q)
        for fn in self.listeners:
            fn(q)


@pytest.fixture
async def paper(session_factory, db_settings):
    async with session_factory.begin() as session:
        user = await UserRepo(session).create("p@example.com", "x")
        account = await AccountRepo(session, Crypto.from_settings(db_settings)).create(
            user.id, broker="paper", account_number="12345678-01", app_key="k" * 20, app_secret="s" * 20,
            paper_initial_cash=1_000_000)
    clock = ManualClock()
    board = Board(clock)
    crossed = []
    broker = PaperBroker(account.id, SqlPaperLedger(session_factory), board, clock, Fees(0.015, 0.18),
                         quote_timeout_s=3.0, on_cross=lambda: crossed.append(1))
    await broker.start()
    return broker, board, clock, crossed


def _req(side, qty, price=None, key="c"):
    return OrderRequest(client_order_id=key, code="005930", side=side, quantity=qty, price=price)


async def test_market_orders_fill_on_the_next_quote_and_move_the_ledger(paper):
    broker, board, clock, _ = paper
    board.publish(50_000, 49_950)  # before the order: never used for it
    ack = await broker.place_order(_req("buy", 10))
    fills = asyncio.ensure_future(broker.await_fills(ack.broker_order_no))
    await clock.advance(1)
    board.publish(50_100, 50_000)
    (fill,) = await fills
    assert fill.price == 50_100 and fill.ts_ms > ack.accepted_ms - 1 and fill.commission == 75
    balance = await broker.balance()
    assert balance.cash == 1_000_000 - 501_000 - 75
    assert balance.holdings[0].average_price == 50_100 and balance.holdings[0].current_price == 50_000

    ack = await broker.place_order(_req("buy", 5))
    fills = asyncio.ensure_future(broker.await_fills(ack.broker_order_no))
    await clock.advance(1)
    board.publish(49_000, 48_950)
    await fills
    assert (await broker.balance()).holdings[0].average_price == (10 * 50_100 + 5 * 49_000) // 15

    ack = await broker.place_order(_req("sell", 15))
    fills = asyncio.ensure_future(broker.await_fills(ack.broker_order_no))
    await clock.advance(1)
    board.publish(49_100, 49_050)
    (sell,) = await fills
    assert sell.tax == 15 * 49_050 * 18 // 10_000
    average = (10 * 50_100 + 5 * 49_000) // 15
    assert sell.realized_pnl == 15 * 49_050 - sell.commission - sell.tax - 15 * average
    statuses = await broker.orders_today()
    assert [s.filled_quantity for s in statuses] == [10, 5, 15]


async def test_no_quote_cancels_and_overdraw_cancels(paper):
    broker, board, clock, _ = paper
    ack = await broker.place_order(_req("buy", 1))
    fills = asyncio.ensure_future(broker.await_fills(ack.broker_order_no))
    await clock.advance(3.5)
    with pytest.raises(NoQuote):
        await fills
    ack = await broker.place_order(_req("buy", 100))  # 100 x 50,000 > 1,000,000
    fills = asyncio.ensure_future(broker.await_fills(ack.broker_order_no))
    await clock.advance(1)
    board.publish(50_000, 49_950)
    with pytest.raises(PaperCancelled):
        await fills
    assert [s.cancelled for s in await broker.orders_today()] == [True, True]
    assert (await broker.balance()).cash == 1_000_000


async def test_limit_orders_rest_until_crossed(paper):
    broker, board, clock, crossed = paper
    ack = await broker.place_order(_req("buy", 2, price=49_000))
    await clock.advance(1)
    board.publish(49_500, 49_450)
    assert crossed == [] and (await broker.fill_resting()) == ([], {})
    board.publish(48_900, 48_850)
    assert crossed == [1]
    fills, cancelled = await broker.fill_resting()
    assert [f.price for f in fills] == [48_900] and cancelled == {}
    assert (await broker.orders_today())[0].broker_order_no == ack.broker_order_no
