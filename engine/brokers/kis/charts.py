"""History from KIS chart endpoints, as closed :class:`Bar`s (KIS_PROTOCOL.md §4.3).

- Intraday sizes use today's minute bars (FHKST03010200, 30 rows a call, newest
  first), paged back one minute before the earliest row, then aggregated into
  5Min..1H as the live bars are (:func:`engine.market.krx.bar_bounds`: the last
  bar ends at the close and holds the 15:30 closing print). KIS keeps only
  today here, so an intraday backfill returns at most today's bars.
- ``1D`` uses daily bars (FHKST03010100, ≤100 rows a call), paged back by date.
Rows are labelled by their minute's start. Bars not yet closed at the clock's
``now`` are left out. Any failure raises :class:`BackfillError`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine.brokers.kis.errors import BackfillError, KisError
from engine.brokers.kis.frames import date_midnight_ms, hms_ms
from engine.brokers.kis.rest import KisRest
from engine.market.krx import BAR_MS, bar_bounds, bar_end, bar_start, kst_date, parse_bar_size, session_open_ms
from engine.market.messages import Bar
from engine.runtime.clock import Clock

KST = timezone(timedelta(hours=9))
PATH = "/uapi/domestic-stock/v1/quotations"
MAX_PAGES = 60

Row = tuple[int, int, int, int, int, int]  # start ms, open, high, low, close, volume


async def fetch_bars(rest: KisRest, clock: Clock, code: str, bar_size: str, n: int, market: str = "J") -> list[Bar]:
    """Up to ``n`` most recent closed bars of ``bar_size``, oldest first (``market``: J KRX, NX NXT, UN 통합)."""
    try:
        size = parse_bar_size(bar_size)
    except ValueError as exc:
        raise BackfillError(str(exc)) from None
    if n <= 0:
        return []
    try:
        if size == "1D":
            rows = await _daily_rows(rest, clock, code, n, market)
        else:
            rows = await _minute_rows(rest, clock, code, n * (BAR_MS[size] // 60_000) + BAR_MS[size] // 60_000,
                                      market)
    except KisError as exc:
        raise BackfillError(f"backfill {code} {size}: {exc}") from exc
    bars = _aggregate(code, size, rows, clock.now_ms())
    return bars[-n:]


def _row(date_text: str, start_ms_in_day: int, row: dict, close_key: str, vol_key: str) -> Row:
    return (
        date_midnight_ms(date_text) + start_ms_in_day,
        int(row["stck_oprc"]),
        int(row["stck_hgpr"]),
        int(row["stck_lwpr"]),
        int(row[close_key]),
        int(row[vol_key]),
    )


def _rows_of(body: dict, code: str) -> list[dict]:
    rows = body.get("output2")
    if not isinstance(rows, list):
        raise BackfillError(f"backfill {code}: answer without output2")
    # KIS pads short answers with empty rows
    return [r for r in rows if isinstance(r, dict) and r.get("stck_bsop_date")]


async def _minute_rows(rest: KisRest, clock: Clock, code: str, minutes: int, market: str) -> list[Row]:
    now = datetime.fromtimestamp(clock.now_ms() / 1000, KST)
    cursor = now.strftime("%H%M%S")
    found: dict[int, Row] = {}
    for _ in range(MAX_PAGES):
        resp = await rest.get(
            f"{PATH}/inquire-time-itemchartprice",
            "FHKST03010200",
            {
                "FID_ETC_CLS_CODE": "",
                "FID_COND_MRKT_DIV_CODE": market,
                "FID_INPUT_ISCD": code,
                "FID_INPUT_HOUR_1": cursor,
                "FID_PW_DATA_INCU_YN": "N",
            },
        )
        page = _rows_of(resp.body, code)
        earliest: int | None = None
        added = 0
        try:
            for r in page:
                row = _row(r["stck_bsop_date"], hms_ms(r["stck_cntg_hour"]), r, "stck_prpr", "cntg_vol")
                if row[0] not in found:
                    found[row[0]] = row
                    added += 1
                earliest = row[0] if earliest is None else min(earliest, row[0])
        except (KeyError, ValueError, TypeError) as exc:
            raise BackfillError(f"backfill {code}: bad minute row ({exc})") from None
        if not added or earliest is None or len(found) >= minutes:
            break
        previous = earliest - 60_000
        if previous < date_midnight_ms(datetime.fromtimestamp(earliest / 1000, KST).strftime("%Y%m%d")):
            break
        cursor = datetime.fromtimestamp(previous / 1000, KST).strftime("%H%M%S")
    return sorted(found.values())


async def _daily_rows(rest: KisRest, clock: Clock, code: str, days: int, market: str) -> list[Row]:
    end = datetime.fromtimestamp(clock.now_ms() / 1000, KST).date()
    found: dict[int, Row] = {}
    for _ in range(MAX_PAGES):
        start = end - timedelta(days=140)
        resp = await rest.get(
            f"{PATH}/inquire-daily-itemchartprice",
            "FHKST03010100",
            {
                "FID_COND_MRKT_DIV_CODE": market,
                "FID_INPUT_ISCD": code,
                "FID_INPUT_DATE_1": start.strftime("%Y%m%d"),
                "FID_INPUT_DATE_2": end.strftime("%Y%m%d"),
                "FID_PERIOD_DIV_CODE": "D",
                "FID_ORG_ADJ_PRC": "0",
            },
        )
        page = _rows_of(resp.body, code)
        try:
            rows = [_row(r["stck_bsop_date"], 0, r, "stck_clpr", "acml_vol") for r in page]
        except (KeyError, ValueError, TypeError) as exc:
            raise BackfillError(f"backfill {code}: bad daily row ({exc})") from None
        if not rows:
            break
        for row in rows:
            found[row[0]] = row
        if len(found) >= days + 1:
            break
        earliest = min(row[0] for row in rows)
        end = datetime.fromtimestamp(earliest / 1000, KST).date() - timedelta(days=1)
    return sorted(found.values())


def _aggregate(code: str, size: str, rows: list[Row], now_ms: int) -> list[Bar]:
    """Rows into bars stamped as the live aggregator stamps them (:func:`krx.bar_bounds`):
    a daily row at its session's open, a 15:30 closing-print minute in the last bar."""
    bars: list[Bar] = []
    current: list[int] | None = None
    for ts, o, h, lo, c, v in rows:
        if size == "1D":
            start = session_open_ms(kst_date(ts))
        else:
            bounds = bar_bounds(ts, size)
            start = bounds[0] if bounds is not None else bar_start(ts, size)
        if current is not None and current[0] == start:
            current[2] = max(current[2], h)
            current[3] = min(current[3], lo)
            current[4] = c
            current[5] += v
            continue
        if current is not None:
            bars.append(Bar(code, size, *current))
        current = [start, o, h, lo, c, v]
    if current is not None:
        bars.append(Bar(code, size, *current))
    return [b for b in bars if bar_end(b.start_ms, size) <= now_ms]
