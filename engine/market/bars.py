"""Bar aggregation: trades in, closed OHLCV bars out, every accepted size at once.

Buckets follow the KRX session (:func:`krx.bar_bounds`): intraday bars start at
multiples of their size on the KST grid, the last bar of a session ends at its
close and holds the closing print (stamped at the close itself), and a ``1D``
bar is the session ``[open, close]``, stamped at the open. Trades on a session
day outside the session belong to no bar (counted in ``off_session``). With
``sessions=False`` (the around-the-clock demo market) buckets are the plain KST
grid, label=left, closed=left, daily bars at KST midnight. A bucket with no
trade produces no bar (as ``resample(...).ohlc().dropna()``).

Only the smallest configured size sees trades. When its bar closes, the bar is
folded into the next size, and so on up: every accepted size divides the next
(1, 5, 15, 30, 60, 1,440 minutes), so a trade costs one bar update whatever the
number of sizes, and all sizes agree with one another. :meth:`BarAggregator.current`
merges the partial levels on demand.

A trade older than the forming bar of the smallest size (late or out of order)
is aggregated into no size, only counted in ``late``: aggregating it into the
larger sizes alone would make sizes disagree.

Closed bars are kept per size in a bounded history (``deque(maxlen=history)``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence

from engine.market.krx import BAR_MS, BAR_SIZES, bar_bounds, bar_start, parse_bar_size
from engine.market.messages import Bar, Tick

__all__ = ["BarAggregator", "merge_bars"]

log = logging.getLogger(__name__)

# A partial bar of a larger size: [start, end, open, high, low, close, volume]
_Partial = list
_NONE = 1 << 62  # base start when no base bar is forming: no timestamp is >= it


class BarAggregator:
    """OHLCV bars of one code at several sizes, fed trades in time order."""

    __slots__ = (
        "code", "sizes", "late", "off_session", "sessions", "_steps", "_hist", "_maxlen", "_upper",
        "_s", "_e", "_o", "_h", "_l", "_c", "_v", "_since", "_resumed",
    )

    def __init__(self, code: str, sizes: Sequence[str] = BAR_SIZES, history: int = 600, *,
                 sessions: bool = True) -> None:
        canon = sorted({parse_bar_size(s) for s in sizes}, key=BAR_MS.__getitem__)
        if not canon:
            raise ValueError("at least one bar size is needed")
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        self.code = code
        self.sizes: tuple[str, ...] = tuple(canon)
        self.late = 0  # trades older than the forming bar, not aggregated
        self.off_session = 0  # trades outside the session on a session day, not aggregated
        self.sessions = sessions
        self._steps = tuple(BAR_MS[s] for s in canon)
        self._maxlen = history
        self._hist: list[deque[Bar] | None] = [None] * len(canon)  # created on first bar
        self._upper: list[_Partial | None] = [None] * (len(canon) - 1)  # sizes above the base
        # Forming base bar: start (_NONE: none), end, O H L C V. After a base bar
        # closes, _e stays at its end: older trades are late.
        self._s = _NONE
        self._e = -_NONE
        self._o = self._h = self._l = self._c = self._v = 0
        self._since = _NONE  # the first trade aggregated here: what a restart's stored bars end by
        self._resumed = False

    # -- hot path ----------------------------------------------------------------

    def add(self, tick: Tick) -> list[Bar]:
        """Aggregate one trade; return the bars it closed, smallest size first."""
        ts = tick.ts_ms
        if ts < self._e:
            if ts >= self._s:
                price = tick.price
                if price > self._h:
                    self._h = price
                elif price < self._l:
                    self._l = price
                self._c = price
                self._v += tick.volume
            else:
                self.late += 1
            return []
        closed = self._close_until(ts)
        bounds = bar_bounds(ts, self.sizes[0], self.sessions)
        if bounds is None:
            self.off_session += 1
            return closed
        if self._since == _NONE:
            self._since = ts
        self._s, self._e = bounds
        price = tick.price
        self._o = self._h = self._l = self._c = price
        self._v = tick.volume
        return closed

    def flush(self, now_ms: int) -> list[Bar]:
        """Close every bar whose time has passed (``end <= now_ms``) without a new trade.

        ``now_ms`` is market time (the clock for live sources). From then on a
        trade in a base bucket that ended by ``now_ms`` is late: its bars are gone.
        """
        closed = self._close_until(now_ms) if self._s != _NONE or any(self._upper) else []
        if self._s == _NONE:
            bounds = bar_bounds(now_ms, self.sizes[0], self.sessions)
            floor = bounds[0] if bounds is not None else now_ms
            if floor > self._e:
                self._e = floor
        return closed

    # -- queries ---------------------------------------------------------------------

    def next_end(self) -> int | None:
        """When the earliest forming bar of any size ends (a flush then closes it), or None."""
        ends = [p[1] for p in self._upper if p is not None]
        if self._s != _NONE:
            ends.append(self._e)
        return min(ends) if ends else None

    def current(self, size: str) -> Bar | None:
        """The forming (not yet closed) bar of ``size``, or None."""
        i = self._index(size)
        parts: list[_Partial] = []
        if self._s != _NONE:
            parts.append([self._s, self._e, self._o, self._h, self._l, self._c, self._v])
        # Levels below ``i`` hold the newer parts of the same bucket of size i
        # (a trade past its end would have closed it), higher levels older ones.
        parts.extend(p for p in self._upper[:i] if p is not None)
        if not parts:
            return None
        parts.sort(key=lambda p: p[0])
        start = self._bucket(parts[0][0], i)
        o = parts[0][2]
        c = parts[-1][5]
        return Bar(self.code, self.sizes[i], start, o, max(p[3] for p in parts),
                   min(p[4] for p in parts), c, sum(p[6] for p in parts))

    def history(self, size: str) -> list[Bar]:
        """Closed bars of ``size``, oldest first (at most ``history`` of them)."""
        hist = self._hist[self._index(size)]
        return list(hist) if hist is not None else []

    def last_closed(self, size: str) -> Bar | None:
        hist = self._hist[self._index(size)]
        return hist[-1] if hist else None

    def preload(self, bars: Iterable[Bar]) -> int:
        """Put earlier closed bars (backfill, storage) into the history; returns how many.

        Bars of sizes not aggregated here, or not older than the newest bar already
        held or forming for their size, are skipped.
        """
        taken = 0
        for bar in sorted(bars, key=lambda b: b.start_ms):
            if bar.size not in self.sizes:
                continue
            i = self.sizes.index(bar.size)
            hist = self._history_deque(i)
            if hist and bar.start_ms <= hist[-1].start_ms:
                continue
            forming = self.current(bar.size)
            if forming is not None and bar.start_ms >= forming.start_ms:
                continue
            hist.append(bar)
            taken += 1
        return taken

    def resume_forming(self, bars: Iterable[Bar]) -> int:
        """After a restart: fold stored closed base bars (e.g. 1Min) that belong to the buckets still
        forming above the base (today's 1D, this hour's 1H, ...) into those forming bars, so the
        higher sizes keep what the process saw before it restarted. Only bars that ended by the
        first trade aggregated here count (later ones are in the forming bars already); once.
        Returns the base bars folded in."""
        if self._resumed or not self._upper:
            return 0
        self._resumed = True
        step = self._steps[0]
        base = sorted((b for b in bars if b.size == self.sizes[0] and b.start_ms + step <= self._since),
                      key=lambda b: b.start_ms)
        if not base:
            return 0
        # the buckets forming now (the base's, or the last one closed if none forms)
        now = self._s if self._s != _NONE else (self._e - 1 if self._e > 0 else base[-1].start_ms)
        buckets = [self._bounds(now, i) for i in range(1, len(self.sizes))]
        # each stored bar goes to the lowest level whose forming bucket holds it (as a live run would
        # have it: a closed 5Min bar lives in the 15Min part, a closed 15Min in the 30Min part, ...)
        mine: list[list[Bar]] = [[] for _ in buckets]
        for bar in base:
            for j, (start, end) in enumerate(buckets):
                if start <= bar.start_ms < end:
                    mine[j].append(bar)
                    break
        used = 0
        for j, ((start, end), folded) in enumerate(zip(buckets, mine)):
            hist = self._hist[j + 1]
            if not folded or (hist and hist[-1].start_ms >= start):
                continue
            high, low = max(b.high for b in folded), min(b.low for b in folded)
            volume = sum(b.volume for b in folded)
            part = self._upper[j]
            if part is None:
                self._upper[j] = [start, end, folded[0].open, high, low, folded[-1].close, volume]
            else:
                part[2] = folded[0].open
                part[3] = max(part[3], high)
                part[4] = min(part[4], low)
                part[6] += volume
            used += len(folded)
        return used

    def restore_forming(self, bar: Bar, now_ms: int) -> bool:
        """At a (re)start, before any trade: take back the base bar that was forming when the
        process stopped (saved by the bar writer as a partial row), if ``now_ms`` is still in its
        bucket. Later trades of that minute add to it and its close overwrites the partial row, so
        the restart loses no volume of the minute in any size. Returns whether it was taken."""
        if bar.size != self.sizes[0] or self._s != _NONE or self._since != _NONE:
            return False
        bounds = bar_bounds(bar.start_ms, self.sizes[0], self.sessions)
        if bounds is None:
            bounds = self._bounds(bar.start_ms, 0)
        if not bounds[0] <= now_ms < bounds[1] or bounds[0] != bar.start_ms:
            return False  # its minute is over: a closed bar, folded in by resume_forming
        self._s, self._e = bounds
        self._o, self._h, self._l, self._c, self._v = bar.open, bar.high, bar.low, bar.close, bar.volume
        self._since = bar.start_ms  # stored bars of earlier minutes are not in the forming bars yet
        return True

    # -- internals ---------------------------------------------------------------------

    def _index(self, size: str) -> int:
        try:
            return self.sizes.index(size)
        except ValueError:
            canon = parse_bar_size(size)
            if canon not in self.sizes:
                raise ValueError(f"bar size {canon} is not aggregated here ({', '.join(self.sizes)})") from None
            return self.sizes.index(canon)

    def _bounds(self, ts: int, i: int) -> tuple[int, int]:
        """The bucket of size ``i`` holding ``ts`` (a bar's start: always inside a session)."""
        bounds = bar_bounds(ts, self.sizes[i], self.sessions)
        if bounds is None:
            start = bar_start(ts, self.sizes[i])
            return start, start + self._steps[i]
        return bounds

    def _bucket(self, ts: int, i: int) -> int:
        return self._bounds(ts, i)[0]

    def _history_deque(self, i: int) -> deque[Bar]:
        hist = self._hist[i]
        if hist is None:
            hist = self._hist[i] = deque(maxlen=self._maxlen)
        return hist

    def _emit(self, i: int, start: int, o: int, h: int, low: int, c: int, v: int) -> Bar:
        bar = Bar(self.code, self.sizes[i], start, o, h, low, c, v)
        self._history_deque(i).append(bar)
        return bar

    def _close_until(self, ts: int) -> list[Bar]:
        """Close every level whose bucket ends at or before ``ts``, folding upward."""
        out: list[Bar] = []
        carry: Bar | None = None
        if self._s != _NONE and self._e <= ts:
            carry = self._emit(0, self._s, self._o, self._h, self._l, self._c, self._v)
            out.append(carry)
            self._s = _NONE
        for j, part in enumerate(self._upper):
            i = j + 1
            if carry is not None:
                if part is None:
                    start, end = self._bounds(carry.start_ms, i)
                    part = self._upper[j] = [start, end, carry.open,
                                             carry.high, carry.low, carry.close, carry.volume]
                else:
                    if carry.high > part[3]:
                        part[3] = carry.high
                    if carry.low < part[4]:
                        part[4] = carry.low
                    part[5] = carry.close
                    part[6] += carry.volume
                carry = None
            if part is not None and part[1] <= ts:
                carry = self._emit(i, part[0], part[2], part[3], part[4], part[5], part[6])
                out.append(carry)
                self._upper[j] = None
        return out


def merge_bars(bars: Iterable[Bar], size: str, *, sessions: bool = True) -> list[Bar]:
    """Fold closed bars (oldest first, one smaller size) into bars of ``size``.

    Buckets are the aggregator's (:func:`krx.bar_bounds`): a bar starting at the
    close itself (a 15:30 closing-print minute of a chart) folds into the
    session's last bar. Every bucket that received at least one bar is returned,
    the last one too (callers that need complete buckets only drop it when it is
    still open).
    """
    size = parse_bar_size(size)
    step = BAR_MS[size]
    out: list[Bar] = []
    cur: list[int] | None = None
    code = ""
    for bar in bars:
        if BAR_MS[bar.size] > step:
            raise ValueError(f"cannot fold {bar.size} bars into {size}")
        bounds = bar_bounds(bar.start_ms, size, sessions)
        start = bounds[0] if bounds is not None else bar_start(bar.start_ms, size)
        if cur is not None and cur[0] == start:
            cur[2] = max(cur[2], bar.high)
            cur[3] = min(cur[3], bar.low)
            cur[4] = bar.close
            cur[5] += bar.volume
            continue
        if cur is not None:
            out.append(Bar(code, size, *cur))
        code = bar.code
        cur = [start, bar.open, bar.high, bar.low, bar.close, bar.volume]
    if cur is not None:
        out.append(Bar(code, size, *cur))
    return out
