"""In kis mode KIS's word wins: its holiday inquiry over the library calendar, its limits over computed ones.

The simulator declares what the library cannot know (an extra holiday, a code's
limits set by the exchange), so each test proves the adapter follows KIS, not
exchange_calendars or the 30 % rule. The simulator and the adapter run on one
manual clock inside a session: Friday 2025-06-13 10:00 KST.
"""

from __future__ import annotations

import datetime as dt

import pytest

from engine.brokers.kis.holidays import KisCalendar, parse_days
from engine.brokers.kis.keyring import KisKeyring
from engine.brokers.kis.simulator import SimulatorConfig
from engine.market import krx
from engine.risk import OrderRefused, check_shape
from engine.runtime.clock import ManualClock
from tests.engine.brokers.kis.broker_env import APP_KEY, APP_SECRET, settings_for
from tests.engine.brokers.kis.helpers import running_simulator

pytestmark = pytest.mark.timeout(60)
TEN_KST_20250613 = 1_749_776_400_000
MONDAY = dt.date(2025, 6, 16)  # a session in the library; the simulated KRX declares it closed
HOLIDAY_SIM = SimulatorConfig(rest_rate_per_s=1000, holidays=("20250616",), token_ttl_s=7 * 86_400)


@pytest.fixture(autouse=True)
def _library_calendar_again():
    krx.load_calendar()
    yield
    krx.reset_exchange_days()  # the calendar is process-wide: leave the library's for the next test


async def _calendar(s, clock):
    ring = KisKeyring(settings_for(s), clock)
    return ring, KisCalendar(ring.rest(APP_KEY, APP_SECRET, False), clock, retry_s=300)


async def test_a_holiday_kis_declares_closes_the_day_the_library_calls_a_session():
    clock = ManualClock(TEN_KST_20250613)
    async with running_simulator(HOLIDAY_SIM, clock) as s:
        ring, calendar = await _calendar(s, clock)
        try:
            monday_open = krx.kst_midnight_ms(MONDAY) + 9 * 3_600_000
            assert krx.is_session(MONDAY)  # the library (exchange_calendars XKRX) says Monday trades
            friday_close = krx.session_bounds(dt.date(2025, 6, 13))[1]
            assert await calendar.refresh()
            assert not krx.is_session(MONDAY) and not krx.accepts_orders(monday_open + 1_800_000)
            assert krx.next_open(friday_close) == monday_open + 86_400_000  # Tuesday 09:00 KST
            assert krx.is_session(dt.date(2025, 6, 13)) and krx.is_session(dt.date(2025, 6, 17))
            assert not krx.is_session(dt.date(2025, 6, 14))  # the weekend stays closed
            calls = s.sim.rest_calls[APP_KEY]
            assert await calendar.refresh()  # the same KST day: answered from the day's inquiry
            assert s.sim.rest_calls[APP_KEY] == calls and calendar.inquiries == 1  # KIS: once a day
        finally:
            await ring.close()


async def test_kis_is_asked_again_after_midnight_and_the_library_holds_while_it_cannot_answer():
    clock = ManualClock(TEN_KST_20250613)
    async with running_simulator(HOLIDAY_SIM, clock) as s:
        ring = KisKeyring(settings_for(s, kis_rest_url="http://127.0.0.1:9"), clock)  # nothing listens there
        down = KisCalendar(ring.rest(APP_KEY, APP_SECRET, False), clock)
        try:
            assert not await down.refresh()  # unreachable: the library calendar stays in force
            assert krx.is_session(MONDAY) and down.asked_for is None and down.failures == 1
        finally:
            await ring.close()
        ring, calendar = await _calendar(s, clock)
        task = None
        try:
            import asyncio

            task = asyncio.create_task(calendar.run())
            await calendar.answered.wait()
            assert calendar.asked_for == dt.date(2025, 6, 13) and not krx.is_session(MONDAY)
            calendar.answered.clear()
            await clock.advance(14 * 3600 + 61)  # 00:01 KST Saturday: a new day, a new inquiry
            await calendar.answered.wait()
            assert calendar.asked_for == dt.date(2025, 6, 14) and calendar.inquiries == 2
        finally:
            if task is not None:
                task.cancel()
            await ring.close()


def test_the_inquiry_rows_are_read_by_opnd_yn():
    body = {"output": [{"bass_dt": "20250613", "opnd_yn": "Y", "bzdy_yn": "Y"},
                       {"bass_dt": "20250614", "opnd_yn": "N"}, {"bass_dt": "bad", "opnd_yn": "Y"},
                       {"bass_dt": "20250615", "opnd_yn": ""}]}
    assert parse_days(body) == {dt.date(2025, 6, 13): True, dt.date(2025, 6, 14): False}


async def test_the_exchanges_limits_win_over_the_computed_ones():
    from engine.brokers.kis.broker import KisBroker
    from tests.engine.brokers.kis.broker_env import Creds

    clock = ManualClock(TEN_KST_20250613)
    async with running_simulator(SimulatorConfig(rest_rate_per_s=1000, token_ttl_s=7 * 86_400), clock) as s:
        broker = KisBroker(settings_for(s), clock, Creds())
        try:
            base = s.sim.market.state("005930").prev_close
            low, high = krx.price_limits(base)
            # the exchange narrows the band to ±10 % (say a resumed stock): base ∓ 10 %, snapped inward
            tight = (krx.round_to_tick(base * 9 // 10, "up"), krx.round_to_tick(base * 11 // 10, "down"))
            s.sim.market.set_limits("005930", *tight)
            assert await broker.price_limits("005930") == tight
            calls = s.sim.rest_calls[APP_KEY]
            assert await broker.price_limits("005930") == tight and s.sim.rest_calls[APP_KEY] == calls  # a day's
            inside_computed = krx.round_to_tick((tight[1] + high) // 2, "down")  # above KIS's upper, below 30 %
            check_shape(1, inside_computed, base)  # the computed rule alone would let it through
            with pytest.raises(OrderRefused) as refused:
                check_shape(1, inside_computed, base, tight)
            assert refused.value.code == "outside_price_limits" and "exchange" in refused.value.message
            check_shape(1, tight[1], base, tight)  # KIS's own upper limit itself is fine
            assert low < tight[0]
        finally:
            s.sim.orders.release()
            await broker.close()


async def test_limits_fall_back_to_the_computed_ones_when_kis_cannot_answer():
    from engine.brokers.kis.broker import KisBroker
    from tests.engine.brokers.kis.broker_env import Creds

    clock = ManualClock(TEN_KST_20250613)
    async with running_simulator(SimulatorConfig(rest_rate_per_s=1000), clock) as s:
        broker = KisBroker(settings_for(s, kis_rest_url="http://127.0.0.1:9", kis_timeout_s=1.0), clock, Creds())
        try:
            assert await broker.price_limits("005930") is None
        finally:
            await broker.close()
