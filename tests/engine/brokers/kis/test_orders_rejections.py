"""Orders KIS refuses: OrderRejected carries the broker's msg_cd and msg1, nothing is placed."""

import pytest

from engine.brokers.base import OrderRejected
from engine.brokers.kis.simulator import SimulatorConfig
from engine.market.krx import price_limits, round_to_tick, tick_size
from tests.engine.brokers.kis.broker_env import ACCOUNT, APP_KEY, broker_env, order


def _off_tick(s):
    price = s.sim.market.state("005930").price
    return order(quantity=1, price=round_to_tick(price * 9 // 10, "down") + max(1, tick_size(price) // 2))


def _below_limit(s):
    lower = price_limits(s.sim.market.state("005930").prev_close)[0]
    return order(quantity=1, price=lower - tick_size(lower - 1))


CASES = {
    "zero quantity": (lambda s: order(quantity=0), "APBK0400"),
    "off-tick limit": (_off_tick, "APBK0506"),
    "below the daily limit": (_below_limit, "APBK0508"),
    "more cash than held": (lambda s: order(quantity=10_000_000), "APBK0952"),
    "sell without holding": (lambda s: order(side="sell", quantity=1), "APBK0986"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_rejections_carry_the_broker_code_and_message(case):
    build, code = CASES[case]
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000)) as (s, broker):
        with pytest.raises(OrderRejected) as info:
            await broker.place_order(build(s))
        assert info.value.code == code and info.value.message
        assert s.sim.orders.orders == [] and s.sim.orders.order_calls == 1


async def test_unknown_account_is_rejected():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000)) as (s, broker):
        s.sim.orders.auto_open = False
        with pytest.raises(OrderRejected) as info:
            await broker.place_order(order(quantity=1))
        assert (info.value.code, info.value.message) == ("APBK0560", "계좌번호를 확인하여 주십시오.")


async def test_an_account_of_another_app_key_is_unknown():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000)) as (s, broker):
        s.sim.orders.open_account(ACCOUNT, app_key="someone-else")
        with pytest.raises(OrderRejected) as info:
            await broker.place_order(order(quantity=1))
        assert info.value.code == "APBK0560"


async def test_unknown_code_is_rejected():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000, codes=("005930",))) as (s, broker):
        with pytest.raises(OrderRejected) as info:
            await broker.place_order(order("000660", quantity=1))
        assert info.value.code == "APBK0656"


async def test_open_orders_reserve_cash_and_shares():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000)) as (s, broker):
        price = s.sim.market.state("005930").price
        limit = round_to_tick(price * 8 // 10, "down")
        s.sim.orders.open_account(ACCOUNT, cash=limit * 10, app_key=APP_KEY, holdings={"005930": (3, price)})
        await broker.place_order(order(quantity=10, price=limit))  # rests, reserving all the cash
        with pytest.raises(OrderRejected) as info:
            await broker.place_order(order(quantity=1, price=limit))
        assert info.value.code == "APBK0952"
        high = round_to_tick(price * 12 // 10, "up")
        await broker.place_order(order(side="sell", quantity=3, price=high))
        with pytest.raises(OrderRejected) as info:
            await broker.place_order(order(side="sell", quantity=1, price=high))
        assert info.value.code == "APBK0986"
