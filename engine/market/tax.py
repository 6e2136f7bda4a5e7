"""The securities transaction tax (증권거래세) of a sale on KRX, by date and market.

The tax is due on the *transfer* (양도), which for an exchange trade is its
settlement, two sessions after the trade (T+2): a sale on 2024-12-27 (Fri)
settles on 2025-01-02 and pays the 2025 rate. :func:`settlement_day` finds it
on the KRX calendar (the trade date itself outside the calendar's range).

KOSPI sales pay the transaction tax plus the rural special tax (농어촌특별세,
0.15 % of the value), each computed and floored to the won on its own; KOSDAQ
pays the transaction tax alone. Rates in percent of the sold value, by
settlement date (증권거래세법 시행령 제5조, as amended):

==========================  ==================  ======  =======
settled                     KOSPI (tax + rural)  total  KOSDAQ
==========================  ==================  ======  =======
before 2019-06-03           0.15 + 0.15          0.30   0.30
2019-06-03 .. 2020-12-31    0.10 + 0.15          0.25   0.25
2021-01-01 .. 2022-12-31    0.08 + 0.15          0.23   0.23
2023-01-01 .. 2023-12-31    0.05 + 0.15          0.20   0.20
2024-01-01 .. 2024-12-31    0.03 + 0.15          0.18   0.18
2025-01-01 .. 2025-12-31    0.00 + 0.15          0.15   0.15
from 2026-01-01             0.05 + 0.15          0.20   0.20
==========================  ==================  ======  =======

Sources: Ministry of Economy and Finance press releases on the 증권거래세법
시행령 amendments — 2019-04-02 (0.30 → 0.25 % from 2019-06-03; reported by
fntimes.com, "증권거래세율 코스피 0.25%, 코스닥 0.25%로 낮아진다"); the 2020
tax-law reform (0.23 % 2021-22, 0.15 % from 2023 as first planned, then
revised by the 2022 reform to 0.20 % 2023, 0.18 % 2024, 0.15 % 2025);
2025-12-01 (restored to the 2023 level from 2026-01-01: KOSPI 0 → 0.05 % plus
the 0.15 % rural special tax, KOSDAQ 0.15 → 0.20 %; donga.com 2025-12-01,
magazine.hankyung.com 2025-12-01). The 2025 change applied "from sales settled
on or after 2025-01-01, i.e. trades of 2024-12-27 onwards" (broker notices).
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import Literal

from engine.market import krx

__all__ = ["Market", "MARKETS", "RATES", "rates_on", "settlement_day", "transaction_tax"]

Market = Literal["KOSPI", "KOSDAQ"]
MARKETS: tuple[str, ...] = ("KOSPI", "KOSDAQ")

# (first settlement date, KOSPI transaction tax %, KOSDAQ transaction tax %), in basis points of a percent
# (1/100 %): 15 = 0.15 %. KOSPI pays the rural special tax (15) on top.
RATES: tuple[tuple[dt.date, int, int], ...] = (
    (dt.date.min, 15, 30),
    (dt.date(2019, 6, 3), 10, 25),
    (dt.date(2021, 1, 1), 8, 23),
    (dt.date(2023, 1, 1), 5, 20),
    (dt.date(2024, 1, 1), 3, 18),
    (dt.date(2025, 1, 1), 0, 15),
    (dt.date(2026, 1, 1), 5, 20),
)
RURAL_BP = 15
_STARTS = [r[0] for r in RATES]


def rates_on(settled: dt.date, market: str) -> tuple[int, int]:
    """``(transaction tax, rural special tax)`` in 1/100 % for a sale settled on ``settled``."""
    if market not in MARKETS:
        raise ValueError(f"unknown market {market!r}: expected one of {', '.join(MARKETS)}")
    _, kospi, kosdaq = RATES[bisect.bisect_right(_STARTS, settled) - 1]
    return (kospi, RURAL_BP) if market == "KOSPI" else (kosdaq, 0)


def settlement_day(trade_ms: int) -> dt.date:
    """The KST date a trade at ``trade_ms`` settles: the second session after its day (T+2)."""
    day = krx.kst_date(trade_ms)
    bounds = krx.session_bounds(day)
    if bounds is None:
        return day
    later = krx.next_open(bounds[1])
    if later is None:
        return day
    later = krx.next_open(krx.session_bounds(krx.kst_date(later))[1])  # type: ignore[index]
    return krx.kst_date(later) if later is not None else day


def transaction_tax(value: int, trade_ms: int, market: str = "KOSPI") -> int:
    """Tax on a sale of ``value`` KRW traded at ``trade_ms``: each part floored to the won."""
    if value <= 0:
        return 0
    tax_bp, rural_bp = rates_on(settlement_day(trade_ms), market)
    return value * tax_bp // 10_000 + value * rural_bp // 10_000
