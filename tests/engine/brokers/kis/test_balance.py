"""KisBroker.balance over inquire-balance paging (50 rows real, 20 paper) and the sold-out rows."""

from engine.brokers.base import BrokerUnavailable
from engine.brokers.kis.simulator import SimulatorConfig
from tests.engine.brokers.kis.broker_env import ACCOUNT, APP_KEY, Creds, broker_env, order


def _holdings(n: int) -> dict[str, tuple[int, int]]:
    return {f"{100 + i:06d}": (i + 1, 1000 + 10 * i) for i in range(n)}


async def test_real_balance_pages_by_50():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000)) as (s, broker):
        s.sim.orders.open_account(ACCOUNT, cash=1_234_567, app_key=APP_KEY, holdings=_holdings(120))
        before = s.sim.rest_calls[APP_KEY]
        bal = await broker.balance()
        assert s.sim.rest_calls[APP_KEY] - before == 4  # 50 + 50 + 20, then inquire-psbl-order
        assert bal.cash == 1_234_567
        assert {h.code: (h.quantity, h.average_price) for h in bal.holdings} == _holdings(120)
        h = bal.holdings[0]
        assert h.current_price == s.sim.market.state(h.code).price


async def test_paper_balance_pages_by_20():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000, paper=True)) as (s, broker):
        s.sim.orders.open_account(ACCOUNT, app_key=APP_KEY, holdings=_holdings(45))
        before = s.sim.rest_calls[APP_KEY]
        bal = await broker.balance()
        assert s.sim.rest_calls[APP_KEY] - before == 4  # 20 + 20 + 5, then inquire-psbl-order
        assert len(bal.holdings) == 45 and len({h.code for h in bal.holdings}) == 45


async def test_exactly_one_page_is_one_call():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000)) as (s, broker):
        s.sim.orders.open_account(ACCOUNT, app_key=APP_KEY, holdings=_holdings(50))
        before = s.sim.rest_calls[APP_KEY]
        assert len((await broker.balance()).holdings) == 50
        assert s.sim.rest_calls[APP_KEY] - before == 2  # one page, then inquire-psbl-order


async def test_sold_out_holding_is_left_out():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000)) as (s, broker):
        s.sim.orders.open_account(
            ACCOUNT, cash=0, app_key=APP_KEY, holdings={"000660": (2, 100), "005930": (1, 100)}
        )
        await broker.place_order(order("000660", "sell", 2))
        assert [h.code for h in (await broker.balance()).holdings] == ["005930"]
        assert (
            s.sim.orders.accounts[(ACCOUNT[:8], ACCOUNT[8:])].holdings["000660"][0] == 0
        )  # KIS still lists it


async def test_wrong_mode_inquiry_is_broker_unavailable_with_the_broker_message():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000), Creds(paper_trading=True)) as (_, broker):
        try:
            await broker.balance()
        except BrokerUnavailable as exc:
            assert exc.code == "EGW00213" and "실전투자" in exc.message
        else:
            raise AssertionError("expected BrokerUnavailable")
