"""Time for the engine: the wall clock in production, a manual clock in tests.

Everything that waits on time (feeds' grace periods, supervisors' back-off,
the simulated market, swing checks) asks the clock, never ``asyncio.sleep``
or ``time.time`` directly, so tests can drive time by hand:

    clock = ManualClock(start_ms=...)
    await clock.advance(60)        # fires every timer due in the next minute, in order

``advance`` moves time step by step to each due timer, runs it, and lets the
event loop settle before the next, so a coroutine woken by a timer runs at its
own simulated instant.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now_ms(self) -> int:
        """UTC epoch milliseconds."""

    def monotonic(self) -> float:
        """Seconds, for measuring intervals."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable:
        """Run ``callback`` after ``delay`` seconds of this clock's time."""

    async def sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds of this clock's time."""


class WallClock:
    """The real clock, on the running event loop."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(max(0.0, delay))


class _Timer:
    __slots__ = ("due", "callback", "cancelled")

    def __init__(self, due: float, callback: Callable[[], object]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when told. Timers fire inside :meth:`advance`."""

    def __init__(self, start_ms: int = 1_750_000_000_000) -> None:
        self._now = start_ms / 1000.0
        self._start = self._now
        self._timers: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def now_ms(self) -> int:
        return round(self._now * 1000)

    def monotonic(self) -> float:
        return self._now - self._start

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable:
        timer = _Timer(self._now + max(0.0, delay), callback)
        heapq.heappush(self._timers, (timer.due, next(self._seq), timer))
        return timer

    async def sleep(self, delay: float) -> None:
        await sleep_on(self, delay)

    @property
    def pending(self) -> int:
        """Timers not yet fired nor cancelled."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)

    async def settle(self, rounds: int = 20) -> None:
        """Let ready callbacks and woken tasks run (no time passes)."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing due timers in order."""
        target = self._now + seconds
        await self.settle()
        while self._timers and self._timers[0][0] <= target:
            due, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, due)
            timer.callback()
            await self.settle()
        self._now = max(self._now, target)
        await self.settle()

    async def advance_to_ms(self, ts_ms: int) -> None:
        await self.advance(max(0.0, ts_ms / 1000.0 - self._now))


async def sleep_on(clock: "Clock", delay: float) -> None:
    """Sleep ``delay`` seconds of ``clock``'s time: a future woken by one of its timers."""
    future = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not future.done():
            future.set_result(None)

    timer = clock.call_later(delay, wake)
    try:
        await future
    finally:
        timer.cancel()
