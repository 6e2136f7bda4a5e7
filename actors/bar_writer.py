"""BarWriter (``/bars``): persists closed bars in batches.

Feeds tell it :class:`ClosedBars`; it writes them every ``interval_s`` or
when ``batch`` bars are waiting, with an idempotent upsert. Feeds also hand it the
1Min bar still forming (every few seconds while trades come, and when they stop): a
partial row that the bar's close, or a later snapshot, overwrites. If the database is
down the bars stay buffered (up to ``max_buffer``; beyond that the oldest are
dropped and counted) and the next flush tries again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, assert_never

import msgspec

from engine.market.messages import Bar
from engine.runtime import Actor, MailboxSpec

log = logging.getLogger(__name__)

BarSaver = Callable[[list[Bar]], Awaitable[int]]


class ClosedBars(msgspec.Struct, frozen=True):
    """Bars a feed closed, to persist."""

    bars: list[Bar]


class FlushNow(msgspec.Struct, frozen=True):
    pass


BarWriterMsg = ClosedBars | FlushNow


class BarWriter(Actor):
    mailbox = MailboxSpec(limit=65536)

    def __init__(self, save: BarSaver, *, interval_s: float = 1.0, batch: int = 1000,
                 max_buffer: int = 200_000) -> None:
        self.save = save
        self.interval_s = interval_s
        self.batch = batch
        self.buffer: deque[Bar] = deque()
        self.max_buffer = max_buffer
        self.written = 0
        self.dropped = 0
        self.failures = 0

    async def on_start(self) -> None:
        # a tick that finds the mailbox full is a dead letter: bars are flushing by size then anyway
        self.ctx.tell_every(self.interval_s, FlushNow())

    async def on_stop(self) -> None:
        await self._flush()  # graceful stop persists what is buffered

    async def receive(self, msg: BarWriterMsg) -> int:
        match msg:
            case ClosedBars():
                self.buffer.extend(msg.bars)
                overflow = len(self.buffer) - self.max_buffer
                for _ in range(max(0, overflow)):
                    self.buffer.popleft()
                    self.dropped += 1
                if len(self.buffer) >= self.batch:
                    await self._flush()
            case FlushNow():
                await self._flush()
            case _:
                assert_never(msg)
        return self.written

    async def _flush(self) -> None:
        if not self.buffer:
            return
        bars = list(self.buffer)
        # a feed's partial (forming) bar and its close may wait together: the newest of a key wins
        latest = {(bar.code, bar.size, bar.start_ms): bar for bar in bars}
        try:
            await self.save(list(latest.values()) if len(latest) < len(bars) else bars)
        except Exception as exc:  # the database may be away: keep the bars, try next time
            self.failures += 1
            log.warning("bar writer: %d bars not written yet: %r", len(bars), exc)
            return
        for _ in range(len(bars)):
            self.buffer.popleft()
        self.written += len(bars)


    def state_view(self) -> dict[str, Any]:
        return {"buffered": len(self.buffer), "written": self.written, "dropped": self.dropped,
                "failures": self.failures}
