"""Bar history for whoever warms up on it (feeds, strategies, swings): the bars stored in
the database, completed by the market-data source's backfill. One loader, built once by
the app and handed to the feeds hub and the swings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from engine.brokers.base import MarketDataSource
from engine.market.messages import Bar

log = logging.getLogger(__name__)

BarLoader = Callable[[str, str, int], Awaitable[list[Bar]]]


def bar_history(source: MarketDataSource, stored: BarLoader | None = None) -> BarLoader:
    """``load(code, size, n)``: up to ``n`` closed bars, oldest first; a stored bar wins over
    the backfill's for the same start. A failing part is logged and skipped, never raised:
    history is a warm-up, the live stream goes on without it."""

    async def load(code: str, size: str, n: int) -> list[Bar]:
        bars: dict[int, Bar] = {}
        parts = ([("stored bars", stored)] if stored is not None else []) + [("backfill", source.backfill)]
        for what, part in parts:
            try:
                for bar in await part(code, size, n):
                    bars.setdefault(bar.start_ms, bar)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("history of %s %s: %s failed: %r", code, size, what, exc)
        return [bars[k] for k in sorted(bars)][-n:]

    return load
