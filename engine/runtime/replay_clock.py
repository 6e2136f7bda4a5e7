"""Market time for a replay: the server's clock is the replayed market's.

:class:`ReplayClock` is a :class:`~engine.runtime.clock.Clock` whose ``now_ms``
is the replayed time. Everything that asks the clock (bar closes, swing checks,
the KRX calendar, order acceptance, auctions, fills, timeouts) follows it.
Timers live in the clock's own heap; a driver task moves time from one timer
to the next:

- ``speed`` (market seconds per real second): the driver waits in real time
  for the market time between timers, except when KRX is closed (outside
  08:30 .. close + 1 min of a session day), which is jumped over;
- ``speed=None`` (``max``): no real waiting at all. Before each step the
  driver waits until the engine is *quiet* (the ``quiet`` coroutine the app
  installs: every mailbox empty and every actor idle, or waiting on
  something only a later market time brings), so a faster replay makes the
  very same decisions as a slower one.

``pause()`` / ``resume()`` stop and restart the driver; ``finish_at(ms)`` (set
by the replay source: the end of the file) makes the clock ``finished`` once
the next timer lies beyond it. While paused or finished no time passes.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from engine.market import krx
from engine.runtime.clock import sleep_on

log = logging.getLogger(__name__)

ReplayState = Literal["paused", "running", "finished"]
AFTER_CLOSE_MS = 60_000  # a session's real-time window ends this long after its close


class _Timer:
    __slots__ = ("due", "callback", "cancelled")

    def __init__(self, due: int, callback: Callable[[], object]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ReplayClock:
    def __init__(self, start_ms: int, *, speed: float | None, paused: bool = True) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"replay speed must be positive or max, got {speed}")
        self._now = start_ms
        self.speed = speed
        self.state: ReplayState = "paused" if paused else "running"
        self.end_ms: int | None = None
        self.quiet: Callable[[], Awaitable[None]] | None = None
        self._timers: list[tuple[int, int, _Timer]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.steps = 0
        self.finished = asyncio.Event()
        self.paused = asyncio.Event()  # set when a pause_at instant is reached
        self._pause_at: int | None = None

    # -- the Clock protocol ----------------------------------------------------------

    def now_ms(self) -> int:
        return self._now

    def monotonic(self) -> float:
        return self._now / 1000.0

    def call_later(self, delay: float, callback: Callable[[], object]) -> _Timer:
        timer = _Timer(self._now + max(0, round(delay * 1000)), callback)
        heapq.heappush(self._timers, (timer.due, next(self._seq), timer))
        self._wake.set()
        return timer

    async def sleep(self, delay: float) -> None:
        await sleep_on(self, delay)

    # -- control ------------------------------------------------------------------------

    def jump_to(self, ts_ms: int) -> None:
        """Move market time forward to ``ts_ms`` (before the replay starts: its first session)."""
        self._now = max(self._now, ts_ms)

    def finish_at(self, end_ms: int) -> None:
        self.end_ms = end_ms

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drive(), name="replay-clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def pause(self) -> None:
        if self.state == "running":
            self.state = "paused"
            self._wake.set()

    def pause_at(self, ts_ms: int) -> None:
        """Pause once market time reaches ``ts_ms`` (every timer due before it has fired)."""
        self._pause_at = ts_ms
        self.paused.clear()

    def resume(self) -> None:
        if self.state == "paused":
            self.state = "running"
            self._wake.set()

    # -- the driver -----------------------------------------------------------------------

    def _next_due(self) -> int | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    async def _drive(self) -> None:
        while True:
            if self.state != "running":
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.quiet is not None:
                await self.quiet()
            else:
                for _ in range(5):
                    await asyncio.sleep(0)
            due = self._next_due()
            if self._pause_at is not None and (due is None or due > self._pause_at):
                self._now = max(self._now, self._pause_at)
                self._pause_at = None
                self.state = "paused"
                self.paused.set()
                continue
            if self.end_ms is not None and (due is None or due > self.end_ms):
                self._now = max(self._now, self.end_ms)
                self.state = "finished"
                self.finished.set()
                log.info("replay finished at market time %s after %d steps", krx.to_kst(self._now), self.steps)
                continue
            if due is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.speed is not None and due > self._now:
                wait_s = self._real_wait(due) / self.speed / 1000.0
                if wait_s > 0:
                    self._wake.clear()
                    started = time.monotonic()
                    try:
                        await asyncio.wait_for(self._wake.wait(), wait_s)
                        # woken early (a new timer, a pause): move time by what passed, then re-plan
                        passed = round((time.monotonic() - started) * self.speed * 1000)
                        self._now = min(due, self._now + passed)
                        continue
                    except TimeoutError:
                        pass
            _, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, timer.due)
            self.steps += 1
            try:
                timer.callback()
            except Exception:
                log.exception("replay clock: a timer callback failed")

    def _real_wait(self, due: int) -> int:
        """Market ms between now and ``due`` that play in real time (closed hours are jumped)."""
        bounds = krx.session_of(self._now)
        if bounds is None:
            return 0
        start, end = bounds[0] - krx.PRE_OPEN_MS, bounds[1] + AFTER_CLOSE_MS
        lo, hi = max(self._now, start), min(due, end)
        return max(0, hi - lo)
