"""The KIS simulator's market: one seeded random walk per code on the KRX tick grid.

One series per code, as a KIS client sees it everywhere: the daily bars (weekday
sessions of the KRX calendar since 2015, seeded by (seed, code)) end at the
previous session's close, which is today's base price; today's walk starts there
and is the live stream (H0STCNT0 prints, H0STASP0 books), the minute chart and
today's daily bar at once.

Today's walk is a function of (seed, code, day) and the market time only: a step
every tenth of a second, 0-6 shares a step, a one-tick move about every 40 s
(always on a trade), inside the day's limits (:class:`_Day`). Nobody needs to
watch for it to advance, and a simulator started at 11:00 stands exactly where one
running since the open stands: the same minute bars, the same price, the same
trades after it. The live stream sends each client every trade since its last
frame (several records a frame when KIS would batch them); outside the session
(09:00-15:30 KST) the price stands still, no minute bars are made, and the stream
repeats the standing price, as at KIS. Only the test hooks' moves
(:meth:`SimMarket.set_price`) are not in the seed: ``save``/``load``
(``autotrader kis-sim --state FILE``) keep them across a restart.
"""

from __future__ import annotations

import bisect
import functools
import json
import random
import zlib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from engine.market.krx import is_session, price_limits, tick_size
from engine.market.listing import simulated_market

SESSION_OPEN_MIN = 9 * 60
SESSION_CLOSE_MIN = 15 * 60 + 30  # the minute bars end at the close, 15:30 KST
STEPS_PER_SECOND = 10  # the walk steps a tenth of a second
STEPS_PER_MINUTE = 60 * STEPS_PER_SECOND
MOVE_PROB = 0.0025  # a one-tick move in 1 step of 400: about 1.5 a minute
_DAILY_ORIGIN = date(2015, 1, 2)


def _tick_down(price: int) -> int:
    return max(1, price - tick_size(price - 1))


def _tick_up(price: int) -> int:
    return price + tick_size(price)


def _snap(price: int) -> int:
    return max(1, price - price % tick_size(price))


_BAND_EDGES = np.array([2_000, 5_000, 20_000, 50_000, 200_000, 500_000])
_BAND_TICKS = np.array([1, 5, 10, 50, 100, 500, 1_000])


def _snap_all(prices: np.ndarray) -> np.ndarray:
    """:func:`_snap` of every price (int64), vectorized."""
    whole = prices.astype(np.int64)
    ticks = _BAND_TICKS[np.searchsorted(_BAND_EDGES, whole, side="right")]
    return np.maximum(1, whole - whole % ticks)


@functools.lru_cache(maxsize=8)
def _session_days(until: date) -> list[date]:
    """KRX sessions from 2015 to the day before ``until`` (shared by every code)."""
    days, day = [], _DAILY_ORIGIN
    while day < until:
        if is_session_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def warm_up(now_ms: int) -> None:
    """Build the calendar and the session list before the first request needs them (blocking)."""
    from datetime import timezone

    today = datetime.fromtimestamp(now_ms / 1000, timezone(timedelta(hours=9))).date()
    _session_days(today)
    _session_days(today + timedelta(days=1))


def is_session_day(day: date) -> bool:
    """A KRX session day (the XKRX calendar with the project's overrides)."""
    return day.weekday() < 5 and is_session(day)


class _Path:
    """One session minute of one code: its 600 steps (a tenth of a second each) and running figures."""

    __slots__ = ("minute", "prices", "vols", "cum_vol", "cum_amt", "run_high", "run_low")

    def __init__(self, minute: int, prices: np.ndarray, vols: np.ndarray) -> None:
        self.minute = minute
        self.prices, self.vols = prices, vols
        self.cum_vol = np.cumsum(vols)
        self.cum_amt = np.cumsum(vols * prices)
        self.run_high = np.maximum.accumulate(prices)
        self.run_low = np.minimum.accumulate(prices)

    def bar(self, k: int = STEPS_PER_MINUTE - 1) -> list[int]:
        """[open, high, low, close, volume] of steps 0..k."""
        return [int(self.prices[0]), int(self.run_high[k]), int(self.run_low[k]), int(self.prices[k]),
                int(self.cum_vol[k])]


SESSION_STEPS = (SESSION_CLOSE_MIN - SESSION_OPEN_MIN) * STEPS_PER_MINUTE


class _Day:
    """One code's whole session walk: a function of (seed, code, day), the base price, the limits and
    the test hooks' anchors (step -> price).

    Every tenth of a second is a step; a step trades 0-6 shares; about one step in 400
    moves the price one tick (always with a trade), inside the day's limits. The price
    is kept as its changes (sparse), the volumes per step, the minute bars whole.
    """

    def __init__(self, key: str, base: int, lower: int, upper: int, anchors: dict[int, int]) -> None:
        self.key, self.base = key, base
        rng = np.random.default_rng(zlib.crc32(f"{key}:moves".encode()))
        gaps = rng.geometric(MOVE_PROB, int(SESSION_STEPS * MOVE_PROB * 1.5) + 64)
        moves = np.cumsum(gaps) - 1
        moves = moves[moves < SESSION_STEPS]
        ups = rng.random(len(moves)) < 0.5
        self._rng = rng
        steps, prices = self._changes(moves.tolist(), ups.tolist(), base, lower, upper, anchors)
        self.steps, self.prices = np.array(steps, dtype=np.int64), np.array(prices, dtype=np.int64)
        self.moves = moves
        self._vols: np.ndarray | None = None  # drawn when first needed (a price alone needs none)

    def price_at(self, step: int) -> int:
        i = int(np.searchsorted(self.steps, step, side="right")) - 1
        return int(self.prices[i]) if i >= 0 else self.base

    @property
    def vols(self) -> np.ndarray:
        if self._vols is None:
            vols = self._rng.integers(0, 7, SESSION_STEPS, dtype=np.int8)  # shares a step (234 KB a code-day)
            vols[self.moves] = np.maximum(vols[self.moves], 1)  # a move is a trade
            self._vols = vols
            self.bars, self.amounts = self._minutes(vols)
            self.cum_vol = np.cumsum(self.bars[:, 4])
            self.cum_amt = np.cumsum(self.amounts)
        return self._vols

    def full(self) -> _Day:
        """With the volumes and the minute bars drawn."""
        _ = self.vols
        return self

    def _price_at(self, steps: np.ndarray) -> np.ndarray:
        index = np.searchsorted(self.steps, steps, side="right") - 1
        return np.where(index >= 0, self.prices[np.maximum(index, 0)], self.base)

    def _minutes(self, vols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Minute bars and traded amounts from the sparse price changes (no per-step price array)."""
        n = SESSION_STEPS // STEPS_PER_MINUTE
        starts = np.arange(n) * STEPS_PER_MINUTE
        opens = self._price_at(starts)
        closes = self._price_at(starts + STEPS_PER_MINUTE - 1)
        highs, lows = np.maximum(opens, closes), np.minimum(opens, closes)
        inside = self.steps // STEPS_PER_MINUTE
        np.maximum.at(highs, inside, self.prices)
        np.minimum.at(lows, inside, self.prices)
        volume = vols.reshape(n, STEPS_PER_MINUTE).sum(1, dtype=np.int64)
        # amounts: the price is constant between changes and minute starts
        cuts = np.union1d(starts, self.steps)
        cum = np.concatenate(([0], np.cumsum(vols, dtype=np.int64)))
        seg_vol = cum[np.append(cuts[1:], SESSION_STEPS)] - cum[cuts]
        seg_amt = seg_vol * self._price_at(cuts)
        amounts = np.add.reduceat(seg_amt, np.searchsorted(cuts, starts))
        return np.stack((opens, highs, lows, closes, volume), axis=1), amounts

    @staticmethod
    def _changes(moves: list[int], ups: list[bool], base: int, lower: int, upper: int,
                 anchors: dict[int, int]) -> tuple[list[int], list[int]]:
        steps: list[int] = []
        prices: list[int] = []
        pending = sorted(anchors.items())
        price, j = base, 0
        for step, up in zip(moves, ups, strict=True):
            while j < len(pending) and pending[j][0] < step:
                price = pending[j][1]
                steps.append(pending[j][0])
                prices.append(price)
                j += 1
            price = min(_tick_up(price), upper) if up else max(_tick_down(price), lower)
            steps.append(step)
            prices.append(price)
        for step, anchored in pending[j:]:
            price = anchored
            steps.append(step)
            prices.append(price)
        return steps, prices

    def minute(self, minute: int) -> _Path:
        """The 600 steps of the session's minute (minute of the day)."""
        first = (minute - SESSION_OPEN_MIN) * STEPS_PER_MINUTE
        vols = self.vols[first:first + STEPS_PER_MINUTE].astype(np.int64)
        return _Path(minute, self._price_at(np.arange(first, first + STEPS_PER_MINUTE)), vols)


class _CodeState:
    """One code's day: completed minute bars, the minute under way, the day's figures so far."""

    __slots__ = (
        "code", "rng", "day", "key", "prev_close", "price", "buys", "sells", "last_side", "walked_to", "lower",
        "upper", "anchors", "standing", "path", "_walk", "_pos", "_fig", "_bars",
    )

    def __init__(self, seed: int, code: str) -> None:
        self.code = code
        self.rng = random.Random(zlib.crc32(f"{seed}:{code}".encode()))  # book sizes, standing prints
        self.day = self.key = ""  # YYYYMMDD KST of the walk; the seed text of its minutes
        self.prev_close = self.price = 0
        self.walked_to = SESSION_OPEN_MIN  # minutes before this one are completed
        self.anchors: dict[int, int] = {}  # step of the session -> price, set by set_price
        self.standing: int | None = None  # a price set outside the session (set_price)
        self.path: _Path | None = None  # the latest minute's steps
        self.start_day("", "", 0)

    def start_day(self, day: str, key: str, base: int) -> None:
        self.day, self.key, self.prev_close, self.price = day, key, base, base
        self.lower, self.upper = price_limits(base) if base > 0 else (1, 1)
        self.buys = self.sells = 0
        self.last_side = 1
        self.anchors = {}
        self._pos: tuple[int | None, int] = (None, 0)
        self._fig: tuple[Any, ...] | None = None
        self._bars: tuple[int, dict[int, list[int]]] | None = None
        self.standing = None
        self.path = None
        self._walk: _Day | None = None
        self.walked_to = SESSION_OPEN_MIN

    @property
    def ask(self) -> int:
        return self.price if self.last_side == 1 else _tick_up(self.price)

    @property
    def bid(self) -> int:
        return _tick_down(self.price) if self.last_side == 1 else self.price

    def limits(self) -> tuple[int, int]:
        return self.lower, self.upper

    def walk(self) -> _Day:
        if self._walk is None:
            self._walk = _Day(self.key, self.prev_close, self.lower, self.upper, self.anchors)
        return self._walk

    def changed(self) -> None:
        """The anchors or the limits changed: the walk is drawn again (the same draws, new prices)."""
        self._walk = self.path = None
        self._fig = self._bars = None

    def path_of(self, minute: int) -> _Path:
        path = self.path
        if path is None or path.minute != minute:
            path = self.path = self.walk().full().minute(minute)
        return path

    def complete_until(self, minute: int) -> None:
        """The minutes before ``minute`` are completed."""
        self.walked_to = max(self.walked_to, minute)

    @property
    def bars(self) -> dict[int, list[int]]:
        """Completed minute of the day -> [open, high, low, close, volume]."""
        if self._bars is None or self._bars[0] != self.walked_to:
            n = self.walked_to - SESSION_OPEN_MIN
            rows = self.walk().full().bars[:n].tolist() if n else []
            self._bars = (self.walked_to, dict(enumerate(rows, start=SESSION_OPEN_MIN)))
        return self._bars[1]

    def at(self, minute: int | None, k: int) -> None:
        """Stand at step ``k`` of ``minute`` (None: after the completed minutes); the day's other figures
        (open, high, low, volume, amount) are worked out when read."""
        self._pos, self._fig = (minute, k), None
        n = self.walked_to - SESSION_OPEN_MIN
        if minute is not None:
            self.price = self.walk().price_at((minute - SESSION_OPEN_MIN) * STEPS_PER_MINUTE + k)
            self.last_side = 1 if k % 2 else 5
        elif n:
            self.price = self.walk().price_at(n * STEPS_PER_MINUTE - 1)
        if self.standing is not None and minute is None:
            self.price = self.standing

    def _figures(self) -> tuple[Any, ...]:
        """(open, high, low, cum_vol, cum_amount, open_hour, high_hour, low_hour) at the current step."""
        if self._fig is not None:
            return self._fig
        minute, k = self._pos
        n = self.walked_to - SESSION_OPEN_MIN
        opened = vol = amount = high = low = 0
        open_hour = high_hour = low_hour = "090000"
        if n:
            walk = self.walk().full()
            vol, amount = int(walk.cum_vol[n - 1]), int(walk.cum_amt[n - 1])
            hi, lo = int(np.argmax(walk.bars[:n, 1])), int(np.argmin(walk.bars[:n, 2]))
            high, low = int(walk.bars[hi, 1]), int(walk.bars[lo, 2])
            high_hour, low_hour = _hour(SESSION_OPEN_MIN + hi), _hour(SESSION_OPEN_MIN + lo)
            opened = int(walk.bars[0, 0])
        if minute is not None:
            path = self.path_of(minute)
            hour = _hour(minute, k // STEPS_PER_SECOND)
            if not n:
                opened, open_hour = int(path.prices[0]), _hour(minute)
            vol, amount = vol + int(path.cum_vol[k]), amount + int(path.cum_amt[k])
            if int(path.run_high[k]) > high:
                high, high_hour = int(path.run_high[k]), hour
            if not low or int(path.run_low[k]) < low:
                low, low_hour = int(path.run_low[k]), hour
        self._fig = (opened, high, low, vol, amount, open_hour, high_hour, low_hour)
        return self._fig

    open = property(lambda self: self._figures()[0])
    high = property(lambda self: self._figures()[1])
    low = property(lambda self: self._figures()[2])
    cum_vol = property(lambda self: self._figures()[3])
    cum_amount = property(lambda self: self._figures()[4])
    open_hour = property(lambda self: self._figures()[5])
    high_hour = property(lambda self: self._figures()[6])
    low_hour = property(lambda self: self._figures()[7])


def _hour(minute: int, second: int = 0) -> str:
    return f"{minute // 60:02d}{minute % 60:02d}{second:02d}"


def _sign(diff: int) -> str:
    return "2" if diff > 0 else ("5" if diff < 0 else "3")


def _minute_of(now: datetime) -> int:
    return now.hour * 60 + now.minute


def _step_of(now: datetime) -> int:
    """The walk's step of ``now`` inside its minute (0 .. STEPS_PER_MINUTE - 1)."""
    return now.second * STEPS_PER_SECOND + now.microsecond * STEPS_PER_SECOND // 1_000_000


class SimMarket:
    def __init__(self, seed: int = 7, now: Any = None, closed: frozenset[date] = frozenset()) -> None:
        self.seed = seed
        self.closed = closed  # sessions of the library calendar this market declares closed (holidays)
        self._now = now  # () -> aware datetime in KST; the simulator passes its clock's
        self._states: dict[str, _CodeState] = {}
        self._limits: dict[str, tuple[int, int]] = {}  # code -> (lower, upper) the exchange declared
        self._daily: dict[str, list[tuple[date, int, int, int, int, int]]] = {}

    def _today(self) -> datetime:
        if self._now is None:
            from datetime import timezone

            return datetime.now(timezone(timedelta(hours=9)))
        return self._now()

    def state(self, code: str, now: datetime | None = None) -> _CodeState:
        """The code's walk, brought up to ``now`` (default: the simulator's clock)."""
        now = now or self._today()
        st = self._states.get(code)
        if st is None:
            st = self._states[code] = _CodeState(self.seed, code)
        day = now.strftime("%Y%m%d")
        if st.day != day:
            st.start_day(day, f"{self.seed}:{code}:{day}", self.base_price(code, now.date()))
            if code in self._limits:
                st.lower, st.upper = self._limits[code]
        self._walk_until(st, now)
        return st

    def is_kosdaq(self, code: str) -> bool:
        """The code's market, fixed per code (:func:`engine.market.listing.simulated_market`)."""
        return simulated_market(code) == "KOSDAQ"

    # -- the walk ---------------------------------------------------------------

    def in_session(self, now: datetime) -> bool:
        minute = _minute_of(now)
        return SESSION_OPEN_MIN <= minute < SESSION_CLOSE_MIN and self.is_open_day(now.date())

    def is_open_day(self, day: date) -> bool:
        return is_session_day(day) and day not in self.closed

    def _walk_until(self, st: _CodeState, now: datetime) -> None:
        """Complete the session's minutes before ``now`` and stand at ``now``'s step of the walk.

        Each minute is a function of (seed, code, day, minute) and the previous minute's
        close, so whoever watched or not, and however often the process restarted, the
        walk is the same series at the same market time.
        """
        if not self.is_open_day(now.date()):
            st.at(None, 0)
            return
        minute = _minute_of(now)
        st.complete_until(min(minute, SESSION_CLOSE_MIN))
        if SESSION_OPEN_MIN <= minute < SESSION_CLOSE_MIN:
            st.at(minute, _step_of(now))
        else:
            st.at(None, 0)

    def set_limits(self, code: str, lower: int, upper: int, now: datetime | None = None) -> None:
        """Declare ``code``'s daily limits (a test hook: the exchange widened or narrowed them, e.g. a
        newly listed or a resumed stock), instead of base ∓ 30 %; the walk, inquire-price and the order
        checks all follow them."""
        now = now or self._today()
        self._limits[code] = (lower, upper)
        st = self.state(code, now)
        st.lower, st.upper = lower, upper
        st.changed()  # the walk stays inside the new band
        self._walk_until(st, now)

    def set_price(self, code: str, price: int, now: datetime | None = None) -> None:
        """Move the walk to ``price`` (a test hook): inside the session from ``now``'s step on, which the
        rest of the day walks on from; outside it the price stands there."""
        now = now or self._today()
        st = self.state(code, now)
        if self.in_session(now):
            st.anchors[(_minute_of(now) - SESSION_OPEN_MIN) * STEPS_PER_MINUTE + _step_of(now)] = price
            st.changed()
            self._walk_until(st, now)
        else:
            st.standing = st.price = price

    # -- live records -----------------------------------------------------------

    def trade_records(self, code: str, now: datetime, width: int, since: tuple[str, int, int] | None,
                      count: int = 1) -> tuple[list[str], tuple[str, int, int] | None]:
        """H0STCNT0 records of the steps with trades after ``since`` (a cursor this returns) up to ``now``.

        Inside the session these are the walk's own trades, the same for every client, each
        once; outside it ``count`` prints of the standing price, which move nothing. At most
        50 records a call (a client that fell behind skips the older trades).
        """
        st = self.state(code, now)
        if not self.in_session(now):
            return [self._record(st, now.strftime("%H%M%S"), st.price, st.rng.choice((1, 2, 5, 10)), now, width,
                                 False) for _ in range(count)], since
        minute, k = _minute_of(now), _step_of(now)
        day = st.day
        start_minute, start_k = (minute, -1)
        if since is not None and since[0] == day and since[1:] <= (minute, k):
            start_minute, start_k = since[1], since[2]
            if start_minute < minute - 1:  # more than a minute behind: from this minute's start
                start_minute, start_k = minute, -1
        records: list[str] = []
        for m in range(start_minute, minute + 1):
            path = st.path_of(m)
            last = k if m == minute else STEPS_PER_MINUTE - 1
            first = start_k + 1 if m == start_minute else 0
            for i in np.flatnonzero(path.vols[first:last + 1]) + first:
                records.append(self._step_record(st, path, int(i), now, width))
        st.at(minute, k)
        return records[-50:], (day, minute, k)

    def _step_record(self, st: _CodeState, path: _Path, i: int, now: datetime, width: int) -> str:
        minute = path.minute
        hour = f"{minute // 60:02d}{minute % 60:02d}{i // STEPS_PER_SECOND:02d}"
        saved = st.price
        st.at(minute, i)  # the day's figures as of that trade
        vol = int(path.vols[i])
        if st.last_side == 1:
            st.buys += 1
        else:
            st.sells += 1
        record = self._record(st, hour, int(path.prices[i]), vol, now, width, True)
        st.price = saved
        return record

    def trade_record(self, code: str, now: datetime, width: int = 46) -> str:
        """One H0STCNT0 record of ``now``'s price (the latest trade's figures; for tests and clients
        that sample the tape)."""
        st = self.state(code, now)
        return self._record(st, now.strftime("%H%M%S"), st.price, 1, now, width, self.in_session(now))

    def _record(self, st: _CodeState, hour: str, price: int, vol: int, now: datetime, width: int,
                live: bool) -> str:
        rng = st.rng
        diff = price - st.prev_close
        opened = st.open or price
        high, low = st.high or price, st.low or price
        f = [
            st.code, hour, str(price), _sign(diff), str(diff),
            f"{diff * 100 / st.prev_close:.2f}", str(st.cum_amount // st.cum_vol if st.cum_vol else price),
            str(opened), str(high), str(low), str(st.ask), str(st.bid),
            str(vol), str(st.cum_vol), str(st.cum_amount), str(st.sells), str(st.buys),
            str(st.buys - st.sells), f"{100 * (st.buys + 1) / (st.sells + 1):.2f}",
            str(st.cum_vol // 2), str(st.cum_vol - st.cum_vol // 2), str(st.last_side),
            "50.00", "100.00", st.open_hour, _sign(price - opened), str(price - opened),
            st.high_hour, _sign(price - high), str(price - high), st.low_hour,
            _sign(price - low), str(price - low), now.strftime("%Y%m%d"), "20" if live else "30", "N",
            str(rng.randrange(1, 5000)), str(rng.randrange(1, 5000)),
            str(rng.randrange(50_000, 500_000)), str(rng.randrange(50_000, 500_000)),
            "0.05", str(st.cum_vol), "100.00", "0", "", str(st.prev_close),
        ]
        f.extend("0" for _ in range(width - len(f)))
        return "^".join(f)

    def quote_record(self, code: str, now: datetime, width: int = 59) -> str:
        """One H0STASP0 record (``width`` >= 59; 62 adds the KRX mid-price fields)."""
        st = self.state(code, now)
        rng = st.rng
        asks, bids = [st.ask], [st.bid]
        for _ in range(9):
            asks.append(_tick_up(asks[-1]))
            bids.append(_tick_down(bids[-1]))
        ask_qty = [rng.randrange(1, 20_000) for _ in range(10)]
        bid_qty = [rng.randrange(1, 20_000) for _ in range(10)]
        f = [code, now.strftime("%H%M%S"), "0"]
        f += map(str, asks)
        f += map(str, bids)
        f += map(str, ask_qty)
        f += map(str, bid_qty)
        f += [str(sum(ask_qty)), str(sum(bid_qty)), "0", "0", "0", "0", "0", "0", "3", "0.00"]
        f += [str(st.cum_vol), "0", "0", "0", "0", "0"]
        extra = [str((asks[0] + bids[0]) // 2), str(rng.randrange(0, 5000)), "0"]
        f += extra[: max(0, width - len(f))]
        f.extend("0" for _ in range(width - len(f)))
        return "^".join(f)

    # -- chart history -------------------------------------------------------------

    def minute_bars(self, code: str, day: str, now: datetime | None = None) -> dict[int, tuple[int, ...]]:
        """Today's session minutes so far: minute of the day -> (open, high, low, close, volume).

        Only today's (KIS serves past days' minutes through another TR); the minute under
        way is included as it stands (its steps up to now).
        """
        now = now or self._today()
        st = self.state(code, now)
        if day != st.day:
            return {}
        bars = {m: tuple(b) for m, b in st.bars.items()}
        if self.in_session(now):
            minute = _minute_of(now)
            bars[minute] = tuple(st.path_of(minute).bar(_step_of(now)))
        return dict(sorted(bars.items()))

    def base_price(self, code: str, day: date) -> int:
        """The close of the last session before ``day``: that day's base price."""
        history = self.daily_bars(code, day)
        return history[-1][4] if history else _snap(random.Random(zlib.crc32(
            f"{self.seed}:{code}:base".encode())).randrange(5_000, 300_000))

    def daily_bars(self, code: str, until: date) -> list[tuple[date, int, int, int, int, int]]:
        """(day, open, high, low, close, volume) of every session from 2015 before ``until``, oldest first."""
        bars = self._daily.get(code)
        if bars is None or bars[-1][0] < until - timedelta(days=1):
            days = _session_days(max(until, self._today().date()))
            rng = np.random.default_rng(zlib.crc32(f"{self.seed}:{code}:daily".encode()))
            start = float(rng.integers(5_000, 300_000))
            moves = rng.normal(0.0, 0.02, len(days))
            wicks = np.abs(rng.normal(0.0, 0.01, (len(days), 2)))
            volumes = rng.integers(10_000, 5_000_000, len(days))
            closes = _snap_all(np.maximum(100.0, start * np.cumprod(1.0 + moves)))
            opens = np.concatenate(([_snap(int(start))], closes[:-1]))
            highs = np.maximum(_snap_all(np.maximum(opens, closes) * (1.0 + wicks[:, 0])), np.maximum(opens, closes))
            lows = np.minimum(_snap_all(np.minimum(opens, closes) * (1.0 - wicks[:, 1])), np.minimum(opens, closes))
            bars = list(zip(days, opens.tolist(), highs.tolist(), lows.tolist(), closes.tolist(), volumes.tolist(),
                            strict=True))
            self._daily[code] = bars
        return bars[: bisect.bisect_left(bars, (until,))]

    def today_bar(self, code: str, now: datetime | None = None) -> tuple[date, int, int, int, int, int] | None:
        """Today's daily bar so far (None before the first minute of a session)."""
        now = now or self._today()
        st = self.state(code, now)
        if not st.open:
            return None
        today = datetime.strptime(st.day, "%Y%m%d").date()
        return today, st.open, st.high, st.low, st.price, st.cum_vol

    # -- current price (FHKST01010100) ------------------------------------------------

    def price_summary(self, code: str, now: datetime | None = None) -> dict[str, str]:
        """The ``output`` of inquire-price (82 fields, as KIS's column list names them)."""
        st = self.state(code, now)
        return price_output(st, self.is_kosdaq(code), self.daily_bars(code, datetime.strptime(
            st.day, "%Y%m%d").date()))

    # -- persistence (a restart continues the walk) -------------------------------------

    def save(self, path: str | Path) -> None:
        """What the walk cannot recompute: the test hooks' moves of today (the series itself is a
        function of the seed, the code and the market time)."""
        data = {code: {"day": st.day, "anchors": {str(step): p for step, p in st.anchors.items()},
                       "standing": st.standing, "buys": st.buys, "sells": st.sells}
                for code, st in self._states.items()}
        Path(path).write_text(json.dumps(data), encoding="utf-8")

    def load(self, path: str | Path) -> int:
        """The moves saved by :meth:`save` for today; returns how many codes had some."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0
        today = self._today().strftime("%Y%m%d")
        loaded = 0
        for code, saved in data.items():
            if not isinstance(saved, dict) or saved.get("day") != today:
                continue
            st = self._states[code] = _CodeState(self.seed, code)
            st.start_day(today, f"{self.seed}:{code}:{today}", self.base_price(code, self._today().date()))
            if code in self._limits:
                st.lower, st.upper = self._limits[code]
            st.anchors = {int(step): int(p) for step, p in (saved.get("anchors") or {}).items()}
            st.standing = saved.get("standing")
            st.buys, st.sells = int(saved.get("buys", 0)), int(saved.get("sells", 0))
            loaded += 1
        return loaded


def price_output(st: _CodeState, kosdaq: bool, history: list[tuple[date, int, int, int, int, int]]) -> dict[str, str]:
    price, base = st.price, st.prev_close
    diff = price - base
    lower, upper = st.limits()
    year = history[-250:] or [(date.today(), base, base, base, base, 0)]
    w52_high = max(max(b[2] for b in year), st.high or price)
    w52_low = min(min(b[3] for b in year), st.low or price)
    listed = 1_000_000_000 if not kosdaq else 100_000_000
    eps = max(1, base // 12)
    bps = max(1, base // 2)
    vol, amount = st.cum_vol, st.cum_amount
    fields = {
        "iscd_stat_cls_code": "55", "marg_rate": "20.00", "rprs_mrkt_kor_name": "KOSDAQ" if kosdaq else "KOSPI200",
        "new_hgpr_lwpr_cls_code": "", "bstp_kor_isnm": "전기·전자", "temp_stop_yn": "N",
        "oprc_rang_cont_yn": "N", "clpr_rang_cont_yn": "N", "crdt_able_yn": "Y", "grmn_rate_cls_code": "40",
        "elw_pblc_yn": "N", "stck_prpr": str(price), "prdy_vrss": str(diff), "prdy_vrss_sign": _sign(diff),
        "prdy_ctrt": f"{diff * 100 / base:.2f}", "acml_tr_pbmn": str(amount), "acml_vol": str(vol),
        "prdy_vrss_vol_rate": "100.00", "stck_oprc": str(st.open or price), "stck_hgpr": str(st.high or price),
        "stck_lwpr": str(st.low or price), "stck_mxpr": str(upper), "stck_llam": str(lower),
        "stck_sdpr": str(base), "wghn_avrg_stck_prc": str(amount // vol if vol else price),
        "hts_frgn_ehrt": "50.00", "frgn_ntby_qty": "0", "pgtr_ntby_qty": "0", "pvt_scnd_dmrs_prc": str(upper),
        "pvt_frst_dmrs_prc": str(price), "pvt_pont_val": str(base), "pvt_frst_dmsp_prc": str(price),
        "pvt_scnd_dmsp_prc": str(lower), "dmrs_val": str(upper), "dmsp_val": str(lower),
        "cpfn": str(listed * 5 // 100_000_000), "rstc_wdth_prc": str(upper - base), "stck_fcam": "100",
        "stck_sspr": str(base * 7 // 10), "aspr_unit": str(tick_size(price)), "hts_deal_qty_unit_val": "1",
        "lstn_stcn": str(listed), "hts_avls": str(price * listed // 100_000_000), "per": f"{price / eps:.2f}",
        "pbr": f"{price / bps:.2f}", "stac_month": "12", "vol_tnrt": f"{vol * 100 / listed:.2f}",
        "eps": f"{eps:.2f}", "bps": f"{bps:.2f}", "d250_hgpr": str(w52_high), "d250_hgpr_date": year[-1][0].strftime("%Y%m%d"),
        "d250_hgpr_vrss_prpr_rate": f"{(price - w52_high) * 100 / w52_high:.2f}", "d250_lwpr": str(w52_low),
        "d250_lwpr_date": year[0][0].strftime("%Y%m%d"),
        "d250_lwpr_vrss_prpr_rate": f"{(price - w52_low) * 100 / w52_low:.2f}",
        "stck_dryy_hgpr": str(w52_high), "dryy_hgpr_vrss_prpr_rate": f"{(price - w52_high) * 100 / w52_high:.2f}",
        "dryy_hgpr_date": year[-1][0].strftime("%Y%m%d"), "stck_dryy_lwpr": str(w52_low),
        "dryy_lwpr_vrss_prpr_rate": f"{(price - w52_low) * 100 / w52_low:.2f}",
        "dryy_lwpr_date": year[0][0].strftime("%Y%m%d"), "w52_hgpr": str(w52_high),
        "w52_hgpr_vrss_prpr_ctrt": f"{(price - w52_high) * 100 / w52_high:.2f}",
        "w52_hgpr_date": year[-1][0].strftime("%Y%m%d"), "w52_lwpr": str(w52_low),
        "w52_lwpr_vrss_prpr_ctrt": f"{(price - w52_low) * 100 / w52_low:.2f}",
        "w52_lwpr_date": year[0][0].strftime("%Y%m%d"), "whol_loan_rmnd_rate": "0.10",
        "ssts_yn": "Y", "stck_shrn_iscd": st.code, "fcam_cnnm": "100", "cpfn_cnnm": "7,780 억",
        "apprch_rate": "0.00", "frgn_hldn_qty": str(listed // 2), "vi_cls_code": "N", "ovtm_vi_cls_code": "N",
        "last_ssts_cntg_qty": "0", "invt_caful_yn": "N", "mrkt_warn_cls_code": "00", "short_over_yn": "N",
        "sltr_yn": "N", "mang_issu_cls_code": "N",
    }
    return fields
