"""The KRX securities transaction tax by settlement date and market, checked by hand."""

import datetime as dt

import pytest

from engine.market import krx, tax
from engine.risk import Fees

pytestmark = pytest.mark.timeout(30)


def at(day: str, hhmm: str = "10:00") -> int:
    h, m = map(int, hhmm.split(":"))
    return krx.kst_midnight_ms(dt.date.fromisoformat(day)) + (h * 60 + m) * 60_000


@pytest.mark.parametrize(("day", "kospi", "kosdaq"), [
    ("2018-05-10", (15, 15), (30, 0)), ("2019-05-29", (15, 15), (30, 0)),
    ("2019-05-30", (10, 15), (25, 0)),  # settles 2019-06-03, the first day of 0.25 %
    ("2020-06-01", (10, 15), (25, 0)), ("2021-03-02", (8, 15), (23, 0)), ("2022-12-26", (8, 15), (23, 0)),
    ("2023-06-01", (5, 15), (20, 0)), ("2024-06-03", (3, 15), (18, 0)),
    ("2024-12-26", (3, 15), (18, 0)), ("2024-12-27", (0, 15), (15, 0)),  # settles 2025-01-02
    ("2025-06-02", (0, 15), (15, 0)), ("2026-03-03", (5, 15), (20, 0)),
])
def test_rates_by_settlement_date(day, kospi, kosdaq):
    settled = tax.settlement_day(at(day))
    assert tax.rates_on(settled, "KOSPI") == kospi
    assert tax.rates_on(settled, "KOSDAQ") == kosdaq


def test_2026_kospi_floors_the_tax_and_the_rural_tax_separately():
    value = 1_234_567  # 0.05 % = 617.28 -> 617; 0.15 % = 1,851.85 -> 1,851; together 2,468 (0.20 % would be 2,469)
    assert tax.transaction_tax(value, at("2026-03-03"), "KOSPI") == 617 + 1_851 == 2_468
    assert tax.transaction_tax(value, at("2026-03-03"), "KOSDAQ") == 2_469  # 0.20 % = 2,469.13
    assert tax.transaction_tax(10_000_000, at("2025-06-02"), "KOSPI") == 15_000
    fees = Fees(0.015)
    assert fees.tax("sell", value, at("2026-03-03")) == 2_468 and fees.tax("buy", value, at("2026-03-03")) == 0
    assert Fees(0.015, 0.18).tax("sell", value) == 2_222  # a flat override: floor(1,234,567 x 0.18 %)
    with pytest.raises(ValueError):
        tax.rates_on(dt.date(2026, 1, 5), "NYSE")


def test_settlement_skips_holidays_and_weekends():
    assert tax.settlement_day(at("2025-12-29")) == dt.date(2026, 1, 2)  # 12-31 is closed
    assert tax.settlement_day(at("2024-04-08")) == dt.date(2024, 4, 11)  # 04-10 was election day
    assert tax.settlement_day(at("1995-03-02")) == dt.date(1995, 3, 2)  # before the calendar: the trade date
