"""When a swing is checked: just after each close of its bar size.

Inside the KRX session the closes come from the XKRX calendar
(:func:`engine.market.krx.next_closes`); with market hours ignored (the
simulated market) every boundary of the bar size counts, around the clock.
A check runs ``CHECK_DELAY_MS`` after the close, so the feed's flush (just
after each minute boundary) has closed the bar.

The swings' hub ticks itself on the system clock at :func:`next_tick_ms`
(second 2 of every minute: the wall clock in production, the manual clock in
tests); each tick tells the swings whose bar closed in the minute before.
"""

from __future__ import annotations

import logging
from engine.market import krx

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


def next_tick_ms(now_ms: int) -> int:
    """The first tick after ``now_ms``: ``CHECK_DELAY_MS`` past a minute boundary."""
    due = now_ms - now_ms % MINUTE_MS + CHECK_DELAY_MS
    return due if due > now_ms else due + MINUTE_MS
