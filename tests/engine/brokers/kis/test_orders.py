"""KisBroker.place_order against the simulator: market and limit, buy and sell, both modes."""

from engine.brokers.base import OrderRejected
from engine.brokers.kis.simulator import SimulatorConfig
from engine.market.krx import price_limits, round_to_tick
from tests.engine.brokers.kis.broker_env import ACCOUNT, APP_KEY, Creds, broker_env, order

FAST = SimulatorConfig(rest_rate_per_s=1000)


async def test_market_buy_fills_at_the_current_price():
    async with broker_env(FAST) as (s, broker):
        price = s.sim.market.state("005930").price
        ack = await broker.place_order(order(quantity=10))
        assert len(ack.broker_order_no) == 10 and ack.accepted_ms > 0
        [placed] = s.sim.orders.orders
        assert (placed.odno, placed.kind, placed.price, placed.side) == (ack.broker_order_no, "01", 0, "buy")
        [status] = await broker.orders_today()
        assert (status.broker_order_no, status.side, status.quantity) == (ack.broker_order_no, "buy", 10)
        assert (status.filled_quantity, status.average_price) == (10, price)
        bal = await broker.balance()  # 예수금 settles at D+2; buying power and the D+2 cash drop now
        assert bal.cash == 100_000_000 and bal.d1 == 100_000_000
        assert bal.d2 == bal.orderable == bal.buying_power == 100_000_000 - 10 * price
        [h] = bal.holdings
        assert (h.code, h.quantity, h.average_price) == ("005930", 10, price)


async def test_market_sell_of_a_holding_adds_cash():
    async with broker_env(FAST) as (s, broker):
        s.sim.orders.open_account(ACCOUNT, cash=0, app_key=APP_KEY, holdings={"000660": (7, 150_000)})
        price = s.sim.market.state("000660").price
        await broker.place_order(order("000660", "sell", 5))
        bal = await broker.balance()
        assert bal.cash == 0 and bal.d2 == bal.orderable == 5 * price  # the proceeds arrive at D+2
        assert [(h.code, h.quantity, h.average_price) for h in bal.holdings] == [("000660", 2, 150_000)]
        [status] = await broker.orders_today()
        assert (status.side, status.filled_quantity) == ("sell", 5)


async def test_limit_buy_rests_until_the_walk_crosses_it():
    async with broker_env(FAST) as (s, broker):
        price = s.sim.market.state("005930").price
        limit = round_to_tick(price * 85 // 100, "down")  # far below: the walk will not get there by itself
        ack = await broker.place_order(order(quantity=3, price=limit))
        [status] = await broker.orders_today()
        assert (status.filled_quantity, status.average_price) == (0, 0)
        assert s.sim.orders.orders[0].kind == "00" and s.sim.orders.orders[0].price == limit
        s.sim.orders.set_price("005930", limit)
        [status] = await broker.orders_today()
        assert (status.broker_order_no, status.filled_quantity, status.average_price) == (
            ack.broker_order_no,
            3,
            limit,
        )


async def test_limit_sell_rests_then_fills_at_its_limit():
    async with broker_env(FAST) as (s, broker):
        s.sim.orders.open_account(ACCOUNT, app_key=APP_KEY, holdings={"035420": (4, 1000)})
        state = s.sim.market.state("035420")
        limit = round_to_tick(state.price * 115 // 100, "up")
        await broker.place_order(order("035420", "sell", 4, limit))
        assert (await broker.orders_today())[0].filled_quantity == 0
        s.sim.orders.set_price("035420", limit + 1000)
        [status] = await broker.orders_today()
        assert (status.filled_quantity, status.average_price) == (4, limit)
        assert (await broker.balance()).holdings == []


async def test_marketable_limit_fills_at_once_at_the_current_price():
    async with broker_env(FAST) as (s, broker):
        state = s.sim.market.state("005930")
        upper = price_limits(state.prev_close)[1]
        await broker.place_order(order(quantity=2, price=upper))
        [status] = await broker.orders_today()
        assert (status.filled_quantity, status.average_price) == (2, state.price)


async def test_paper_account_uses_v_tr_ids():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000, paper=True)) as (s, broker):
        assert broker.paper
        ack = await broker.place_order(order(quantity=1))
        assert [o.odno for o in s.sim.orders.orders] == [ack.broker_order_no]
        assert (await broker.orders_today())[0].filled_quantity == 1


async def test_real_tr_id_on_the_paper_server_is_rejected_and_nothing_is_placed():
    real = Creds(paper_trading=False)  # a real account pointed at the paper server
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000, paper=True), real) as (s, broker):
        try:
            await broker.place_order(order(quantity=1))
        except OrderRejected as exc:
            assert exc.code == "EGW00213" and "모의투자" in exc.message
        else:
            raise AssertionError("expected OrderRejected")
        assert s.sim.orders.orders == []


async def test_the_venue_picks_the_orders_exchange():
    for venue, exchange in (("KRX", "KRX"), ("NXT", "NXT"), ("UN", "SOR")):
        async with broker_env(FAST, kis_venue=venue) as (s, broker):
            await broker.place_order(order(quantity=1))
            assert dict(s.sim.orders.exchanges) == {exchange: 1}
