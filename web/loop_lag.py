"""Event-loop lag: how late a timer set for every ``interval`` seconds fires.

A blocked loop (bcrypt or pandas on the loop, a long handler) shows here first.
The monitor keeps the worst lag seen, the recent samples and a cumulative
histogram (so a reader can take the distribution of any interval from two
scrapes); ``/metrics`` publishes them.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import deque
from collections.abc import AsyncIterator

from aiohttp import web


# histogram bucket upper bounds, seconds
EDGES = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
         0.5, 0.75, 1.0, 2.0, 5.0)


class LoopLag:
    def __init__(self, interval: float = 0.1, keep: int = 600) -> None:
        self.interval = interval
        self.samples: deque[float] = deque(maxlen=keep)
        self.worst = 0.0
        self.counts = [0] * (len(EDGES) + 1)  # per bucket (not cumulative); the last is above EDGES[-1]
        self.total_s = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._due = time.monotonic() + self.interval
        self._handle = loop.call_later(self.interval, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def _tick(self) -> None:
        now = time.monotonic()
        lag = max(0.0, now - self._due)
        self.samples.append(lag)
        self.worst = max(self.worst, lag)
        self.counts[bisect.bisect_left(EDGES, lag)] += 1
        self.total_s += lag
        self._due = now + self.interval
        self._handle = asyncio.get_running_loop().call_later(self.interval, self._tick)

    def recent_max(self) -> float:
        return max(self.samples, default=0.0)

    def recent_p99(self) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


LOOP_LAG = web.AppKey("loop_lag", LoopLag)


async def monitor(app: web.Application) -> AsyncIterator[None]:
    lag = app[LOOP_LAG] = LoopLag()
    lag.start()
    try:
        yield
    finally:
        lag.stop()
