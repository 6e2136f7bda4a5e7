"""KisBroker.orders_today over inquire-daily-ccld paging: every order once, with its fills."""

from engine.brokers.kis.simulator import SimulatorConfig
from tests.engine.brokers.kis.broker_env import ACCOUNT, APP_KEY, broker_env, order


async def test_daily_fills_over_several_pages():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000)) as (s, broker):
        s.sim.orders.ccld_page = 4
        s.sim.orders.open_account(ACCOUNT, app_key=APP_KEY, holdings={"000660": (100, 1000)})
        acks = []
        for i in range(10):
            side = "sell" if i % 3 == 0 else "buy"
            acks.append(
                await broker.place_order(order("000660" if side == "sell" else "005930", side, i + 1))
            )
        before = s.sim.rest_calls[APP_KEY]
        statuses = await broker.orders_today()
        assert s.sim.rest_calls[APP_KEY] - before == 3  # 4 + 4 + 2
        assert [st.broker_order_no for st in statuses] == [a.broker_order_no for a in acks]
        for i, st in enumerate(statuses):
            assert (st.quantity, st.filled_quantity) == (i + 1, i + 1)
            assert st.side == ("sell" if i % 3 == 0 else "buy") and st.average_price > 0 and not st.cancelled
            assert st.ordered_ms // 1000 <= s.sim.clock.now_ms() // 1000


async def test_default_real_page_of_100():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000)) as (s, broker):
        book = s.sim.orders
        acct = book.account(ACCOUNT[:8], ACCOUNT[8:], APP_KEY)
        for _ in range(130):  # placed through the book: 130 HTTP orders would only slow the test
            book.place(
                acct, APP_KEY, "buy", {"PDNO": "005930", "ORD_DVSN": "01", "ORD_QTY": "1", "ORD_UNPR": "0"}
            )
        before = s.sim.rest_calls[APP_KEY]
        statuses = await broker.orders_today()
        assert s.sim.rest_calls[APP_KEY] - before == 2
        assert sorted(st.broker_order_no for st in statuses) == sorted(o.odno for o in book.orders)


async def test_no_orders_today():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000, paper=True)) as (_, broker):
        assert await broker.orders_today() == []
