"""The replay source (``replay``): a CSV of 1-minute bars played back as trades.

The CSV is the ``krx_1m`` layout of ``shared/data`` (``Datetime`` in UTC, the
bar's start; ``Close, High, Low, Open, Volume`` in any column order). Only the
configured code streams; other codes' subscriptions are accepted and get nothing.

Each bar becomes four trades inside its minute, at +0, +15, +30 and +45 s: the
open, then the low and the high (low first on a rising bar, high first on a
falling one), then the close. Their volumes sum to the bar's volume exactly
(``V // 4`` each, the remainder on the close; a zero-volume bar gives four
zero-volume trades), so aggregating the stream with label-left, closed-left
1-minute buckets gives back the file's O/H/L/C/V, and coarser sizes give the
resampled file. Trades keep the file's timestamps: the replay's market time is
the file's, not the clock's (see :meth:`ReplayMarket.market_time_ms`).

Pacing: one market second takes ``1 / speed`` seconds of the clock; a gap
longer than 15 s between consecutive trades (overnight, a missing minute) is
played as 15 s. Playback starts when the code is first subscribed (trades or
quotes), pauses while nobody is subscribed, resumes where it stopped, and ends
at the end of the file. Each trade is followed by a synthesized 10-level book
whose best levels are the trade's ask/bid (a trade on the grid is taken at the
ask when the price did not fall, else at the bid; an off-grid midpoint print
sits between the grid prices around it).
"""

from __future__ import annotations

import asyncio
import bisect
import csv
import datetime as dt
import logging
import math
import random
import time
from pathlib import Path

import msgspec

from engine.brokers.base import Channel, MarketDataSink, UpstreamCounters
from engine.market.bars import merge_bars
from engine.market.krx import (
    BAR_MS, DAY_MS, KST_OFFSET_MS, is_on_tick, is_valid_code, parse_bar_size,
    round_to_tick, tick_size,
)
from engine.market.messages import Bar, Quote, Tick
from engine.runtime.clock import Cancellable, Clock
from engine.settings import Settings

__all__ = ["ReplayMarket", "load_minute_bars", "bar_trades"]

log = logging.getLogger(__name__)

COLUMNS = ("Datetime", "Open", "High", "Low", "Close", "Volume")
TRADE_OFFSETS_MS = (0, 15_000, 30_000, 45_000)
MAX_GAP_MS = 15_000
LEVELS = 10


def load_minute_bars(path: str | Path, code: str) -> list[Bar]:
    """Read a ``krx_1m`` CSV into 1-minute Bars, oldest first (blocking: use an executor)."""
    bars: list[Bar] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: not a 1-minute bar CSV, missing column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                when = dt.datetime.fromisoformat(row["Datetime"])
                if when.tzinfo is None:
                    raise ValueError("Datetime has no UTC offset")
                start = int(when.timestamp() * 1000)
                if start % 60_000:
                    raise ValueError("Datetime is not on a minute boundary")
                o, h, low, c, v = (_int(row[k]) for k in ("Open", "High", "Low", "Close", "Volume"))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{line}: {exc}") from None
            if not (low <= min(o, c) and max(o, c) <= h and v >= 0):
                raise ValueError(f"{path}:{line}: inconsistent bar O={o} H={h} L={low} C={c} V={v}")
            bars.append(Bar(code, "1Min", start, o, h, low, c, v))
    bars.sort(key=lambda b: b.start_ms)
    return bars


def _int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        value = float(s)
        if not value.is_integer():
            raise ValueError(f"{s!r} is not a whole number") from None
        return int(value)


def bar_trades(bar: Bar) -> list[tuple[int, int, int]]:
    """The four ``(ts_ms, price, volume)`` trades that replay ``bar``."""
    middle = (bar.low, bar.high) if bar.close >= bar.open else (bar.high, bar.low)
    share, rest = divmod(bar.volume, 4)
    prices = (bar.open, *middle, bar.close)
    volumes = (share, share, share, share + rest)
    return [(bar.start_ms + off, p, v) for off, p, v in zip(TRADE_OFFSETS_MS, prices, volumes)]


class _Tape:
    """The whole replay, precomputed: trades with their Tick fields and play times."""

    __slots__ = ("bars", "ticks", "play_ms")

    def __init__(self, code: str, bars: list[Bar]) -> None:
        self.bars = bars
        self.ticks: list[Tick] = []
        self.play_ms: list[int] = []
        prev_close = bars[0].open if bars else 0
        day = -1
        cum = 0
        last_price = 0
        last_ts = None
        play = 0
        for bar in bars:
            bar_day = (bar.start_ms + KST_OFFSET_MS) // DAY_MS
            if bar_day != day:
                if day != -1:
                    prev_close = last_price
                day, cum = bar_day, 0
            for ts, price, volume in bar_trades(bar):
                cum += volume
                ask, bid = _touch(price, rising=price >= last_price)
                self.ticks.append(Tick(code, ts, price, volume, cum, price - prev_close, ask, bid))
                if last_ts is not None:
                    play += min(ts - last_ts, MAX_GAP_MS)
                self.play_ms.append(play)
                last_ts, last_price = ts, price


def _touch(price: int, *, rising: bool) -> tuple[int, int]:
    """Best (ask, bid) around a trade print."""
    if not is_on_tick(price):
        return round_to_tick(price, "up"), round_to_tick(price, "down")
    if rising:
        return price, round_to_tick(price - 1, "down") if price > 1 else price
    return price + tick_size(price), price


class ReplayMarket:
    """A :class:`~engine.brokers.base.MarketDataSource` replaying one code's minute bars."""

    name = "replay"

    def __init__(self, clock: Clock, csv_path: str | Path, *, code: str = "005930",
                 speed: float = 60.0) -> None:
        if not str(csv_path):
            raise ValueError("the replay source needs a CSV of 1-minute bars (AUTOTRADER_REPLAY_CSV)")
        if not is_valid_code(code):
            raise ValueError(f"bad replay code {code!r}: expected 6 characters like 005930")
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"replay speed must be a positive number, got {speed}")
        self.code = code
        self.speed = speed
        self._clock = clock
        self._path = Path(csv_path)
        self._tape: _Tape | None = None
        self._sink: MarketDataSink | None = None
        self._trades = False
        self._quotes = False
        self._pos = 0  # next trade to play
        self._anchor_mono = 0.0
        self._anchor_play = 0
        self._timer: Cancellable | None = None
        self._book_rng = random.Random(f"replay:{code}")

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> ReplayMarket:
        return cls(clock, settings.replay_csv, code=settings.replay_code, speed=settings.replay_speed)

    @property
    def position(self) -> int:
        """Trades played so far."""
        return self._pos

    @property
    def finished(self) -> bool:
        return self._tape is not None and self._pos >= len(self._tape.ticks)

    def market_time_ms(self) -> int | None:
        """The replay's market time now (file time), or None before the first trade."""
        tape = self._tape
        if tape is None or self._pos == 0:
            return None
        last = tape.ticks[self._pos - 1].ts_ms
        if self._timer is None or self._pos >= len(tape.ticks):
            return last
        since = (self._clock.monotonic() - self._due(self._pos - 1)) * self.speed * 1000
        return min(tape.ticks[self._pos].ts_ms - 1, last + max(0, round(since)))

    def previous_close(self, code: str) -> None:
        return None  # learnt from the first replayed trade (price - change)

    def counters(self) -> UpstreamCounters:
        return UpstreamCounters()

    async def start(self, sink: MarketDataSink) -> None:
        await self._load()
        self._sink = sink
        sink.on_status("live", f"replaying {self._path.name} for {self.code} at x{self.speed:g}")
        self._sync()

    async def stop(self) -> None:
        self._pause()
        self._sink = None

    async def subscribe(self, channel: Channel, code: str) -> None:
        _check(channel, code)
        if code != self.code:
            return
        if channel == "trade":
            self._trades = True
        else:
            self._quotes = True
        self._sync()

    async def unsubscribe(self, channel: Channel, code: str) -> None:
        _check(channel, code)
        if code != self.code:
            return
        if channel == "trade":
            self._trades = False
        else:
            self._quotes = False
        self._sync()

    async def backfill(self, code: str, bar_size: str, n: int) -> list[Bar]:
        """Complete bars of the file before the replay position, the last ``n``."""
        _check("trade", code)
        size = parse_bar_size(bar_size)
        if code != self.code or n <= 0:
            return []
        tape = await self._load()
        played = tape.bars[: self._pos // len(TRADE_OFFSETS_MS)]
        if size == "1Min":
            return played[-n:]
        merged = merge_bars(played, size)
        cut = tape.ticks[self._pos].ts_ms if self._pos < len(tape.ticks) else math.inf
        if merged and merged[-1].start_ms + BAR_MS[size] > cut:
            merged.pop()  # still forming in the replay
        return merged[-n:]

    # -- playback ----------------------------------------------------------------------

    async def _load(self) -> _Tape:
        if self._tape is None:
            loop = asyncio.get_running_loop()
            bars = await loop.run_in_executor(None, load_minute_bars, self._path, self.code)
            if self._tape is None:
                self._tape = _Tape(self.code, bars)
                log.info("replay loaded %s: %d minute bars, %d trades", self._path, len(bars),
                         len(self._tape.ticks))
        return self._tape

    def _sync(self) -> None:
        if self._sink is not None and (self._trades or self._quotes) and not self.finished:
            if self._timer is None:
                tape = self._tape
                assert tape is not None
                self._anchor_mono = self._clock.monotonic()
                self._anchor_play = tape.play_ms[self._pos]
                self._timer = self._clock.call_later(0, self._fire)
        else:
            self._pause()

    def _pause(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _due(self, i: int) -> float:
        tape = self._tape
        assert tape is not None
        return self._anchor_mono + (tape.play_ms[i] - self._anchor_play) / 1000 / self.speed

    def _fire(self) -> None:
        self._timer = None
        tape, sink = self._tape, self._sink
        if tape is None or sink is None:
            return
        now = self._clock.monotonic()
        end = len(tape.ticks)
        # Everything due by now (catch-up after a stalled loop plays in one go).
        played = self._anchor_play + round((now - self._anchor_mono) * self.speed * 1000)
        stop = max(bisect.bisect_right(tape.play_ms, played, self._pos), self._pos + 1)
        seen_ns = time.time_ns()
        for i in range(self._pos, min(stop, end)):
            tick = tape.ticks[i]
            self._pos = i + 1
            if self._trades:
                sink.on_tick(msgspec.structs.replace(tick, seen_ns=seen_ns))
            if self._quotes:
                sink.on_quote(self._book(tick, seen_ns))
        if self._pos >= end:
            log.info("replay of %s finished: %d trades", self._path.name, end)
            return
        self._timer = self._clock.call_later(max(0.0, self._due(self._pos) - now), self._fire)

    def _book(self, tick: Tick, seen_ns: int) -> Quote:
        lognorm = self._book_rng.lognormvariate
        asks: list[int] = []
        bids: list[int] = []
        p = tick.ask
        for _ in range(LEVELS):
            asks.append(p)
            p += tick_size(p)
        p = tick.bid
        for _ in range(LEVELS):
            bids.append(p)
            p = round_to_tick(p - 1, "down") if p > 1 else 0
        ask_qty = tuple(int(lognorm(7.0, 0.8)) + 1 if a else 0 for a in asks)
        bid_qty = tuple(int(lognorm(7.0, 0.8)) + 1 if b else 0 for b in bids)
        return Quote(tick.code, tick.ts_ms, tuple(asks), tuple(bids), ask_qty, bid_qty,
                     sum(ask_qty), sum(bid_qty), seen_ns)


def _check(channel: str, code: str) -> None:
    if channel not in ("trade", "quote"):
        raise ValueError(f"bad channel {channel!r}: expected trade or quote")
    if not is_valid_code(code):
        raise ValueError(f"bad stock code {code!r}: expected 6 characters like 005930")
