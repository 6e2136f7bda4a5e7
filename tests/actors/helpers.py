"""Helpers for the actor tests (test modules import from here, never from one another or conftest):
a parent that ignores what its children report, and a market-data source whose market time is the
manual clock's."""

from __future__ import annotations

from typing import Any

from engine.runtime import ManualClock, Supervisor


class Sink(Supervisor):
    """A parent for the actor under test: supervises it and drops every other message."""

    async def receive(self, msg: Any) -> None:
        return None


class ClockSource:
    """The part of a market-data source a feed asks for: its market time (the manual clock's)."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    def market_time_ms(self) -> int:
        return self.clock.now_ms()
