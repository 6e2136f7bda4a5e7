import datetime as dt

import pytest

from engine.market import krx


@pytest.mark.parametrize(
    ("price", "tick"),
    [(1, 1), (1_999, 1), (2_000, 5), (4_995, 5), (5_000, 10), (19_990, 10), (20_000, 50),
     (49_950, 50), (50_000, 100), (199_900, 100), (200_000, 500), (499_500, 500),
     (500_000, 1_000), (2_990_000, 1_000)],
)
def test_tick_size_2023_table(price, tick):
    assert krx.tick_size(price) == tick


def test_is_on_tick():
    assert krx.is_on_tick(57_800)
    assert not krx.is_on_tick(57_850)  # a midpoint print, off the 100 KRW grid
    assert krx.is_on_tick(1_999)
    assert not krx.is_on_tick(2_001)
    assert not krx.is_on_tick(0)


def test_round_to_tick():
    assert krx.round_to_tick(57_850, "down") == 57_800
    assert krx.round_to_tick(57_850, "up") == 57_900
    assert krx.round_to_tick(57_850, "nearest") == 57_900
    assert krx.round_to_tick(57_849, "nearest") == 57_800
    assert krx.round_to_tick(57_800, "up") == 57_800
    assert krx.round_to_tick(199_950, "up") == 200_000  # lands on the next band's grid
    assert krx.is_on_tick(krx.round_to_tick(4_997, "up"))
    with pytest.raises(ValueError):
        krx.round_to_tick(100, "sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        krx.round_to_tick(0)


@pytest.mark.parametrize(
    ("base", "low", "high"),
    [(60_000, 42_000, 78_000),
     (10_050, 7_040, 13_060),        # 7,035 up to 7,040; 13,065 down to 13,060
     (160_000, 112_000, 208_000),    # 208,000 is on the 500 grid
     (155_000, 108_500, 201_500),    # 201,500 ok
     (154_000, 107_800, 200_000),    # 200,200 -> 200,000 (tick 500 above 200k)
     (1_000, 700, 1_300)],
)
def test_price_limits_inward(base, low, high):
    assert krx.price_limits(base) == (low, high)
    assert krx.is_on_tick(low) and krx.is_on_tick(high)
    assert low >= base * 0.7 and high <= base * 1.3


def test_bar_sizes_parse_and_aliases():
    import pandas as pd

    assert krx.parse_bar_size("1Min") == "1Min"
    assert krx.parse_bar_size("1h") == "1H"
    assert krx.bar_ms("30Min") == 1_800_000
    for size in krx.BAR_SIZES:
        pd.tseries.frequencies.to_offset(krx.pandas_alias(size))  # pandas accepts every alias
    with pytest.raises(ValueError, match="expected one of 1Min, 5Min"):
        krx.parse_bar_size("2Min")


def test_bar_start_kst_grid():
    ts = 1_749_772_800_000 + 3_725_000  # 2025-06-13 01:02:05 UTC = 10:02:05 KST
    assert krx.bar_start(ts, "1Min") == ts - 5_000
    assert krx.bar_start(ts, "1H") == ts - 3_725_000 + 3_600_000
    day = krx.bar_start(ts, "1D")
    assert krx.to_kst(day).hour == 0 and krx.to_kst(day).date() == dt.date(2025, 6, 13)
    assert krx.kst_date(ts) == dt.date(2025, 6, 13)
    assert krx.kst_midnight_ms(dt.date(2025, 6, 13)) == day


def test_codes():
    for good in ("005930", "000660", "0001A0", "00088K"):
        assert krx.is_valid_code(good)
    for bad in ("5930", "0059300", "A05930", "00593a", "", None, 5930, "00 593"):
        assert not krx.is_valid_code(bad)


def test_sessions_and_holidays():
    bounds = krx.session_bounds(dt.date(2025, 6, 13))
    assert bounds is not None
    open_ms, close_ms = bounds
    assert (krx.to_kst(open_ms).hour, krx.to_kst(close_ms).strftime("%H:%M")) == (9, "15:30")
    assert krx.session_bounds("2025-06-14") is None  # Saturday
    assert krx.session_bounds("2025-06-06") is None  # Memorial Day
    assert not krx.is_session("2025-01-01")
    first = krx.session_bounds("2025-01-02")  # first session of the year opens at 10:00
    assert first is not None and krx.to_kst(first[0]).hour == 10
    assert krx.is_open(open_ms) and krx.is_open(close_ms - 1)
    assert not krx.is_open(close_ms) and not krx.is_open(open_ms - 1)


def test_next_closes_hourly_and_daily():
    open_ms, close_ms = krx.session_bounds("2025-06-13")
    closes = krx.next_closes("1H", open_ms - 1, close_ms)
    assert [krx.to_kst(t).strftime("%H:%M") for t in closes] == [
        "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "15:30"]
    # across a weekend: Friday's closes after 14:30, then Monday's
    fri = krx.next_closes("30Min", close_ms - 3_600_000, close_ms + 3 * 86_400_000 - 4 * 3_600_000)
    labels = [krx.to_kst(t).strftime("%a %H:%M") for t in fri]
    assert labels[:2] == ["Fri 15:00", "Fri 15:30"]
    assert labels[2:4] == ["Mon 09:30", "Mon 10:00"] and labels[-1] == "Mon 11:30"
    daily = krx.next_closes("1D", open_ms, open_ms + 7 * 86_400_000)
    assert [krx.kst_date(t).isoformat() for t in daily] == [
        "2025-06-13", "2025-06-16", "2025-06-17", "2025-06-18", "2025-06-19"]
    first = krx.session_bounds("2025-01-02")
    assert krx.to_kst(krx.next_closes("1H", first[0] - 1, first[1])[0]).hour == 11
