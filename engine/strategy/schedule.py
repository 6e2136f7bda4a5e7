"""When a swing is checked: just after each close of its bar size.

Inside the KRX session the closes come from the XKRX calendar
(:func:`engine.market.krx.next_closes`); with market hours ignored (the
simulated market) every boundary of the bar size counts, around the clock.
A check runs ``CHECK_DELAY_MS`` after the close, so the feed's flush (just
after each minute boundary) has closed the bar.

The :class:`MinuteTicker` family drives it: one ticker per server fires every
minute; each firing tells the swings whose bar closed in the minute before.
In production aiocron fires it on the wall clock; tests use the clock-driven
ticker and advance the manual clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from engine.market import krx
from engine.runtime.clock import Cancellable, Clock

log = logging.getLogger(__name__)

CHECK_DELAY_MS = 2_000
MINUTE_MS = 60_000


def closes_between(bar_size: str, after_ms: int, until_ms: int, ignore_hours: bool) -> list[int]:
    """The closes of ``bar_size`` with ``after_ms < t <= until_ms``."""
    if not ignore_hours:
        return krx.next_closes(bar_size, after_ms, until_ms)
    out = []
    t = krx.bar_start(after_ms, bar_size) + krx.bar_ms(bar_size)
    while t <= until_ms:
        if t > after_ms:
            out.append(t)
        t = krx.bar_start(t, bar_size) + krx.bar_ms(bar_size)
    return out


class MinuteTicker(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class ClockMinuteTicker:
    """Fires ``fn(now_ms)`` at second 2 of every minute of ``clock`` (tests, backtests)."""

    def __init__(self, clock: Clock, fn: Callable[[int], None]) -> None:
        self.clock = clock
        self.fn = fn
        self._timer: Cancellable | None = None

    def start(self) -> None:
        now = self.clock.now_ms()
        due = now - now % MINUTE_MS + CHECK_DELAY_MS
        if due <= now:
            due += MINUTE_MS
        self._timer = self.clock.call_later((due - now) / 1000.0, self._fire)

    def _fire(self) -> None:
        try:
            self.fn(self.clock.now_ms())
        finally:
            self.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class CronMinuteTicker:
    """The production ticker: aiocron fires at second 2 of every wall-clock minute."""

    def __init__(self, clock: Clock, fn: Callable[[int], None]) -> None:
        self.clock = clock
        self.fn = fn
        self._cron: Any = None

    def start(self) -> None:
        import aiocron

        def fire() -> None:
            self.fn(self.clock.now_ms())

        # croniter's optional sixth field is the second
        self._cron = aiocron.crontab(f"* * * * * {CHECK_DELAY_MS // 1000}", func=fire, start=True)

    def stop(self) -> None:
        if self._cron is not None:
            self._cron.stop()
