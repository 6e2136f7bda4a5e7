"""The server's REST side as the load generator uses it: users, tokens, metrics.

Registration and login go through the public API like any client; the admin
views (``/metrics`` for event-loop lag and drop counters, ``/admin/actors`` for
the feeds' own trade counters) need a user promoted with
``autotrader users promote``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import aiohttp
import msgspec

PASSWORD = "load-test-pw-1"
TIMEOUT = aiohttp.ClientTimeout(total=30)


class Metrics(msgspec.Struct, frozen=True):
    """The figures of one scrape the report takes deltas of."""

    trades: int  # trades the feeds have taken in (sum of MarketFeed ``trades``)
    feeds: int
    conflated: int  # every mailbox's conflated count
    rejected: int  # every mailbox's refusals
    feed_drops: int  # records the router could not hand to a feed
    lag_p99_s: float
    lag_max_s: float
    ws_clients: int
    at: float  # time.monotonic() when the feeds' counters arrived


def _sample_value(text: str, name: str, labels: str = "") -> float:
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):].split()[0])
    return 0.0


def _summed(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Api:
    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base = base_url
        self.http = session
        self.admin_token = ""

    async def register(self, email: str) -> None:
        async with self.http.post(f"{self.base}/users/register", json={"email": email, "password": PASSWORD},
                                  timeout=TIMEOUT) as r:
            if r.status not in (201, 409):  # 409: the user is there already (a running server)
                raise RuntimeError(f"register {email}: HTTP {r.status} {await r.text()}")

    async def login(self, email: str, password: str = PASSWORD) -> str:
        async with self.http.post(f"{self.base}/users/login", json={"email": email, "password": password},
                                  timeout=TIMEOUT) as r:
            if r.status != 200:
                raise RuntimeError(f"login {email}: HTTP {r.status} {await r.text()}")
            return str((await r.json())["access_token"])

    async def tokens(self, emails: Iterable[str], concurrency: int = 8) -> list[str]:
        """Register (if needed) and log in each email; tokens in the same order."""
        gate = asyncio.Semaphore(concurrency)

        async def one(email: str) -> str:
            async with gate:
                await self.register(email)
                return await self.login(email)

        return list(await asyncio.gather(*(one(e) for e in emails)))

    async def metrics(self) -> Metrics:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        async with self.http.get(f"{self.base}/admin/actors", headers=headers, timeout=TIMEOUT) as r:
            if r.status != 200:
                raise RuntimeError(f"/admin/actors: HTTP {r.status}")
            rows = (await r.json())["actors"]
        at = time.monotonic()
        async with self.http.get(f"{self.base}/metrics", headers=headers, timeout=TIMEOUT) as r:
            if r.status != 200:
                raise RuntimeError(f"/metrics: HTTP {r.status} (is the load user an admin?)")
            text = await r.text()
        trades = sum((row.get("details") or {}).get("trades", 0) for row in rows if row["kind"] == "MarketFeed")
        return Metrics(
            trades=int(trades),
            feeds=int(_sample_value(text, "autotrader_feeds")),
            conflated=int(_summed(text, "autotrader_mailbox_conflated_total")),
            rejected=int(_summed(text, "autotrader_mailbox_rejected_total")),
            feed_drops=int(_sample_value(text, "autotrader_feed_drops_total")),
            lag_p99_s=_sample_value(text, "autotrader_event_loop_lag_seconds", 'stat="p99"'),
            lag_max_s=_sample_value(text, "autotrader_event_loop_lag_seconds", 'stat="max"'),
            ws_clients=int(_sample_value(text, "autotrader_websocket_clients")),
            at=at,
        )
