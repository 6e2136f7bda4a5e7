"""The simulated market (source ``sim``, the embedded default): any valid code, around the clock.

Each subscribed code runs a random walk of its best bid on the KRX tick grid,
inside the daily limits (±30 %) of its base price, with a one-tick spread. The
base price is derived from the code alone (log-uniform, 5,000 .. 300,000 KRW);
the walk is drawn from ``random.Random(f"{seed}:{code}:...")``, so the stream of
a code is the same in every process for the same seed, whatever else is
subscribed. A walk starts at the base price when the code is first subscribed
and is dropped when its last channel is unsubscribed (a later subscription
starts over, identically).

Timing comes from the injected clock: one ticker for trades and one for quotes,
shared by every code (2,500 codes cost two timers, not 5,000 tasks). Each trade
tick steps every subscribed code's walk once and emits one trade per code
subscribed to trades; each quote tick emits one 10-level book per code
subscribed to quotes. The book is built around the same bid/ask the trades
report, so ``Tick.ask``/``Tick.bid`` always match the book's best levels.

Volumes are lognormal (median about 3,000,000 KRW / price shares, at least 1).
``change`` is against the base price, which stands for the previous close;
``cum_volume`` restarts at each KST midnight.

``backfill`` generates history ending just before the walk's start (or now, for
a code not streaming), whose last close is the walk's start price, so history
and live stream join. Sizes are generated independently of one another, each
with numpy from a generator seeded by ``(seed, code, size)``, all bars at once:
a new code's warm-up runs on the loop, so a burst of new codes must stay cheap
(``python -m benchmarks.sim_history``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import time
import zlib
from collections.abc import Callable
from itertools import repeat

import numpy as np

from engine.brokers.base import Channel, MarketDataSink, UpstreamCounters
from engine.market.krx import (
    BAR_MS, DAY_MS, KST_OFFSET_MS, TICK_BANDS, TOP_TICK, bar_start, is_valid_code, parse_bar_size,
    price_limits, round_to_tick, tick_size,
)
from engine.market.listing import simulated_market
from engine.market.messages import Bar, Quote, Tick
from engine.runtime.clock import Cancellable, Clock
from engine.settings import Settings

__all__ = ["SimulatedMarket", "base_price", "MAX_BACKFILL"]

log = logging.getLogger(__name__)

LEVELS = 10
MAX_BACKFILL = 10_000  # bars per call: bounds the CPU spent on the loop
_MIN_BASE, _MAX_BASE = 5_000, 300_000
_CHANNELS = ("trade", "quote")


def base_price(code: str) -> int:
    """The code's deterministic reference price, on the tick grid."""
    digest = hashlib.blake2b(code.encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2**64
    raw = math.exp(math.log(_MIN_BASE) + u * (math.log(_MAX_BASE) - math.log(_MIN_BASE)))
    return round_to_tick(int(raw), "nearest")


def _volume_mu(price: int) -> float:
    return math.log(max(1.0, 3_000_000 / price))


class _Walk:
    __slots__ = ("code", "base", "low", "high", "bid", "ask", "rng", "book_rng",
                 "cum_volume", "day", "start_ms", "trades", "quotes", "mu")

    def __init__(self, code: str, seed: int, now_ms: int) -> None:
        self.code = code
        self.base = base_price(code)
        self.low, self.high = price_limits(self.base)
        self.bid = self.base
        self.ask = self.base + tick_size(self.base)
        self.rng = random.Random(f"{seed}:{code}:walk")
        self.book_rng = random.Random(f"{seed}:{code}:book")
        self.cum_volume = 0
        self.day = (now_ms + KST_OFFSET_MS) // DAY_MS
        self.start_ms = now_ms
        self.trades = False
        self.quotes = False
        self.mu = _volume_mu(self.base)

    def step(self) -> None:
        r = self.rng.random()
        if r < 0.2:
            bid = round_to_tick(self.bid - 1, "down") if self.bid > 1 else self.bid
            if bid >= self.low:
                self.bid = bid
        elif r >= 0.8:
            bid = self.ask
            ask = bid + tick_size(bid)
            if ask <= self.high:
                self.bid = bid
        self.ask = self.bid + tick_size(self.bid)

    def trade(self, now_ms: int, seen_ns: int) -> Tick:
        rng = self.rng
        price = self.ask if rng.random() < 0.5 else self.bid
        volume = max(1, int(rng.lognormvariate(self.mu, 1.0)))
        day = (now_ms + KST_OFFSET_MS) // DAY_MS
        if day != self.day:
            self.day = day
            self.cum_volume = 0
        self.cum_volume += volume
        return Tick(self.code, now_ms, price, volume, self.cum_volume, price - self.base,
                    self.ask, self.bid, seen_ns)

    def book(self, now_ms: int, seen_ns: int) -> Quote:
        lognorm = self.book_rng.lognormvariate
        mu = self.mu + 1.0
        asks: list[int] = []
        bids: list[int] = []
        p = self.ask
        for _ in range(LEVELS):
            asks.append(p if p <= self.high else 0)
            p += tick_size(p)
        p = self.bid
        for _ in range(LEVELS):
            bids.append(p if p >= self.low else 0)
            p = round_to_tick(p - 1, "down") if p > 1 else 0
        ask_qty = tuple(int(lognorm(mu, 0.8)) + 1 if a else 0 for a in asks)
        bid_qty = tuple(int(lognorm(mu, 0.8)) + 1 if b else 0 for b in bids)
        return Quote(self.code, now_ms, tuple(asks), tuple(bids), ask_qty, bid_qty,
                     sum(ask_qty), sum(bid_qty), seen_ns)


class _Ticker:
    """A drift-free periodic callback on the clock (one timer pending at a time)."""

    __slots__ = ("_clock", "_period", "_fn", "_origin", "_k", "_handle")

    def __init__(self, clock: Clock, period: float, fn: Callable[[], None]) -> None:
        self._clock = clock
        self._period = period
        self._fn = fn
        self._origin = 0.0
        self._k = 0  # ticks fired since origin: due times are origin + k * period, no float drift
        self._handle: Cancellable | None = None

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        if self._handle is None:
            self._origin = self._clock.monotonic()
            self._k = 1
            self._handle = self._clock.call_later(self._period, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        now = self._clock.monotonic()
        self._k += 1
        due = self._origin + self._k * self._period
        if due < now:  # fell behind (a stalled loop): skip the missed ticks, do not burst
            self._k = math.ceil((now - self._origin) / self._period)
            due = self._origin + self._k * self._period
        self._handle = self._clock.call_later(due - now, self._fire)
        self._fn()


class SimulatedMarket:
    """A :class:`~engine.brokers.base.MarketDataSource` that invents a market."""

    name = "sim"

    def __init__(self, clock: Clock, *, seed: int = 7, trades_per_s: float = 2.0,
                 quotes_per_s: float = 1.0, phases: int = 1) -> None:
        if not trades_per_s > 0 or not quotes_per_s > 0:
            raise ValueError(f"sim rates must be > 0 (trades {trades_per_s}, quotes {quotes_per_s})")
        if phases < 1:
            raise ValueError(f"sim phases must be >= 1, got {phases}")
        self._clock = clock
        self._seed = seed
        self._sink: MarketDataSink | None = None
        self._walks: dict[str, _Walk] = {}
        # Each code has a phase (a slot of the period, from its code): with phases > 1 the
        # ticks of a period are spread over it, as a real feed's are, instead of one burst.
        self._phases = phases
        self._slots: list[dict[str, _Walk]] = [{} for _ in range(phases)]
        self._trade_k = self._quote_k = 0
        self._trade_ticker = _Ticker(clock, 1.0 / (trades_per_s * phases), self._on_trade_tick)
        self._quote_ticker = _Ticker(clock, 1.0 / (quotes_per_s * phases), self._on_quote_tick)
        self.trades_emitted = 0
        self.quotes_emitted = 0

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> SimulatedMarket:
        return cls(clock, seed=settings.sim_seed, trades_per_s=settings.sim_trades_per_s,
                   quotes_per_s=settings.sim_quotes_per_s, phases=settings.sim_phases)

    def market_time_ms(self) -> int:
        """The simulated market runs on the clock."""
        return self._clock.now_ms()

    def previous_close(self, code: str) -> int:
        return base_price(code)

    def listing(self, code: str) -> str:
        return simulated_market(code)

    def counters(self) -> UpstreamCounters:
        return UpstreamCounters()

    @property
    def subscribed(self) -> dict[str, tuple[bool, bool]]:
        """code -> (trades, quotes) for every code with a subscription."""
        return {c: (w.trades, w.quotes) for c, w in self._walks.items()}

    async def start(self, sink: MarketDataSink) -> None:
        self._sink = sink
        self._sync_tickers()
        sink.on_status("live", "simulated market")
        log.info("simulated market started (seed %d, %d codes)", self._seed, len(self._walks))

    async def stop(self) -> None:
        if self._sink is None:
            return
        self._sink = None
        self._trade_ticker.cancel()
        self._quote_ticker.cancel()
        log.info("simulated market stopped (%d trades, %d quotes)",
                 self.trades_emitted, self.quotes_emitted)

    async def subscribe(self, channel: Channel, code: str) -> None:
        _check(channel, code)
        walk = self._walks.get(code)
        if walk is None:
            walk = self._walks[code] = _Walk(code, self._seed, self._clock.now_ms())
            self._slots[zlib.crc32(code.encode()) % self._phases][code] = walk
        if channel == "trade":
            walk.trades = True
        else:
            walk.quotes = True
        self._sync_tickers()

    async def unsubscribe(self, channel: Channel, code: str) -> None:
        _check(channel, code)
        walk = self._walks.get(code)
        if walk is None:
            return
        if channel == "trade":
            walk.trades = False
        else:
            walk.quotes = False
        if not walk.trades and not walk.quotes:
            del self._walks[code]
            self._slots[zlib.crc32(code.encode()) % self._phases].pop(code, None)
        self._sync_tickers()

    async def backfill(self, code: str, bar_size: str, n: int) -> list[Bar]:
        _check("trade", code)
        size = parse_bar_size(bar_size)
        n = min(n, MAX_BACKFILL)
        if n <= 0:
            return []
        walk = self._walks.get(code)
        anchor = walk.start_ms if walk is not None else self._clock.now_ms()
        return _history(code, size, n, self._seed, bar_start(anchor, size))

    # -- tickers ---------------------------------------------------------------------

    def _sync_tickers(self) -> None:
        if self._sink is None:
            return
        if self._walks:
            self._trade_ticker.start()
        else:
            self._trade_ticker.cancel()
        if any(w.quotes for w in self._walks.values()):
            self._quote_ticker.start()
        else:
            self._quote_ticker.cancel()

    def _on_trade_tick(self) -> None:
        slot = self._slots[self._trade_k % self._phases]
        self._trade_k += 1
        self.trades_emitted += self._emit(slot, trades=True)

    def _on_quote_tick(self) -> None:
        slot = self._slots[self._quote_k % self._phases]
        self._quote_k += 1
        self.quotes_emitted += self._emit(slot, trades=False)

    def _emit(self, slot: dict[str, _Walk], *, trades: bool) -> int:
        """One tick of this slot's codes: step each walk and send its trade, or send its book."""
        sink = self._sink
        if sink is None:
            return 0
        now_ms = self._clock.now_ms()
        seen_ns = time.time_ns()
        emitted = 0
        try:
            for walk in slot.values():
                if trades:
                    walk.step()
                    if walk.trades:
                        sink.on_tick(walk.trade(now_ms, seen_ns))
                        emitted += 1
                elif walk.quotes:
                    sink.on_quote(walk.book(now_ms, seen_ns))
                    emitted += 1
        except Exception:  # a faulty sink must not stop the market: log, go on next tick
            log.exception("sink failed on a simulated %s", "trade" if trades else "quote")
        return emitted


def _check(channel: str, code: str) -> None:
    if channel not in _CHANNELS:
        raise ValueError(f"bad channel {channel!r}: expected trade or quote")
    if not is_valid_code(code):
        raise ValueError(f"bad stock code {code!r}: expected 6 characters like 005930")


def _history(code: str, size: str, n: int, seed: int, end_ms: int) -> list[Bar]:
    """``n`` bars of ``size`` ending at ``end_ms`` (exclusive), last close = base price.

    Drawn with numpy, all bars at once (a new code's warm-up runs on the loop: 1,200 bars in
    well under a millisecond). The closes are a Gaussian random walk of the log price,
    generated backwards from the base price and folded into the daily limits (a walk
    reflected at the limits, the continuous form of a walk clamped at each step), then put
    on the tick grid; the same seed, code and size give the same bars (numpy's PCG64).
    """
    step = BAR_MS[size]
    base = base_price(code)
    low_limit, high_limit = price_limits(base)
    digest = hashlib.blake2b(f"{seed}:{code}:history:{size}".encode(), digest_size=16).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "big"))
    sigma = 0.001 * math.sqrt(step / 60_000)
    mu_vol = _volume_mu(base) + math.log(step / 500)  # ~2 trades a second

    normal = rng.standard_normal(3 * n)
    moves = normal[:n] * sigma  # moves[i]: log(close[i] / close[i + 1]); the last one opens bar 0
    walk = np.empty(n)
    walk[::-1] = np.cumsum(np.concatenate(([0.0], moves[n - 2::-1])))  # 0 at the last bar
    lo, hi = math.log(low_limit), math.log(high_limit)
    width = hi - lo
    folded = hi - np.abs(np.mod(math.log(base) + walk - lo, 2 * width) - width)
    closes = _clamp(_rounded(*_grid(np.exp(folded)), "nearest"), low_limit, high_limit)
    closes[-1] = base
    opens = np.empty_like(closes)
    opens[1:] = closes[:-1]
    first_open = round_to_tick(max(1, int(int(closes[0]) * math.exp(moves[-1]))), "nearest")
    opens[0] = min(high_limit, max(low_limit, first_open))
    top = np.maximum(opens, closes)
    bottom = np.minimum(opens, closes)
    wick = np.abs(normal[n:]) * (sigma / 2)
    wick[:n] += 1.0
    np.subtract(1.0, wick[n:], out=wick[n:])
    q, tick, down = _grid(np.concatenate((top, bottom)) * wick)  # the highs' candidates, then the lows'
    highs = np.maximum(top, _clamp(down[:n], low_limit, high_limit))  # rounded down
    lows = np.minimum(bottom, _clamp(_rounded(q[n:], tick[n:], down[n:], "up"), low_limit, high_limit))
    volumes = rng.lognormal(mu_vol, 0.5, n).astype(np.int64)
    start = end_ms - n * step
    return list(map(Bar, repeat(code, n), repeat(size, n), range(start, start + n * step, step),
                    opens.tolist(), highs.tolist(), lows.tolist(), closes.tolist(), volumes.tolist()))


_BAND_UPPERS = np.array([upper for upper, _ in TICK_BANDS], dtype=np.int64)
_BAND_TICKS = np.array([tick for _, tick in TICK_BANDS] + [TOP_TICK], dtype=np.int64)


def _grid(prices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(q, tick, down)`` of float prices as :func:`round_to_tick` sees them: ``q = max(1, int(p))``,
    its tick and ``q`` rounded down to it."""
    q = np.maximum(1, prices.astype(np.int64))
    tick = _BAND_TICKS[np.searchsorted(_BAND_UPPERS, q, side="right")]
    return q, tick, q - q % tick


def _rounded(q: np.ndarray, tick: np.ndarray, down: np.ndarray, direction: str) -> np.ndarray:
    """The prices of :func:`_grid` rounded ``down``, ``up`` or to the ``nearest`` tick (halves up)."""
    if direction == "down":
        return down
    if direction == "up":
        return np.where(down == q, q, down + tick)
    return np.where(2 * (q - down) >= tick, down + tick, down)


def _clamp(prices: np.ndarray, low: int, high: int) -> np.ndarray:
    return np.minimum(np.maximum(prices, low), high)
