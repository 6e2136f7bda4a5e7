"""The replay source (``replay``): a CSV of bars played back as trades.

**On market time** (the app's clock is a :class:`~engine.runtime.replay_clock.ReplayClock`,
which is what ``AUTOTRADER_MARKET_DATA=replay`` runs on): any bar file of
``shared/data`` (1-minute or daily, :func:`engine.market.csv_bars.load_csv`) is
played as trades inside each bar's period at the file's own times, so the
server's clock *is* the replayed market's: a 1-minute bar gives four trades at
+5, +20, +35, +50 s (after the swing check 2 s past the previous close, so that
a market order sent then is the next bar's opening print); a daily bar gives four trades in its KRX session, the open
at the open, the low and high in between and the close as the closing print at
the close itself (15:30:00). Bars from ``AUTOTRADER_REPLAY_START`` to
``_END`` are played; bars before the start are the warm-up history
(:meth:`ReplayMarket.backfill`). A zero-volume bar (a halted day) plays no
trade. A file whose prices are not whole won (the EURUSD sample) is refused.

**Legacy pacing** (any other clock, e.g. tests on the manual clock):
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
import re
import time
from pathlib import Path

import msgspec

from engine.brokers.base import Channel, MarketDataSink, UpstreamCounters
from engine.market.bars import merge_bars
from engine.market.krx import (
    BAR_MS, DAY_MS, KST_OFFSET_MS, is_on_tick, is_valid_code, parse_bar_size,
    round_to_tick, tick_size,
)
from engine.market.listing import DEFAULT_MARKET
from engine.market.messages import Bar, Quote, Tick
from engine.market import krx
from engine.runtime.clock import Cancellable, Clock
from engine.runtime.replay_clock import ReplayClock
from engine.settings import Settings

__all__ = ["ReplayMarket", "load_minute_bars", "bar_trades"]

log = logging.getLogger(__name__)

COLUMNS = ("Datetime", "Open", "High", "Low", "Close", "Volume")
TRADE_OFFSETS_MS = (0, 15_000, 30_000, 45_000)
# On market time a minute bar's prints come 5 s into it: a swing checks 2 s after the previous
# bar's close, and its market order then makes this bar's opening print, as the backtest fills
# a decision at the next bar's open.
MARKET_TIME_OFFSETS_MS = (5_000, 20_000, 35_000, 50_000)
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


def load_file_bars(path: str | Path, code: str) -> tuple[str, list[Bar]]:
    """Any bar file of ``shared/data`` as Bars of its size, oldest first (blocking: an executor).

    Raises ValueError for a file whose prices are not whole won (a non-KRW series)."""
    from engine.market.csv_bars import infer_bar_size, load_csv, to_bars

    df = load_csv(path)
    if df.empty:
        raise ValueError(f"{path}: no bars")
    prices = df[["open", "high", "low", "close"]].to_numpy()
    if (prices != prices.round()).any() or (prices <= 0).any():
        raise ValueError(f"{path}: prices are not whole won (e.g. {prices.ravel()[0]!r}); the replay plays "
                         "KRX bars in KRW only")
    size = infer_bar_size(df)
    if size not in ("1Min", "1D"):
        raise ValueError(f"{path}: {size} bars; the replay plays 1-minute or daily files")
    return size, to_bars(df, code, size)


def _session_trades(bar: Bar) -> list[tuple[int, int, int]]:
    """The four trades of a daily bar inside its session: open, low/high, close at the close."""
    session = krx.session_of(bar.start_ms)
    if session is None:
        return []
    open_ms, close_ms = session
    third = (close_ms - open_ms) // 3
    middle = (bar.low, bar.high) if bar.close >= bar.open else (bar.high, bar.low)
    share, rest = divmod(bar.volume, 4)
    return [(open_ms, bar.open, share), (open_ms + third, middle[0], share),
            (open_ms + 2 * third, middle[1], share), (close_ms, bar.close, share + rest)]


def _int(s: str) -> int:
    try:
        return int(s)
    except ValueError:
        value = float(s)
        if not value.is_integer():
            raise ValueError(f"{s!r} is not a whole number") from None
        return int(value)


def bar_trades(bar: Bar, offsets: tuple[int, ...] = TRADE_OFFSETS_MS) -> list[tuple[int, int, int]]:
    """The four ``(ts_ms, price, volume)`` trades that replay ``bar``."""
    middle = (bar.low, bar.high) if bar.close >= bar.open else (bar.high, bar.low)
    share, rest = divmod(bar.volume, 4)
    prices = (bar.open, *middle, bar.close)
    volumes = (share, share, share, share + rest)
    return [(bar.start_ms + off, p, v) for off, p, v in zip(offsets, prices, volumes)]


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
                 speed: float = 60.0, start: str = "", end: str = "") -> None:
        if not str(csv_path):
            raise ValueError("the replay source needs a CSV of bars (AUTOTRADER_REPLAY_CSV)")
        if not is_valid_code(code):
            raise ValueError(f"bad replay code {code!r}: expected 6 characters like 005930")
        if not (speed > 0 and math.isfinite(speed)):
            raise ValueError(f"replay speed must be a positive number, got {speed}")
        self.start_day = dt.date.fromisoformat(start) if start else None
        self.end_day = dt.date.fromisoformat(end) if end else None
        if self.start_day and self.end_day and self.end_day < self.start_day:
            raise ValueError(f"replay end {end} is before its start {start}")
        self.market_time = isinstance(clock, ReplayClock)
        self._file_bars: list[Bar] = []  # market time: every bar of the file (warm-up included)
        self._file_size = "1Min"
        self.first_ms = 0
        self.last_ms = 0
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
        speed = settings.replay_speed_value or 60.0
        named = re.search(r"(?<![0-9A-Z])([0-9][0-9A-Z]{5})(?![0-9A-Z])", Path(settings.replay_csv).name)
        code = settings.replay_code or (named.group(1) if named else "005930")  # default: the file's code
        return cls(clock, settings.replay_csv, code=code, speed=speed,
                   start=settings.replay_start, end=settings.replay_end)

    def progress(self) -> float:
        """Share of the replayed period behind the clock (0 before the first trade, 1 at the end)."""
        if not self.last_ms or self.last_ms <= self.first_ms:
            return 0.0
        now = self._clock.now_ms()
        return min(1.0, max(0.0, (now - self.first_ms) / (self.last_ms - self.first_ms)))

    @property
    def position(self) -> int:
        """Trades played so far."""
        return self._pos

    @property
    def finished(self) -> bool:
        return self._tape is not None and self._pos >= len(self._tape.ticks)

    def market_time_ms(self) -> int | None:
        """The replay's market time now (file time), or None before the first trade."""
        if self.market_time:
            return self._clock.now_ms()
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

    def listing(self, code: str) -> str:
        return DEFAULT_MARKET  # a file of bars does not say (engine.market.listing)

    def counters(self) -> UpstreamCounters:
        return UpstreamCounters()

    async def start(self, sink: MarketDataSink) -> None:
        await self._load()
        self._sink = sink
        if self.market_time:
            sink.on_status("live", f"replaying {self._path.name} for {self.code} on market time")
            self._arm()
            return
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
        if not self.market_time:
            self._sync()

    async def unsubscribe(self, channel: Channel, code: str) -> None:
        _check(channel, code)
        if code != self.code:
            return
        if channel == "trade":
            self._trades = False
        else:
            self._quotes = False
        if not self.market_time:
            self._sync()

    async def backfill(self, code: str, bar_size: str, n: int) -> list[Bar]:
        """Complete bars of the file before the replay position, the last ``n``."""
        _check("trade", code)
        size = parse_bar_size(bar_size)
        if code != self.code or n <= 0:
            return []
        tape = await self._load()
        if self.market_time:
            return self._history(size, n)
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
        if self._tape is None and self.market_time:
            loop = asyncio.get_running_loop()
            size, bars = await loop.run_in_executor(None, load_file_bars, self._path, self.code)
            if self._tape is None:
                self._setup_market_time(size, bars)
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

    # -- market time -------------------------------------------------------------------

    def _setup_market_time(self, size: str, bars: list[Bar]) -> None:
        start_ms = krx.kst_midnight_ms(self.start_day) if self.start_day else -math.inf
        end_ms = krx.kst_midnight_ms(self.end_day) + DAY_MS if self.end_day else math.inf
        played = [b for b in bars if start_ms <= b.start_ms < end_ms]
        if not played:
            raise ValueError(f"{self._path}: no bar between {self.start_day or 'the start'} and "
                             f"{self.end_day or 'the end'} (the file covers {krx.kst_date(bars[0].start_ms)} .. "
                             f"{krx.kst_date(bars[-1].start_ms)})")
        self._file_bars, self._file_size = bars, size
        warmup = len(bars) - len(played) - sum(1 for b in bars if b.start_ms >= end_ms)
        trades: list[tuple[int, int, int]] = []
        for bar in played:
            if size != "1D":
                trades.extend(bar_trades(bar, MARKET_TIME_OFFSETS_MS))
            elif bar.volume > 0:  # a halted day (volume 0, O=H=L=C) has no trade
                trades.extend(_session_trades(bar))
        tape = _Tape(self.code, [])
        prev_close = played[0].open if warmup == 0 else bars[len(bars) - len(played) - 1].close
        day, cum, last_price = -1, 0, 0
        for ts, price, volume in trades:
            bar_day = (ts + KST_OFFSET_MS) // DAY_MS
            if bar_day != day:
                if day != -1:
                    prev_close = last_price
                day, cum = bar_day, 0
            cum += volume
            ask, bid = _touch(price, rising=price >= last_price)
            tape.ticks.append(Tick(self.code, ts, price, volume, cum, price - prev_close, ask, bid))
            last_price = price
        self._tape = tape
        self.first_ms = tape.ticks[0].ts_ms if tape.ticks else played[0].start_ms
        last = tape.ticks[-1].ts_ms if tape.ticks else played[-1].start_ms
        session = krx.session_of(last)
        self.last_ms = (session[1] if session is not None else last) + 5 * 60_000  # the last checks run
        clock = self._clock
        assert isinstance(clock, ReplayClock)
        first_session = krx.session_of(self.first_ms)
        clock.jump_to((first_session[0] if first_session else self.first_ms) - krx.PRE_OPEN_MS - 60_000)
        clock.finish_at(self.last_ms)
        log.info("replay %s on market time: %d %s bars (%d of warm-up before the start), %d trades, %s .. %s",
                 self._path.name, len(played), size, warmup, len(tape.ticks), krx.to_kst(self.first_ms),
                 krx.to_kst(last))

    def _arm(self) -> None:
        tape = self._tape
        if tape is None or self._pos >= len(tape.ticks):
            return
        delay = (tape.ticks[self._pos].ts_ms - self._clock.now_ms()) / 1000
        self._timer = self._clock.call_later(max(0.0, delay), self._play)

    def _play(self) -> None:
        self._timer = None
        tape, sink = self._tape, self._sink
        if tape is None or sink is None:
            return
        now, end = self._clock.now_ms(), len(tape.ticks)
        seen_ns = time.time_ns()
        while self._pos < end and tape.ticks[self._pos].ts_ms <= now:
            tick = tape.ticks[self._pos]
            self._pos += 1
            if self._trades:
                sink.on_tick(msgspec.structs.replace(tick, seen_ns=seen_ns))
            if self._quotes or self._trades:  # the feed always knows the book, so the first order
                sink.on_quote(self._book(tick, seen_ns))  # of a session is valued without waiting
        self._arm()

    def _history(self, size: str, n: int) -> list[Bar]:
        """Bars of the file complete at the clock's now, at ``size`` (folded from smaller bars)."""
        if BAR_MS[size] < BAR_MS[self._file_size]:
            return []
        now = self._clock.now_ms()
        done = [b for b in self._file_bars if krx.bar_end(b.start_ms, self._file_size) <= now]
        if size == self._file_size:
            return done[-n:]
        merged = merge_bars(done, size)
        if merged and krx.bar_end(merged[-1].start_ms, size) > now:
            merged.pop()  # still forming
        return merged[-n:]

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
