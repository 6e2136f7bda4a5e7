"""engine.pnl, the one realised P&L: the cash round trip on an exact cost basis, every figure by hand."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from engine.market import krx
from engine.pnl import CostBasis, realized_pnl
from engine.risk import Fees

FEES = Fees(0.015)  # commission 0.015 %, tax by the KRX schedule
TRADE_2026 = krx.kst_midnight_ms(dt.date(2026, 3, 3)) + 10 * 3_600_000  # Tue 10:00 KST, settles 03-05


def test_a_round_trip_is_its_cash():
    # buy 10 x 50,000 = 500,000, commission floor(75.0) = 75: basis 500,075
    held = CostBasis().bought(10, 500_000, FEES.commission(500_000))
    assert held == CostBasis(quantity=10, total=500_075)
    # sell 10 x 51,000 = 510,000 in 2026 on KOSPI: commission floor(76.5) = 76,
    # tax 0.05 % = 255 and rural 0.15 % = 765, each floored: 1,020
    commission, tax = FEES.commission(510_000), FEES.tax("sell", 510_000, TRADE_2026, "KOSPI")
    assert (commission, tax) == (76, 255 + 765)
    sale = held.sold(10, 510_000, commission, tax)
    assert sale.realized == 510_000 - 76 - 1_020 - 500_075 == 8_829  # not (51,000 - 50,000) x 10
    assert sale.rest == CostBasis()
    # KOSDAQ pays 0.20 % at once: floor(1,020.0) = 1,020, the same here
    assert FEES.tax("sell", 510_000, TRADE_2026, "KOSDAQ") == 1_020
    assert realized_pnl(510_000, 76, 1_020, 500_075) == 8_829


def test_partial_sells_take_the_basis_proportionally_and_sum_to_the_round_trip():
    # two buys: 3 x 10,010 = 30,030 (commission 4) and 4 x 10,000 = 40,000 (commission 6):
    # basis 70,040 for 7 shares (70,040 / 7 = 10,005.71..., never rounded)
    held = CostBasis().bought(3, 30_030, 4).bought(4, 40_000, 6)
    assert held == CostBasis(quantity=7, total=70_040)
    # sell 2, then 2, then the last 3, at 10,100 (20,200: commission 3; 30,300: commission 4), flat tax 0
    first = held.sold(2, 20_200, 3, 0)
    assert first.basis == 70_040 * 2 // 7 == 20_011  # 20,011.43 rounded down
    second = first.rest.sold(2, 20_200, 3, 0)
    assert second.basis == 50_029 * 2 // 5 == 20_011  # 20,011.6 rounded down
    last = second.rest.sold(3, 30_300, 4, 0)
    assert last.basis == 70_040 - 20_011 - 20_011 == 30_018  # the last shares take the rest
    assert last.rest == CostBasis()
    # the three sales sum to the round trip's cash: (70,700 - 10) - 70,040 = 650
    assert first.realized + second.realized + last.realized == (70_700 - 10) - 70_040 == 650
    assert held.sold(7, 70_700, 10, 0).realized == 650  # as one sale of the 7


def test_no_won_is_lost_whatever_the_split():
    """Every way of selling 13 shares in sales of 1 to 5: the bases taken sum to the whole basis."""
    for n in range(1, 5):
        for split in itertools.product(range(1, 6), repeat=n):
            if sum(split) > 13:
                continue
            held, taken = CostBasis(quantity=13, total=1_000_003), 0
            for qty in [q for q in (*split, 13 - sum(split)) if q]:
                sale = held.sold(qty, 0, 0, 0)
                taken, held = taken + sale.basis, sale.rest
            assert held == CostBasis() and taken == 1_000_003, split


def test_selling_more_than_is_held_is_an_error():
    with pytest.raises(ValueError, match="selling 3 shares of a holding of 2"):
        CostBasis(quantity=2, total=100).sold(3, 300, 0, 0)


def test_the_holding_a_journal_of_fills_leaves():
    held = CostBasis.of_fills([("buy", 10, 500_000, 75), ("buy", 5, 255_000, 38), ("sell", 3, 160_000, 24)])
    # 15 shares cost 755,113; 3 sold take 755,113 x 3 // 15 = 151,022
    assert held == CostBasis(quantity=12, total=755_113 - 151_022)
    assert CostBasis.of_fills([("buy", 2, 100_000, 15), ("sell", 5, 260_000, 39)]) == CostBasis()  # shares from elsewhere
    assert CostBasis.of_fills([]) == CostBasis()
