"""One WebSocket session per app key (KIS refuses a second, OPSP8996), shared through the keyring.

Two accounts on one app key, and the market-data source on that key, ride one
connection: each account gets its own fills, the source its ticks; the session
closes when the last of them leaves. Without the shared keyring the second
account's socket is refused, which is what the simulator proves KIS would do.
"""

import asyncio

import msgspec

from engine.brokers.base import BrokerFill
from engine.brokers.kis.broker import KisBroker
from engine.brokers.kis.keyring import KisKeyring
from engine.brokers.kis.simulator import SimulatorConfig
from engine.brokers.kis.source import KisMarketData
from engine.runtime.clock import WallClock
from tests.engine.brokers.kis.broker_env import APP_KEY, APP_SECRET, Creds, next_item, order, settings_for
from tests.engine.brokers.kis.helpers import QueueSink, running_simulator

FAST = SimulatorConfig(rest_rate_per_s=1000, rate=50.0)
FIRST, SECOND = Creds(account_number="5012345601", hts_id="htsone"), Creds(account_number="5099887701",
                                                                          hts_id="htstwo")


def _open_accounts(s) -> None:
    for creds in (FIRST, SECOND):
        s.sim.orders.open_account(creds.account_number, app_key=APP_KEY, hts_id=creds.hts_id)


async def _fills(broker: KisBroker) -> asyncio.Queue[BrokerFill]:
    fills: asyncio.Queue[BrokerFill] = asyncio.Queue()
    assert await broker.subscribe_fills(fills.put_nowait)
    return fills


async def test_two_accounts_on_one_app_key_share_one_session_and_get_their_own_fills():
    async with running_simulator(FAST) as s:
        _open_accounts(s)
        settings, clock = settings_for(s), WallClock()
        ring = KisKeyring(settings, clock)
        brokers = [KisBroker(settings, clock, c, ring.http, rest=ring.rest(APP_KEY, APP_SECRET, False), keyring=ring)
                   for c in (FIRST, SECOND)]
        try:
            one, two = [await _fills(b) for b in brokers]
            assert len([x for x in s.sim.all_sessions if not x.ws.closed]) == 1
            assert s.sim.subscriptions(APP_KEY) == {("H0STCNI0", "htsone"), ("H0STCNI0", "htstwo")}
            ack_one = await brokers[0].place_order(order(quantity=3))
            ack_two = await brokers[1].place_order(order(quantity=5))
            got_one, got_two = await next_item(one), await next_item(two)
            assert (got_one.broker_order_no, got_one.quantity) == (ack_one.broker_order_no, 3)
            assert (got_two.broker_order_no, got_two.quantity) == (ack_two.broker_order_no, 5)
            await brokers[0].close()  # the first leaves: its HTS id is unsubscribed, the session stays
            assert s.sim.subscriptions(APP_KEY) == {("H0STCNI0", "htstwo")}
            ack = await brokers[1].place_order(order(quantity=2))
            assert (await next_item(two)).broker_order_no == ack.broker_order_no
            assert one.empty() and two.empty()
            [session] = ring.sessions()
            await brokers[1].close()  # the last leaves: the connection closes
            assert ring.sessions() == [] and session.closed and not session.stream.live
        finally:
            s.sim.orders.release()
            for b in brokers:
                await b.close()
            await ring.close()


async def test_two_accounts_on_one_hts_id_share_its_subscription_and_notices_are_routed():
    same = msgspec.structs.replace(SECOND, hts_id=FIRST.hts_id)
    async with running_simulator(FAST) as s:
        for creds in (FIRST, same):
            s.sim.orders.open_account(creds.account_number, app_key=APP_KEY, hts_id=creds.hts_id)
        settings, clock = settings_for(s), WallClock()
        ring = KisKeyring(settings, clock)
        brokers = [KisBroker(settings, clock, c, ring.http, rest=ring.rest(APP_KEY, APP_SECRET, False), keyring=ring)
                   for c in (FIRST, same)]
        try:
            one, two = [await _fills(b) for b in brokers]
            assert s.sim.subscriptions(APP_KEY) == {("H0STCNI0", "htsone")}  # one subscription for both
            ack = await brokers[1].place_order(order(quantity=4))
            got = await next_item(two)
            assert (got.broker_order_no, got.quantity) == (ack.broker_order_no, 4) and one.empty()
            await brokers[1].close()  # the other account still needs the HTS id
            assert s.sim.subscriptions(APP_KEY) == {("H0STCNI0", "htsone")}
        finally:
            s.sim.orders.release()
            for b in brokers:
                await b.close()
            await ring.close()


async def test_without_the_shared_keyring_the_second_session_is_refused():
    async with running_simulator(FAST) as s:
        _open_accounts(s)
        settings, clock = settings_for(s, kis_timeout_s=1.0), WallClock()
        first, second = KisBroker(settings, clock, FIRST), KisBroker(settings, clock, SECOND)
        try:
            await _fills(first)
            states: asyncio.Queue[tuple[bool, str]] = asyncio.Queue()
            assert not await second.subscribe_fills(lambda f: None,
                                                    on_status=lambda live, d: states.put_nowait((live, d)))
            while (state := await next_item(states)) and "OPSP8996" not in state[1]:
                pass
            assert "ALREADY IN USE appkey" in state[1]
        finally:
            await first.close()
            await second.close()


async def test_market_data_and_fill_notices_of_one_app_key_ride_one_session():
    async with running_simulator(FAST) as s:
        s.sim.orders.open_account(FIRST.account_number, app_key=APP_KEY, hts_id=FIRST.hts_id)
        settings = settings_for(s, market_data="kis", kis_app_key=APP_KEY, kis_app_secret=APP_SECRET)
        clock = WallClock()
        ring = KisKeyring(settings, clock)
        source, sink = KisMarketData(settings, clock, ring), QueueSink()
        await source.start(sink)
        broker = KisBroker(settings, clock, FIRST, ring.http, rest=ring.rest(APP_KEY, APP_SECRET, False), keyring=ring)
        try:
            await sink.status("live")
            await source.subscribe("trade", "005930")
            fills = await _fills(broker)
            assert len([x for x in s.sim.all_sessions if not x.ws.closed]) == 1
            assert s.sim.subscriptions(APP_KEY) == {("H0STCNT0", "005930"), ("H0STCNI0", "htsone")}
            ack = await broker.place_order(order(quantity=1))
            assert (await next_item(fills)).broker_order_no == ack.broker_order_no
            assert (await sink.tick_of("005930")).price > 0
            await source.stop()  # the market data leaves; the account's notices stay on the session
            assert s.sim.subscriptions(APP_KEY) == {("H0STCNI0", "htsone")}
            ack = await broker.place_order(order(quantity=2))
            assert (await next_item(fills)).broker_order_no == ack.broker_order_no
        finally:
            s.sim.orders.release()
            await source.stop()
            await broker.close()
            await ring.close()
