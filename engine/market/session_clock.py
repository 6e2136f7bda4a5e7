"""A wall-speed clock inside a KRX session, for whatever must see the market open at any hour.

Tests of KIS clients and the KIS order benchmark read today's market (minute charts, order
acceptance, the simulator's walk) whatever the wall clock says: a night, a weekend, a holiday.
"""

from __future__ import annotations

from engine.market.krx import next_open
from engine.runtime.clock import WallClock


class SessionClock(WallClock):
    """The wall clock moved into a KRX session.

    It reads 10:30 KST of a session day when made (today's, until 5 h after its open; else the
    next session's) and then runs at wall speed: the simulator's walk prints trades, tokens age,
    and today's minute chart has bars. It is at most 3.5 h behind the wall clock, so a token it
    dates (valid 24 h) is never expired for a client that checks it on the wall clock."""

    def __init__(self) -> None:
        wall = super().now_ms()
        opens = next_open(wall - 5 * 3_600_000)  # still today's session until 5 h past its open
        assert opens is not None, "the KRX calendar has no session ahead"
        self._offset_ms = opens + 90 * 60_000 - wall

    def now_ms(self) -> int:
        return super().now_ms() + self._offset_ms
