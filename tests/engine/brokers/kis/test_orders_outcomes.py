"""What an order's failure means: lost answers are OutcomeUnknown and never resent,
EGW00201 and connection refused are BrokerUnavailable (not taken), verdicts are OrderRejected."""

import aiohttp
import pytest
from aiohttp import web

from engine.brokers.base import BrokerUnavailable, OrderRejected, OutcomeUnknown
from engine.brokers.kis.broker import KisBroker
from engine.brokers.kis.simulator import SIMULATOR, SimulatorConfig, create_simulator_app
from engine.runtime.clock import WallClock
from tests.engine.brokers.kis.broker_env import Creds, broker_env, order, settings_for
from tests.engine.brokers.kis.helpers import Running

FAST = SimulatorConfig(rest_rate_per_s=1000)


async def test_timeout_is_outcome_unknown_and_nothing_is_resent():
    async with broker_env(FAST, kis_timeout_s=0.3) as (s, broker):
        await broker.balance()  # token issued within the normal path
        s.sim.orders.stall_next()
        with pytest.raises(OutcomeUnknown):
            await broker.place_order(order(quantity=1))
        assert s.sim.orders.order_calls == 1  # sent once, not retried
        [placed] = s.sim.orders.orders  # the order exists: reconciliation finds it
        [status] = await broker.orders_today()
        assert status.broker_order_no == placed.odno and status.filled_quantity == 1
        assert s.sim.orders.order_calls == 1


async def test_rate_limited_500_is_broker_unavailable_and_not_placed():
    async with broker_env(FAST) as (s, broker):
        s.sim.orders.fail_next(
            500, {"rt_cd": "1", "msg_cd": "EGW00201", "msg1": "초당 거래건수를 초과하였습니다."}
        )
        with pytest.raises(BrokerUnavailable) as info:
            await broker.place_order(order(quantity=1))
        assert (info.value.code, info.value.message) == ("EGW00201", "초당 거래건수를 초과하였습니다.")
        assert s.sim.orders.order_calls == 1 and s.sim.orders.orders == []
        await broker.place_order(order(quantity=1))  # safe to send again later
        assert len(s.sim.orders.orders) == 1


@pytest.mark.parametrize(
    "body",
    [
        "<html>Internal Server Error</html>",
        {"message": "internal error"},
        {"rt_cd": "1", "msg_cd": "EGW00999", "msg1": "?"},
    ],
    ids=["html", "json-without-verdict", "unknown-code"],
)
async def test_500_without_a_verdict_is_outcome_unknown(body):
    async with broker_env(FAST) as (s, broker):
        s.sim.orders.fail_next(500, body, place=True)
        with pytest.raises(OutcomeUnknown):
            await broker.place_order(order(quantity=1))
        assert s.sim.orders.order_calls == 1
        assert [st.broker_order_no for st in await broker.orders_today()] == [s.sim.orders.orders[0].odno]


async def test_500_with_an_order_verdict_is_a_rejection():
    async with broker_env(FAST) as (s, broker):
        s.sim.orders.fail_next(
            500, {"rt_cd": "1", "msg_cd": "APBK0952", "msg1": "주문가능금액을 초과 했습니다"}
        )
        with pytest.raises(OrderRejected) as info:
            await broker.place_order(order(quantity=1))
        assert info.value.code == "APBK0952"


async def test_connection_refused_after_the_token_is_broker_unavailable():
    app = create_simulator_app(FAST)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    s = Running(app[SIMULATOR], runner.addresses[0][1])
    # no pooled connection: a reused one that the server closed fails mid-write (an unknown outcome)
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
    broker = KisBroker(settings_for(s), WallClock(), Creds(), http)
    try:
        await broker.balance()
        await runner.cleanup()  # the server is gone: the connect fails, nothing is sent
        with pytest.raises(BrokerUnavailable) as info:
            await broker.place_order(order(quantity=1))
        assert "ClientConnector" in str(info.value)
    finally:
        await broker.close()
        await http.close()
        await runner.cleanup()


async def test_no_token_is_broker_unavailable():
    async with aiohttp.ClientSession() as http:
        s = Running(create_simulator_app(FAST)[SIMULATOR], 9)  # nothing listens on port 9
        broker = KisBroker(settings_for(s, kis_timeout_s=0.5), WallClock(), Creds(), http)
        with pytest.raises(BrokerUnavailable):
            await broker.place_order(order(quantity=1))
        await broker.close()
        assert not http.closed  # a caller's session is not ours to close
