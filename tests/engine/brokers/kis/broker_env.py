"""A KisBroker wired to a KIS simulator on 127.0.0.1 (real sockets), for the order tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec

from engine.brokers.base import OrderRequest
from engine.brokers.kis.broker import KisBroker
from engine.brokers.kis.simulator import SimulatorConfig
from engine.runtime.clock import WallClock
from engine.settings import Settings
from tests.engine.brokers.kis.helpers import Running, running_simulator

ACCOUNT = "5012345601"
HTS_ID = "htsuser1"
APP_KEY, APP_SECRET = "acct-app-key", "acct-app-secret"


class Creds(msgspec.Struct, frozen=True, kw_only=True):
    """Shaped like storage.AccountCredentials (the broker reads these five fields)."""

    account_number: str = ACCOUNT
    app_key: str = APP_KEY
    app_secret: str = APP_SECRET
    hts_id: str | None = HTS_ID
    paper_trading: bool = False


def settings_for(s: Running, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "kis_rest_url": s.url,
        "kis_paper_rest_url": s.url,
        "kis_ws_url": s.ws_url,
        "kis_paper_ws_url": s.ws_url,
        "kis_rest_rate_per_s": 1000.0,
        "kis_timeout_s": 2.0,
        "kis_reconnect_base_s": 0.05,
        "kis_reconnect_max_s": 0.2,
    }
    return Settings(**{**base, **overrides})


@asynccontextmanager
async def broker_env(
    config: SimulatorConfig | None = None, creds: Creds | None = None, **settings: object
) -> AsyncIterator[tuple[Running, KisBroker]]:
    creds = creds or Creds(paper_trading=bool(config and config.paper))
    async with running_simulator(config or SimulatorConfig(rest_rate_per_s=1000)) as s:
        broker = KisBroker(settings_for(s, **settings), WallClock(), creds)
        try:
            yield s, broker
        finally:
            s.sim.orders.release()
            await broker.close()


def order(
    code: str = "005930", side: str = "buy", quantity: int = 10, price: int | None = None
) -> OrderRequest:
    return OrderRequest(client_order_id="c1", code=code, side=side, quantity=quantity, price=price)  # type: ignore[arg-type]


async def next_item(queue: asyncio.Queue, timeout: float = 5.0):  # type: ignore[type-arg]
    async with asyncio.timeout(timeout):
        return await queue.get()
