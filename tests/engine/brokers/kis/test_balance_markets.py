"""A KIS balance's holdings get their market (KOSPI / KOSDAQ), which inquire-balance does not say:
learnt once per code from search-info (CTPF1604R) in the background, within the app key's rate
limit; the balance read never waits for it, and until then the market is "" (null in the API)."""

from __future__ import annotations

import asyncio

from engine.brokers.kis.listings import SEARCH_INFO_PATH
from engine.brokers.kis.simulator import SimulatorConfig
from engine.market.listing import simulated_market
from tests.engine.brokers.kis.broker_env import ACCOUNT, APP_KEY, broker_env

HOLDINGS = {"000660": (3, 46_000), "005930": (5, 37_000)}


def gate_search_info(sim) -> tuple[asyncio.Event, asyncio.Event, list[str]]:
    """search-info answers only once ``gate`` is set; ``asked`` is set at its first call."""
    tr_ids, answer = sim.routes[("GET", SEARCH_INFO_PATH)]
    gate, asked, codes = asyncio.Event(), asyncio.Event(), []

    async def gated(simulator, request, tr_id):
        codes.append(request.query["PDNO"])
        asked.set()
        await gate.wait()
        return await answer(simulator, request, tr_id)

    sim.add_route("GET", SEARCH_INFO_PATH, tr_ids, gated)
    return gate, asked, codes


def test_the_codes_are_one_of_each_market():
    assert {c: simulated_market(c) for c in HOLDINGS} == {"000660": "KOSDAQ", "005930": "KOSPI"}


async def test_holdings_get_their_market_and_the_balance_never_waits_for_it():
    async with broker_env(SimulatorConfig(rest_rate_per_s=1000)) as (s, broker):
        s.sim.orders.open_account(ACCOUNT, cash=1_000_000, app_key=APP_KEY, holdings=HOLDINGS)
        gate, asked, codes = gate_search_info(s.sim)
        first = await asyncio.wait_for(broker.balance(), 5)
        assert {h.code: h.market for h in first.holdings} == {"000660": "", "005930": ""}  # not known yet
        await asyncio.wait_for(asked.wait(), 5)  # search-info is being asked, and hangs
        during = await asyncio.wait_for(broker.balance(), 5)  # a read meanwhile does not wait for it
        assert {h.code: h.market for h in during.holdings} == {"000660": "", "005930": ""}
        assert codes == ["000660"]  # one code at a time; the second read asked nothing twice
        gate.set()
        await asyncio.wait_for(broker.listings.settled(), 5)
        after = await broker.balance()
        assert {h.code: h.market for h in after.holdings} == {"000660": "KOSDAQ", "005930": "KOSPI"}
        assert broker.market_of("000660") == "KOSDAQ" and broker.market_of("035720") is None
        await broker.balance()
        await broker.listings.settled()
        assert sorted(codes) == ["000660", "005930"]  # each code asked once, then kept


async def test_many_new_holdings_are_learnt_within_the_rate_limit():
    holdings = {f"{100 + i:06d}": (1, 1_000) for i in range(25)}
    # the simulator refuses more than 20 calls a second per app key (EGW00201); the broker's default
    # throttle (19/s on a real account) keeps the background calls under it
    async with broker_env(SimulatorConfig(rest_rate_per_s=20), kis_rest_rate_per_s=0.0) as (s, broker):
        s.sim.orders.open_account(ACCOUNT, cash=1_000_000, app_key=APP_KEY, holdings=holdings)
        before = s.sim.rest_calls[APP_KEY]
        await broker.balance()
        await asyncio.wait_for(broker.listings.settled(), 10)
        assert s.sim.rate_limited[APP_KEY] == 0
        assert s.sim.rest_calls[APP_KEY] - before == 2 + 25  # the balance's two calls, one per code
        markets = {h.code: h.market for h in (await broker.balance()).holdings}
        assert markets == {c: simulated_market(c) for c in holdings}
