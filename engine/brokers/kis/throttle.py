"""A per-app-key throttle for KIS REST calls (about 20/s real, 2/s paper).

Calls are spaced at least ``1 / rate`` seconds apart on the given clock, in the
order they asked (a lock keeps them in line), so a burst never reaches KIS as a
burst. :meth:`penalize` pushes the next slot back after an ``EGW00201`` answer.
"""

from __future__ import annotations

import asyncio

from engine.runtime.clock import Clock

REAL_RATE_PER_S = 19.0
PAPER_RATE_PER_S = 2.0


class Throttle:
    def __init__(self, rate_per_s: float, clock: Clock) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self.interval = 1.0 / rate_per_s
        self._clock = clock
        self._next = clock.monotonic()
        self._lock = asyncio.Lock()
        self.waits = 0  # calls that had to wait for their slot

    async def acquire(self) -> None:
        """Wait for the next free slot."""
        async with self._lock:
            now = self._clock.monotonic()
            delay = self._next - now
            if delay > 0:
                self.waits += 1
                await self._clock.sleep(delay)
                now = self._clock.monotonic()
            self._next = max(now, self._next) + self.interval

    def penalize(self, seconds: float) -> None:
        """KIS said "too many calls": no call before ``seconds`` from now."""
        self._next = max(self._next, self._clock.monotonic() + seconds)


def default_rate(paper: bool) -> float:
    return PAPER_RATE_PER_S if paper else REAL_RATE_PER_S
