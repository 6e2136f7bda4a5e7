"""KisBroker cancel / modify (order-rvsecncl) and buying power (inquire-psbl-order) against the simulator."""

import pytest

from engine.brokers.base import CancelRequest, ModifyRequest, OrderRejected
from engine.brokers.kis.broker import KisBroker
from engine.brokers.kis.simulator import SimulatorConfig
from engine.market.krx import price_limits, round_to_tick
from engine.runtime.clock import WallClock
from tests.engine.brokers.kis.broker_env import ACCOUNT, APP_KEY, Creds, broker_env, order, settings_for

FAST = SimulatorConfig(rest_rate_per_s=1000)


def _far_below(s):
    return round_to_tick(s.sim.market.state("005930").price * 85 // 100, "down")


async def test_cancel_takes_the_remainder_off_and_releases_the_buying_power():
    async with broker_env(FAST) as (s, broker):
        limit = _far_below(s)
        ack = await broker.place_order(order(quantity=10, price=limit))
        assert (await broker.balance()).orderable == 100_000_000 - 10 * limit
        done = await broker.cancel_order(CancelRequest(broker_order_no=ack.broker_order_no, code="005930",
                                                       side="buy", quantity=10, price=limit))
        assert done.broker_order_no != ack.broker_order_no and done.quantity == 10
        calls = [c for c in s.sim.orders.orders if c.orgn == ack.broker_order_no]
        assert len(calls) == 1 and calls[0].is_cancel
        statuses = {st.broker_order_no: st for st in await broker.orders_today()}
        original, cancel = statuses[ack.broker_order_no], statuses[done.broker_order_no]
        assert original.cancelled and original.filled_quantity == 0 and not original.original_no
        assert cancel.cancelled and cancel.original_no == ack.broker_order_no
        balance = await broker.balance()
        assert balance.orderable == balance.cash == 100_000_000
        with pytest.raises(OrderRejected):  # nothing left: KIS refuses a second cancel
            await broker.cancel_order(CancelRequest(broker_order_no=ack.broker_order_no, code="005930",
                                                    side="buy", quantity=10, price=limit))


async def test_modify_moves_the_remainder_to_a_new_order_at_the_new_price():
    async with broker_env(FAST) as (s, broker):
        limit = _far_below(s)
        ack = await broker.place_order(order(quantity=10, price=limit))
        new_price = limit + 2 * 50 if limit < 50_000 else limit + 2 * 100
        moved = await broker.modify_order(ModifyRequest(broker_order_no=ack.broker_order_no, code="005930",
                                                        side="buy", remaining=10, quantity=6, old_price=limit,
                                                        price=new_price))
        assert moved.quantity == 6 and moved.broker_order_no != ack.broker_order_no
        statuses = {st.broker_order_no: st for st in await broker.orders_today()}
        child = statuses[moved.broker_order_no]
        assert (child.quantity, child.price, child.original_no) == (6, new_price, ack.broker_order_no)
        assert (await broker.balance()).orderable == 100_000_000 - 6 * new_price
        s.sim.orders.set_price("005930", new_price)
        statuses = {st.broker_order_no: st for st in await broker.orders_today()}
        assert statuses[moved.broker_order_no].filled_quantity == 6


async def test_a_restarted_adapter_finds_the_branch_with_inquire_psbl_rvsecncl():
    async with broker_env(FAST) as (s, broker):
        limit = _far_below(s)
        ack = await broker.place_order(order(quantity=3, price=limit))
        # Another process with the same token (the app key shares it): it knows no KRX_FWDG_ORD_ORGNO.
        fresh = KisBroker(settings_for(s), WallClock(), Creds(), rest=broker._client())
        try:
            before = s.sim.rest_calls[APP_KEY]
            await fresh.cancel_order(CancelRequest(broker_order_no=ack.broker_order_no, code="005930",
                                                   side="buy", quantity=3, price=limit))
            assert s.sim.rest_calls[APP_KEY] - before >= 2  # the inquiry, then the cancel
        finally:
            await fresh.close()
        assert next(o for o in s.sim.orders.orders if o.odno == ack.broker_order_no).remaining == 0


async def test_market_buys_reserve_at_the_upper_limit_and_sells_settle_at_d2():
    async with broker_env(FAST) as (s, broker):
        s.sim.orders.open_account(ACCOUNT, cash=1_000_000, app_key=APP_KEY, holdings={"005930": (3, 1_000)})
        state = s.sim.market.state("005930")
        upper = price_limits(state.prev_close)[1]
        too_many = 1_000_000 // upper + 1  # KIS prices a market buy at 상한가 against 주문가능금액
        with pytest.raises(OrderRejected) as refused:
            await broker.place_order(order(quantity=too_many))
        assert refused.value.code == "APBK0952"
        await broker.place_order(order("005930", "sell", 3))
        price = state.price
        balance = await broker.balance()
        assert balance.cash == 1_000_000 and balance.d2 == balance.orderable == 1_000_000 + 3 * price
