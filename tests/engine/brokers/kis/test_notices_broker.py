"""Fill notices to KisBroker.subscribe_fills: H0STCNI0/H0STCNI9 keyed by HTS id, AES key/iv from the ack."""

import asyncio

from engine.brokers.base import BrokerFill
from engine.brokers.kis.frames import encrypt, parse_fill_notices
from engine.brokers.kis.simulator import SimulatorConfig
from engine.market.krx import round_to_tick
from tests.engine.brokers.kis.broker_env import APP_KEY, HTS_ID, Creds, broker_env, next_item, order
from tests.engine.brokers.kis.layouts import NOTICE_26

FAST = SimulatorConfig(rest_rate_per_s=1000)


async def test_market_fill_arrives_as_a_broker_fill():
    async with broker_env(FAST) as (s, broker):
        fills: asyncio.Queue[BrokerFill] = asyncio.Queue()
        assert await broker.subscribe_fills(fills.put_nowait)
        assert s.sim.subscriptions(APP_KEY) == {("H0STCNI0", HTS_ID)}
        price = s.sim.market.state("005930").price
        ack = await broker.place_order(order(quantity=7))
        fill = await next_item(fills)
        assert (fill.broker_order_no, fill.code, fill.side, fill.quantity, fill.price) == (
            ack.broker_order_no,
            "005930",
            "buy",
            7,
            price,
        )
        assert fill.ts_ms > 0 and fills.empty()  # the acceptance notice is not a fill


async def test_limit_fill_arrives_when_the_walk_crosses_it():
    async with broker_env(FAST) as (s, broker):
        fills: asyncio.Queue[BrokerFill] = asyncio.Queue()
        await broker.subscribe_fills(fills.put_nowait)
        limit = round_to_tick(s.sim.market.state("005930").price * 85 // 100, "down")
        ack = await broker.place_order(order(quantity=3, price=limit))
        s.sim.orders.set_price("005930", limit)
        fill = await next_item(fills)
        assert (fill.broker_order_no, fill.quantity, fill.price) == (ack.broker_order_no, 3, limit)


async def test_paper_notices_use_h0stcni9():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000, paper=True)) as (s, broker):
        fills: asyncio.Queue[BrokerFill] = asyncio.Queue()
        assert await broker.subscribe_fills(fills.put_nowait)
        assert s.sim.subscriptions(APP_KEY) == {("H0STCNI9", HTS_ID)}
        await broker.place_order(order(side="buy", quantity=1))
        assert (await next_item(fills)).quantity == 1


async def test_a_hand_written_notice_frame_is_decrypted_and_filtered():
    async with broker_env(FAST) as (s, broker):
        fills: asyncio.Queue[BrokerFill] = asyncio.Queue()
        await broker.subscribe_fills(fills.put_nowait)
        session = s.sim.sessions[APP_KEY]
        key, iv = session.subs[("H0STCNI0", HTS_ID)]
        accepted = list(NOTICE_26)
        accepted[13] = "1"  # CNTG_YN 1: acceptance, not a fill
        other = list(NOTICE_26)
        other[1] = "9999999901"  # another account
        sell = list(NOTICE_26)
        sell[2], sell[4], sell[9], sell[10] = "0000000042", "01", "4", "73200"
        for rec in (accepted, other, NOTICE_26, sell):
            await session.send_text("1|H0STCNI0|001|" + encrypt("^".join(rec), key, iv))
        first, second = await next_item(fills), await next_item(fills)
        assert (first.broker_order_no, first.side, first.quantity, first.price) == (
            "0000006555",
            "buy",
            10,
            73100,
        )
        assert (second.broker_order_no, second.side, second.quantity, second.price) == (
            "0000000042",
            "sell",
            4,
            73200,
        )
        assert broker.fill_feed.session.unrouted == 1 and fills.empty()


async def test_simulator_notices_have_the_26_field_layout():
    async with broker_env(FAST) as (s, broker):
        await broker.place_order(order(quantity=2))
        book = s.sim.orders
        placed = book.orders[0]
        for cntg_yn in ("1", "2"):
            record = book.notice_record(placed, cntg_yn, 2, 70000)
            assert len(record.split("^")) == 26
            [n] = parse_fill_notices(record, 1)
            assert (n.order_no, n.code, n.side, n.filled, n.order_qty) == (
                placed.odno,
                "005930",
                "buy",
                cntg_yn == "2",
                2,
            )
            assert n.account_no == "5012345601" and n.order_kind == "01"


async def test_reconnect_reports_the_gap_and_notices_resume_with_the_new_key():
    async with broker_env(FAST) as (s, broker):
        fills: asyncio.Queue[BrokerFill] = asyncio.Queue()
        states: asyncio.Queue[tuple[bool, str]] = asyncio.Queue()
        await broker.subscribe_fills(fills.put_nowait, on_status=lambda live, d: states.put_nowait((live, d)))
        assert (await next_item(states))[0] is True  # the first connection
        old_key = s.sim.sessions[APP_KEY].subs[("H0STCNI0", HTS_ID)]
        await s.sim.drop_all()
        assert (await next_item(states))[0] is False
        assert (await next_item(states))[0] is True
        assert s.sim.sessions[APP_KEY].subs[("H0STCNI0", HTS_ID)] != old_key
        await broker.place_order(order(quantity=1))
        assert (await next_item(fills)).quantity == 1


async def test_without_hts_id_there_is_no_notice_socket():
    async with broker_env(FAST, Creds(hts_id=None)) as (s, broker):
        assert not await broker.subscribe_fills(lambda f: None)
        assert APP_KEY not in s.sim.sessions
