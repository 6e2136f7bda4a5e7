"""KisMarketData.backfill: minute and daily chart pages into closed bars."""

from datetime import date

import pytest

from engine.brokers.kis.errors import BackfillError
from engine.brokers.kis.frames import date_midnight_ms
from engine.brokers.kis.simulator import SimulatorConfig
from engine.brokers.kis.source import KisMarketData
from engine.market.krx import session_open_ms
from engine.runtime.clock import WallClock
from engine.settings import Settings
from tests.engine.brokers.kis.helpers import QueueSink

NOON_KST_20250613 = 1_749_783_600_000  # a Friday


class FrozenDay(WallClock):
    """Real waiting and intervals; the calendar stops at one instant."""

    def now_ms(self) -> int:
        return NOON_KST_20250613


@pytest.fixture
async def kis(start_simulator):
    clock = FrozenDay()
    async with start_simulator(SimulatorConfig(rate=1.0), clock) as s:
        settings = Settings(
            market_data="kis", kis_rest_url=s.url, kis_ws_url=s.ws_url, kis_app_key="app1",
            kis_app_secret="sec1", kis_rest_rate_per_s=1000.0, kis_reconnect_base_s=0.01,
        )
        source = KisMarketData(settings, clock)
        await source.start(QueueSink())
        try:
            yield s, source
        finally:
            await source.stop()


async def test_minute_bars_page_back_and_equal_the_market(kis):
    s, source = kis
    bars = await source.backfill("005930", "1Min", 45)  # two pages of 30 rows
    day = s.sim.market.minute_bars("005930", "20250613")
    midnight = date_midnight_ms("20250613")
    assert len(bars) == 45
    assert bars[-1].start_ms == midnight + (11 * 60 + 59) * 60_000  # 12:00 is not closed yet
    for bar in bars:
        minute = (bar.start_ms - midnight) // 60_000
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == day[minute]
        assert bar.code == "005930" and bar.size == "1Min"
    assert [b.start_ms for b in bars] == sorted({b.start_ms for b in bars})


async def test_five_minute_bars_aggregate_minutes(kis):
    s, source = kis
    bars = await source.backfill("005930", "5Min", 6)
    day = s.sim.market.minute_bars("005930", "20250613")
    midnight = date_midnight_ms("20250613")
    assert [(b.start_ms - midnight) // 60_000 for b in bars] == [690, 695, 700, 705, 710, 715]
    for bar in bars:
        first = (bar.start_ms - midnight) // 60_000
        minutes = [day[m] for m in range(first, first + 5)]
        assert bar.open == minutes[0][0] and bar.close == minutes[-1][3]
        assert bar.high == max(m[1] for m in minutes) and bar.low == min(m[2] for m in minutes)
        assert bar.volume == sum(m[4] for m in minutes)


async def test_daily_bars_weekdays_up_to_yesterday(kis):
    s, source = kis
    bars = await source.backfill("005930", "1D", 120)  # more than one page of 100
    assert len(bars) == 120
    assert bars[-1].start_ms == session_open_ms("2025-06-12")  # stamped at the open, as live 1D bars are
    history = s.sim.market.daily_bars("005930", date(2025, 6, 13))
    by_day = {session_open_ms(d): (o, h, lo, c, v) for d, o, h, lo, c, v in history}
    for bar in bars:
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == by_day[bar.start_ms]


async def test_token_is_issued_once_for_many_backfills(kis):
    s, source = kis
    for size in ("1Min", "15Min", "1H", "1D"):
        assert await source.backfill("000660", size, 3)
    assert s.sim.token_issuances["app1"] == 1  # EGW00133 never hit


async def test_failures_are_typed(kis):
    _, source = kis
    with pytest.raises(BackfillError, match="SIM00422"):
        await source.backfill("12", "1Min", 5)
    with pytest.raises(BackfillError, match="bar size"):
        await source.backfill("005930", "2Min", 5)
    assert await source.backfill("005930", "1Min", 0) == []


async def test_a_codes_market_is_learnt_from_search_info_with_its_first_backfill(kis):
    s, source = kis
    # the simulator lists 000660 on KOSDAQ (48 x 4 + 54 x 2 = 300, a multiple of 3) and 005930 on KOSPI
    assert s.sim.market.is_kosdaq("000660") and not s.sim.market.is_kosdaq("005930")
    assert source.listing("000660") == "KOSPI"  # not known yet: the default
    await source.backfill("000660", "1D", 5)
    await source.backfill("005930", "1D", 5)
    assert (source.listing("000660"), source.listing("005930")) == ("KOSDAQ", "KOSPI")
