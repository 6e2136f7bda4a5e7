import datetime as dt

from engine.market.krx import KST
from engine.strategy.schedule import CHECK_DELAY_MS, closes_between, next_tick_ms


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=KST).timestamp() * 1000)


def test_hourly_closes_inside_the_krx_session():
    closes = closes_between("1H", ms("2025-06-13 09:00"), ms("2025-06-13 16:00"), ignore_hours=False)
    assert [dt.datetime.fromtimestamp(c / 1000, KST).strftime("%H:%M") for c in closes] == [
        "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "15:30"]


def test_no_closes_on_a_weekend_unless_hours_are_ignored():
    sat, sun = ms("2025-06-14 00:00"), ms("2025-06-15 23:59")
    assert closes_between("1H", sat, sun, ignore_hours=False) == []
    assert len(closes_between("1H", sat, sun, ignore_hours=True)) == 47


def test_minute_closes_around_the_clock_when_ignored():
    start = ms("2025-06-14 03:00")
    assert closes_between("1Min", start, start + 5 * 60_000, ignore_hours=True) == [
        start + k * 60_000 for k in range(1, 6)]
    assert closes_between("5Min", start + 1, start + 11 * 60_000, ignore_hours=True) == [
        start + 5 * 60_000, start + 10 * 60_000]


def test_the_next_tick_is_two_seconds_past_the_next_minute_boundary():
    minute = ms("2025-06-13 09:00")
    assert next_tick_ms(minute + 30_000) == minute + 60_000 + CHECK_DELAY_MS
    assert next_tick_ms(minute) == minute + CHECK_DELAY_MS
    assert next_tick_ms(minute + CHECK_DELAY_MS) == minute + 60_000 + CHECK_DELAY_MS  # strictly after
