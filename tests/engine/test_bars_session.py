"""Bars follow the KRX session: the last bar ends at the close and holds the closing print,
1D is [open, close], CSAT days and overridden holidays come from the calendar table."""

import datetime as dt

import pytest

from engine.market import krx
from engine.market.bars import BarAggregator, merge_bars
from engine.market.csv_bars import load_csv
from engine.market.messages import Bar, Tick
from tests.helpers import DATA

pytestmark = pytest.mark.timeout(60)

MIN = 60_000


def kst(day: str, hhmm: str, sec: int = 0) -> int:
    h, m = map(int, hhmm.split(":"))
    return krx.kst_midnight_ms(dt.date.fromisoformat(day)) + (h * 60 + m) * MIN + sec * 1000


def tick(ts: int, price: int, volume: int = 1) -> Tick:
    return Tick("005930", ts, price, volume, 0, 0, 0, 0)


def feed(agg: BarAggregator, ticks: list[Tick]) -> list[Bar]:
    out = []
    for t in ticks:
        out.extend(agg.add(t))
    return out


def test_the_closing_print_belongs_to_the_last_bar_of_every_size():
    day = "2025-06-13"  # a Friday: 09:00-15:30
    agg = BarAggregator("005930")
    ticks = [tick(kst(day, "09:00"), 100), tick(kst(day, "12:34", 5), 120), tick(kst(day, "15:19", 59), 90),
             tick(kst(day, "15:30"), 95, 1000)]  # the closing auction's one print, stamped 15:30:00
    closed = feed(agg, ticks)
    assert agg.current("1Min").start_ms == kst(day, "15:29")  # never a 15:30 bar of its own
    assert agg.current("1H").start_ms == kst(day, "15:00")
    assert {b.size for b in closed} <= {"1Min", "5Min", "15Min", "30Min", "1H"}  # 1D still forming
    assert agg.flush(kst(day, "15:30", 0) + 999) == []  # the close's second is still the last bar's
    last = {b.size: b for b in agg.flush(kst(day, "15:30", 1))}
    assert set(last) == set(krx.BAR_SIZES)
    assert last["1Min"].start_ms == kst(day, "15:29") and last["1Min"].close == 95
    assert last["30Min"].start_ms == kst(day, "15:00") and last["30Min"].volume == 1001
    daily = last["1D"]
    assert (daily.start_ms, daily.open, daily.high, daily.low, daily.close, daily.volume) == (
        kst(day, "09:00"), 100, 120, 90, 95, 1003)
    assert [b.start_ms for b in agg.history("1H")] == [kst(day, h) for h in ("09:00", "12:00", "15:00")]
    assert krx.bar_end(kst(day, "15:00"), "1H") == kst(day, "15:30", 1)
    assert krx.bar_end(kst(day, "14:00"), "1H") == kst(day, "15:00")
    assert krx.bar_end(kst(day, "09:00"), "1D") == kst(day, "15:30", 1)
    # after the close: a trade of the after-hours session belongs to no bar
    assert feed(agg, [tick(kst(day, "15:45"), 96)]) == [] and agg.off_session == 1


def test_csat_day_opens_at_ten_and_its_last_bar_ends_at_half_past_four():
    day = "2025-11-13"
    assert krx.session_bounds(day) == (kst(day, "10:00"), kst(day, "16:30"))
    agg = BarAggregator("005930", sizes=("1Min", "1H", "1D"))
    feed(agg, [tick(kst(day, "09:30"), 1), tick(kst(day, "10:00"), 100), tick(kst(day, "15:45"), 110),
               tick(kst(day, "16:30"), 105)])
    assert agg.off_session == 1  # 09:30 is before this day's open
    bars = agg.flush(kst(day, "16:30", 1))
    assert [(b.size, b.start_ms) for b in bars] == [
        ("1Min", kst(day, "16:29")), ("1H", kst(day, "16:00")), ("1D", kst(day, "10:00"))]
    assert bars[-1].open == 100 and bars[-1].close == 105
    assert [b.start_ms for b in agg.history("1H")] == [kst(day, "10:00"), kst(day, "15:00"), kst(day, "16:00")]
    # a 1H swing on that day is checked at 11:00 ... 16:00 and at 16:30
    closes = krx.next_closes("1H", kst(day, "00:00"), kst(day, "23:59"))
    assert closes == [kst(day, f"{h}:00") for h in range(11, 17)] + [kst(day, "16:30")]


def test_merge_folds_a_closing_print_minute_into_the_last_bar():
    day = "2025-06-13"
    minutes = [Bar("005930", "1Min", kst(day, "15:29"), 10, 12, 9, 11, 5),
               Bar("005930", "1Min", kst(day, "15:30"), 11, 11, 11, 11, 7)]  # a chart's 15:30 print
    assert [(b.start_ms, b.close, b.volume) for b in merge_bars(minutes, "1Min")] == [(kst(day, "15:29"), 11, 12)]
    assert [(b.start_ms, b.volume) for b in merge_bars(minutes, "1H")] == [(kst(day, "15:00"), 12)]
    assert [(b.start_ms, b.volume) for b in merge_bars(minutes, "1D")] == [(kst(day, "09:00"), 12)]


def test_calendar_overrides_are_listed_with_their_reasons():
    table = {d.isoformat(): (hours, why) for d, (hours, why) in krx.SESSION_OVERRIDES.items()}
    assert sorted(table) == ["2021-11-18", "2022-11-17", "2023-11-16", "2024-11-14", "2025-11-13",
                             "2026-06-03", "2026-07-17", "2026-11-19"]
    assert all(why for _, why in table.values())
    for day in ("2026-06-03", "2026-07-17"):
        assert table[day][0] is None and not krx.is_session(day)
    for day in ("2021-11-18", "2022-11-17", "2023-11-16", "2024-11-14", "2025-11-13", "2026-11-19"):
        assert table[day][0] == ("10:00", "16:30")
        assert krx.session_bounds(day) == (kst(day, "10:00"), kst(day, "16:30"))
    assert krx.session_bounds("2026-06-04") == (kst("2026-06-04", "09:00"), kst("2026-06-04", "15:30"))
    assert krx.next_open(kst("2026-06-02", "15:30")) == kst("2026-06-04", "09:00")  # 06-03 is closed


def test_daily_csv_bars_are_stamped_at_their_session_open():
    df = load_csv(DATA / "krx_daily_005930.csv")
    stamps = {t.tz_convert("Asia/Seoul").strftime("%Y-%m-%d %H:%M") for t in df.index[
        (df.index >= "2019-01-01") & (df.index < "2019-01-04")]}
    assert stamps == {"2019-01-02 10:00", "2019-01-03 09:00"}  # the year's first session opens at 10:00
    assert df.index[df.index >= "2023-11-16"][0].tz_convert("Asia/Seoul").strftime("%H:%M") == "10:00"  # CSAT
    assert df.index[0].tz_convert("Asia/Seoul").strftime("%Y-%m-%d %H:%M") == "1990-09-11 09:00"  # no calendar


@pytest.mark.parametrize(("base", "low", "high"), [
    (2_260, 1_585, 2_935), (5_020, 3_520, 6_520), (200_500, 140_500, 260_500),
    (10_000, 7_000, 13_000), (19_990, 14_000, 25_950), (1_000, 700, 1_300)])
def test_price_limits_follow_the_krx_rule(base, low, high):
    assert krx.price_limits(base) == (low, high)
