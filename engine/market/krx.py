"""KRX market rules, written once: tick sizes, price limits, sessions, bar sizes.

Tick sizes are the unified KOSPI/KOSDAQ table in force since the 2023-01-25
reform (stocks; ETFs/ETNs, which trade on a flat 5 KRW tick, are out of scope):

    price <   2,000      1
    price <   5,000      5
    price <  20,000     10
    price <  50,000     50
    price < 200,000    100
    price < 500,000    500
    price >= 500,000 1,000

Every band boundary is a multiple of the tick of the band above it, so rounding
to the tick of the price itself always lands on the grid.

Sessions and holidays come from exchange_calendars ``XKRX`` (09:00-15:30 KST,
with the late opening of the first session of the year), corrected by the small
sourced table :data:`SESSION_OVERRIDES` (days the library gets wrong: new
holidays, CSAT days opening 10:00 and closing 16:30); in kis mode the days KIS's
holiday inquiry declares win over both (:func:`apply_exchange_days`). The
calendar object takes seconds of CPU to build, so it is built once per process,
lazily, into an immutable table of ``KST day -> (open_ms, close_ms)``, and that
table is kept in a cache file (one per local date and library version, under the
user's cache dir) so the next process of the day reads it in milliseconds; after
that :func:`is_open` and :func:`session_bounds` are a dict lookup. Async code should
call :func:`load_calendar` once from an executor at start-up so the first real
call does not block the loop. Days outside the calendar's range (about 20 years
back to one year ahead of the real date) count as non-sessions.

Times are UTC epoch milliseconds. KST is UTC+9 with no daylight saving, so KST
wall-clock arithmetic on milliseconds is just ``ts_ms + KST_OFFSET_MS``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import logging
import re
import warnings
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from engine.market import calendar_cache

__all__ = [
    "KST", "KST_OFFSET_MS", "DAY_MS", "BAR_SIZES", "BAR_MS", "PANDAS_ALIASES",
    "parse_bar_size", "bar_ms", "pandas_alias", "bar_start",
    "tick_size", "TICK_BANDS", "TOP_TICK", "is_on_tick", "round_to_tick", "price_limits", "LIMIT_RATE_PCT",
    "to_kst", "kst_date", "kst_midnight_ms", "is_valid_code",
    "load_calendar", "is_session", "is_open", "session_bounds", "session_of", "next_closes",
    "CLOSE_PRINT_MS", "bar_bounds", "bar_end", "SESSION_OVERRIDES", "next_open", "session_open_ms",
    "PRE_OPEN_MS", "CLOSING_AUCTION_MS", "accepts_orders", "auction_at", "next_acceptance",
    "apply_exchange_days", "reset_exchange_days", "default_calendar_cache", "set_calendar_cache",
]

log = logging.getLogger(__name__)

KST = ZoneInfo("Asia/Seoul")
KST_OFFSET_MS = 9 * 3_600_000
DAY_MS = 86_400_000

# -- bar sizes ------------------------------------------------------------------

BAR_SIZES: tuple[str, ...] = ("1Min", "5Min", "15Min", "30Min", "1H", "1D")
BAR_MS: dict[str, int] = {
    "1Min": 60_000, "5Min": 300_000, "15Min": 900_000,
    "30Min": 1_800_000, "1H": 3_600_000, "1D": DAY_MS,
}
# pandas 3 rejects "1H"/"1Min"-style upper-case aliases for resample.
PANDAS_ALIASES: dict[str, str] = {
    "1Min": "1min", "5Min": "5min", "15Min": "15min",
    "30Min": "30min", "1H": "1h", "1D": "D",
}
_BY_LOWER = {s.lower(): s for s in BAR_SIZES}


def parse_bar_size(s: str) -> str:
    """The canonical bar size for ``s`` (case-insensitive: ``1min`` -> ``1Min``)."""
    found = _BY_LOWER.get(s.strip().lower()) if isinstance(s, str) else None
    if found is None:
        raise ValueError(f"bad bar size {s!r}: expected one of {', '.join(BAR_SIZES)}")
    return found


def bar_ms(size: str) -> int:
    return BAR_MS[parse_bar_size(size)]


def pandas_alias(size: str) -> str:
    return PANDAS_ALIASES[parse_bar_size(size)]


def bar_start(ts_ms: int, size: str) -> int:
    """Start (UTC ms) of the bar of ``size`` holding ``ts_ms``: label left, closed left, in KST.

    Intraday sizes divide an hour's multiple of 9 h, so their KST and UTC grids
    coincide; daily bars start at KST midnight.
    """
    step = BAR_MS[size] if size in BAR_MS else bar_ms(size)
    local = ts_ms + KST_OFFSET_MS
    return local - local % step - KST_OFFSET_MS


CLOSE_PRINT_MS = 1_000  # the closing print is stamped at the close's second: the last bar ends after it


def bar_bounds(ts_ms: int, size: str, sessions: bool = True) -> tuple[int, int] | None:
    """``(start, end)`` of the bar of ``size`` that a trade at ``ts_ms`` belongs to.

    With ``sessions`` (market hours respected) bars follow the KRX session of
    ``ts_ms``'s KST day: a ``1D`` bar is the session ``[open, close]``; an
    intraday bar is its grid bucket, except that the last one of the day ends
    at the close (``1H``: 09:00, 10:00, ... 15:00-15:30). The closing print,
    stamped at the close itself (15:30:00), belongs to the last bar, never to
    a bar of its own, so that bar's ``end`` is ``close + CLOSE_PRINT_MS``.
    A trade on a session day outside ``[open, close + CLOSE_PRINT_MS)`` (the
    after-hours and pre-market closing-price sessions) belongs to no bar:
    ``None``. On a day without a session (and with ``sessions`` false, the
    around-the-clock demo market) bars are the plain KST grid and ``1D`` is
    the KST day.
    """
    step = BAR_MS[size] if size in BAR_MS else bar_ms(size)
    if sessions:
        bounds = _sessions().by_day.get((ts_ms + KST_OFFSET_MS) // DAY_MS)
        if bounds is not None:
            open_ms, close_ms = bounds
            last_end = close_ms + CLOSE_PRINT_MS
            if not open_ms <= ts_ms < last_end:
                return None
            if step >= DAY_MS:
                return open_ms, last_end
            start = bar_start(min(ts_ms, close_ms - 1), size)
            end = start + step
            return max(start, open_ms), (last_end if end >= close_ms else end)
    start = bar_start(ts_ms, size)
    return start, start + step


def bar_end(start_ms: int, size: str, sessions: bool = True) -> int:
    """When the bar of ``size`` that starts at ``start_ms`` is complete (see :func:`bar_bounds`)."""
    bounds = bar_bounds(start_ms, size, sessions)
    if bounds is None:  # not a start of this calendar's bars: the plain grid
        return bar_start(start_ms, size) + bar_ms(size)
    return bounds[1]


# -- ticks and price limits -------------------------------------------------------

_TICK_BANDS: tuple[tuple[int, int], ...] = (
    (2_000, 1), (5_000, 5), (20_000, 10), (50_000, 50), (200_000, 100), (500_000, 500),
)
_TOP_TICK = 1_000
TICK_BANDS = _TICK_BANDS  # (upper bound exclusive, tick) per band, ascending; TOP_TICK above the last
TOP_TICK = _TOP_TICK
LIMIT_RATE_PCT = 30  # daily price limit, percent of the base price


def tick_size(price: int) -> int:
    """The KRX tick (호가가격단위) for a stock price in KRW."""
    for upper, tick in _TICK_BANDS:
        if price < upper:
            return tick
    return _TOP_TICK


def is_on_tick(price: int) -> bool:
    return price > 0 and price % tick_size(price) == 0


def round_to_tick(price: int, direction: Literal["down", "up", "nearest"] = "nearest") -> int:
    """``price`` moved onto the tick grid; ``nearest`` rounds halves up."""
    if price <= 0:
        raise ValueError(f"price must be positive, got {price}")
    if direction not in ("down", "up", "nearest"):
        raise ValueError(f"bad direction {direction!r}: expected down, up or nearest")
    tick = tick_size(price)
    down = price - price % tick
    if down == price:
        return price
    if direction == "down":
        return down
    up = down + tick
    if direction == "up":
        return up
    return up if price - down >= up - price else down


def price_limits(base_price: int) -> tuple[int, int]:
    """``(lower, upper)`` daily limits of a stock whose base price is ``base_price``.

    KRX (유가증권시장 업무규정 시행세칙, 가격제한폭): the width is base × 30 %
    truncated to the tick of the *base* price; upper = base + width and
    lower = base − width, then each is put on the grid of its own band (the
    upper truncated, the lower rounded up). Base 2,260 → width 675 → 1,585 ..
    2,935; 5,020 → width 1,500 → 3,520 .. 6,520; 200,500 → 140,500 .. 260,500.
    """
    if base_price <= 0:
        raise ValueError(f"base price must be positive, got {base_price}")
    tick = tick_size(base_price)
    width = base_price * LIMIT_RATE_PCT // 100
    width -= width % tick
    low, high = base_price - width, base_price + width
    return round_to_tick(max(low, 1), "up"), round_to_tick(high, "down")


# -- time and codes -----------------------------------------------------------------


def to_kst(ts_ms: int) -> dt.datetime:
    """An aware datetime in KST for UTC epoch milliseconds."""
    return dt.datetime.fromtimestamp(ts_ms / 1000, tz=KST)


def kst_date(ts_ms: int) -> dt.date:
    """The KST calendar date of ``ts_ms``."""
    return dt.date.fromordinal(_EPOCH_ORDINAL + (ts_ms + KST_OFFSET_MS) // DAY_MS)


def kst_midnight_ms(day: dt.date) -> int:
    """UTC ms of 00:00 KST on ``day`` (the start of that day's 1D bar)."""
    return (day.toordinal() - _EPOCH_ORDINAL) * DAY_MS - KST_OFFSET_MS


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
# Six characters: classic all-digit codes (005930) and the alphanumeric codes KRX
# issues since 2024 (0001A0) and uses for some preferred shares (00088K). All start
# with a digit; letters are upper case. Anything else (lower case, 5 or 7 chars,
# the "A" prefix of full ISIN-style short codes) is rejected.
_CODE = re.compile(r"[0-9][0-9A-Z]{5}")


def is_valid_code(s: object) -> bool:
    return isinstance(s, str) and _CODE.fullmatch(s) is not None


# -- sessions -----------------------------------------------------------------------


class _Sessions:
    """Immutable session table built once from exchange_calendars XKRX."""

    __slots__ = ("by_day", "days", "opens", "closes")

    def __init__(self, days: list[int], opens: list[int], closes: list[int]) -> None:
        self.days = days  # KST day numbers (days since epoch in KST), ascending
        self.opens = opens
        self.closes = closes
        self.by_day = {d: (o, c) for d, o, c in zip(days, opens, closes)}


# What exchange_calendars' XKRX (pinned to 4.13.2 in pyproject.toml) gets wrong, layered
# on top of it: KST date -> (open "HH:MM", close "HH:MM") or None for a closed day, and why.
SESSION_OVERRIDES: dict[dt.date, tuple[tuple[str, str] | None, str]] = {
    dt.date(2026, 6, 3): (None, "9th nationwide local elections (public holiday); KRX closed"),
    dt.date(2026, 7, 17): (None, "Constitution Day, a public holiday again from 2026; KRX closed"),
    # CSAT (대학수학능력시험) days: KRX opens an hour late and closes an hour late.
    dt.date(2021, 11, 18): (("10:00", "16:30"), "CSAT 2022 (수능): opens 10:00, closes 16:30"),
    dt.date(2022, 11, 17): (("10:00", "16:30"), "CSAT 2023 (수능): opens 10:00, closes 16:30"),
    dt.date(2023, 11, 16): (("10:00", "16:30"), "CSAT 2024 (수능): opens 10:00, closes 16:30"),
    dt.date(2024, 11, 14): (("10:00", "16:30"), "CSAT 2025 (수능): opens 10:00, closes 16:30"),
    dt.date(2025, 11, 13): (("10:00", "16:30"), "CSAT 2026 (수능): opens 10:00, closes 16:30"),
    # Ministry of Education, 2027학년도 수능 기본계획 (2023-08-16): held on 2026-11-19 (Thu).
    dt.date(2026, 11, 19): (("10:00", "16:30"), "CSAT 2027 (수능): opens 10:00, closes 16:30"),
}


def _kst_ms(day: dt.date, hhmm: str) -> int:
    h, m = (int(x) for x in hhmm.split(":"))
    return kst_midnight_ms(day) + (h * 60 + m) * 60_000


@functools.cache
def _library_table() -> dict[int, tuple[int, int]]:
    """KST day number -> (open_ms, close_ms): XKRX with :data:`SESSION_OVERRIDES`, once per process,
    from the cache file when it holds today's table (see :func:`set_calendar_cache`)."""
    path = _cache_file
    if path is not None:
        cached = calendar_cache.read(path, _cache_key(calendar_cache.default_range(dt.date.today())))
        if cached is not None:
            log.info("XKRX calendar loaded from %s: %d sessions", path, len(cached))
            return cached
    table, built_range = _build_library_table()
    log.info("XKRX calendar built: %d sessions in %s .. %s (%d overrides)", len(table), *built_range,
             len(SESSION_OVERRIDES))
    if path is not None:  # keyed by the range the library really used (it fixed it when imported)
        calendar_cache.write(path, _cache_key(built_range), table)
    return table


def _build_library_table() -> tuple[dict[int, tuple[int, int]], tuple[dt.date, dt.date]]:
    """The table from exchange_calendars itself (~4 s of CPU) and the range of days it covers."""
    import exchange_calendars as xcals  # heavy import: only when first needed
    from exchange_calendars.exchange_calendar import GLOBAL_DEFAULT_END, GLOBAL_DEFAULT_START

    with warnings.catch_warnings():  # exchange_calendars' own pandas deprecations
        warnings.simplefilter("ignore")
        schedule = xcals.get_calendar("XKRX").schedule
    opens = [int(t.value // 1_000_000) for t in schedule["open"]]
    closes = [int(t.value // 1_000_000) for t in schedule["close"]]
    table = {(o + KST_OFFSET_MS) // DAY_MS: (o, c) for o, c in zip(opens, closes)}
    first, last = min(table), max(table)
    for day, (hours, _why) in SESSION_OVERRIDES.items():
        n = _day_number(day)
        if not first <= n <= last:
            continue
        if hours is None:
            table.pop(n, None)
        else:
            table[n] = (_kst_ms(day, hours[0]), _kst_ms(day, hours[1]))
    return table, (GLOBAL_DEFAULT_START.date(), GLOBAL_DEFAULT_END.date())


_cache_file: Path | None = calendar_cache.default_path()


def default_calendar_cache() -> Path:
    """Where the session table's cache file is kept unless told otherwise (the user's cache dir)."""
    return calendar_cache.default_path()


def set_calendar_cache(directory: str | Path | None) -> None:
    """Keep the library table's cache file in ``directory`` (``None``: no cache file); takes
    effect if the table is not built yet in this process."""
    global _cache_file
    _cache_file = None if directory is None else Path(directory) / calendar_cache.FILE_NAME


def _cache_key(days: tuple[dt.date, dt.date]) -> str:
    return calendar_cache.cache_key(days, SESSION_OVERRIDES)


# Days the exchange itself declared (KIS's 국내휴장일조회 in kis mode): KST day number -> open.
# They override the library and SESSION_OVERRIDES; see apply_exchange_days.
_EXCHANGE_DAYS: dict[int, bool] = {}
_current: _Sessions | None = None


def _sessions() -> _Sessions:
    global _current
    if _current is None:
        table = dict(_library_table())
        for n, opens in _EXCHANGE_DAYS.items():
            if not opens:
                table.pop(n, None)
            elif n not in table:  # open by the exchange's word: the regular hours (it gives no times)
                day = dt.date.fromordinal(_EPOCH_ORDINAL + n)
                table[n] = (_kst_ms(day, "09:00"), _kst_ms(day, "15:30"))
        days = sorted(table)
        _current = _Sessions(days, [table[d][0] for d in days], [table[d][1] for d in days])
    return _current


def apply_exchange_days(days: dict[dt.date, bool], source: str) -> list[dt.date]:
    """Let the exchange's own word on ``days`` (date -> open) win over the library; the days it changed.

    In kis mode the KIS holiday inquiry is the authority where it answers: a day it calls
    closed is closed (an unannounced holiday the library does not know), a day it calls
    open on which the library has no session opens at the regular 09:00-15:30. A day the
    library already agrees on keeps the library's hours (e.g. a CSAT day's 10:00 open).
    """
    global _current
    library = _library_table() if _library_table.cache_info().currsize else None  # never built here
    changed = []
    for day, opens in days.items():
        n = _day_number(day)
        if _EXCHANGE_DAYS.get(n) == opens:
            continue
        _EXCHANGE_DAYS[n] = opens
        if library is not None and (n in library) != opens:
            changed.append(day)
            log.warning("%s says KRX is %s on %s, the library says %s: following %s", source,
                        "open" if opens else "closed", day, "closed" if opens else "open", source)
    _current = None
    return changed


def reset_exchange_days() -> None:
    """Forget what the exchange declared (tests; the library and the override table rule again)."""
    global _current
    _EXCHANGE_DAYS.clear()
    _current = None


def session_of(ts_ms: int) -> tuple[int, int] | None:
    """``(open_ms, close_ms)`` of the session on the KST day of ``ts_ms``, or None."""
    return _sessions().by_day.get((ts_ms + KST_OFFSET_MS) // DAY_MS)


def session_open_ms(day: dt.date | str) -> int:
    """Where a daily bar of this KST date is stamped: its session's open (10:00 on the
    first session of a year and on CSAT days), 09:00 KST for a date the calendar
    does not know (before its range, or a file's row on a day it calls closed)."""
    bounds = session_bounds(day)
    if bounds is not None:
        return bounds[0]
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return kst_midnight_ms(day) + 9 * 3_600_000


def next_open(after_ms: int) -> int | None:
    """The first session open at or after ``after_ms`` (None past the calendar's end)."""
    table = _sessions()
    i = bisect.bisect_left(table.opens, after_ms)
    return table.opens[i] if i < len(table.opens) else None


def load_calendar(cache_dir: str | Path | None = "") -> None:
    """Build the session table now (blocking: a file read, or seconds of CPU without the cache
    file): call from an executor at start-up. ``cache_dir`` is where the cache file lives
    (``""``: the default, :func:`default_calendar_cache`; ``None``: no cache file)."""
    if cache_dir != "":
        set_calendar_cache(cache_dir)
    _sessions()


def _day_number(day: dt.date | str) -> int:
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    return day.toordinal() - _EPOCH_ORDINAL


def is_session(day: dt.date | str) -> bool:
    """Whether KRX trades on this KST date."""
    return _day_number(day) in _sessions().by_day


def session_bounds(day: dt.date | str) -> tuple[int, int] | None:
    """``(open_ms, close_ms)`` of the session on this KST date, or None on a holiday/weekend."""
    return _sessions().by_day.get(_day_number(day))


def is_open(ts_ms: int) -> bool:
    """Whether the regular session is running at ``ts_ms`` (open <= ts < close)."""
    bounds = _sessions().by_day.get((ts_ms + KST_OFFSET_MS) // DAY_MS)
    return bounds is not None and bounds[0] <= ts_ms < bounds[1]


PRE_OPEN_MS = 30 * 60_000  # orders for the opening call auction are accepted from 08:30 (open - 30 min)
CLOSING_AUCTION_MS = 10 * 60_000  # the closing call auction: the last 10 minutes (15:20-15:30)


def accepts_orders(ts_ms: int) -> bool:
    """Whether KRX takes regular-session orders at ``ts_ms``: from 30 minutes before the open
    (the opening call auction) until the close."""
    bounds = session_of(ts_ms)
    return bounds is not None and bounds[0] - PRE_OPEN_MS <= ts_ms < bounds[1]


def auction_at(ts_ms: int) -> int | None:
    """The call auction an order accepted at ``ts_ms`` goes to, as the instant it executes: the
    open for an order of the pre-open (open - 30 min .. open), the close for one of the closing
    auction (close - 10 min .. close); None during continuous trading or when closed."""
    bounds = session_of(ts_ms)
    if bounds is None:
        return None
    open_ms, close_ms = bounds
    if open_ms - PRE_OPEN_MS <= ts_ms < open_ms:
        return open_ms
    if close_ms - CLOSING_AUCTION_MS <= ts_ms < close_ms:
        return close_ms
    return None


def next_acceptance(after_ms: int) -> int | None:
    """The first instant at or after ``after_ms`` when KRX takes orders (``after_ms`` itself when
    it does now; else the next session's 08:30 pre-open)."""
    if accepts_orders(after_ms):
        return after_ms
    nxt = next_open(after_ms)
    return None if nxt is None else max(after_ms, nxt - PRE_OPEN_MS)


def next_closes(bar_size: str, after_ms: int, until_ms: int) -> list[int]:
    """Every bar close of ``bar_size`` inside a KRX session with ``after_ms < t <= until_ms``.

    A close is the instant a bar ends: with closed-left bars, the bar
    ``[t - size, t)`` is complete at ``t`` itself, so ``t`` is when a check on
    closed bars may run (callers add their own grace for late prints). Bars are
    on the KST grid of :func:`bar_start`; the closes of a session are the grid
    boundaries strictly after its open and strictly before its close, plus the
    close itself, where the last (short) bar of the day ends. For ``1H`` on a
    normal day: 10:00, 11:00, ..., 15:00 and 15:30 KST; on a 10:00 opening day
    11:00 ... 15:00, 15:30. For ``1D``: the session close.
    """
    step = bar_ms(bar_size)
    table = _sessions()
    out: list[int] = []
    i = bisect.bisect_right(table.closes, after_ms)
    n = len(table.days)
    while i < n and table.opens[i] < until_ms:
        open_ms, close_ms = table.opens[i], table.closes[i]
        if step < DAY_MS:
            t = bar_start(open_ms, bar_size) + step
            while t < close_ms:
                if after_ms < t <= until_ms:
                    out.append(t)
                t += step
        if after_ms < close_ms <= until_ms:
            out.append(close_ms)
        i += 1
    return out
