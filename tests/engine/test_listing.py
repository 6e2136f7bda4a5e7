"""engine.market.listing: a code's market, the same in both simulated markets, and KIS's market ids."""

from engine.brokers.kis.sim_market import SimMarket
from engine.brokers.sim import SimulatedMarket
from engine.market.listing import from_kis, simulated_market
from engine.runtime import ManualClock


def test_both_simulators_list_a_code_on_the_same_market():
    # 000660: 48 x 4 + 54 x 2 = 300, a multiple of 3: KOSDAQ; 005930: 305: KOSPI
    assert (simulated_market("000660"), simulated_market("005930")) == ("KOSDAQ", "KOSPI")
    embedded, kis = SimulatedMarket(ManualClock()), SimMarket(1, lambda: None)
    for code in ("000660", "005930", "035420", "123456", "900110"):
        assert embedded.listing(code) == ("KOSDAQ" if kis.is_kosdaq(code) else "KOSPI") == simulated_market(code)


def test_kis_market_ids():
    assert (from_kis("STK"), from_kis(" ksq "), from_kis("KNX"), from_kis("")) == ("KOSPI", "KOSDAQ", None, None)
