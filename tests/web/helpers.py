"""Helpers shared by the web tests: barriers on the actor system and the manual clock,
the swing test's parameters and the fault hook. Test modules import from here, never
from one another."""

from __future__ import annotations

import asyncio

from actors import paths
from actors.swing import GetSwing
from engine.brokers.sim import base_price
from engine.market.krx import price_limits, round_to_tick
from engine.strategy.schedule import CHECK_DELAY_MS
from tests.engine.brokers.kis.broker_env import APP_KEY, APP_SECRET, HTS_ID
from web.keys import SYSTEM
from web.trading import QUOTE_BOARD

DEMO = {"stock_code": "005380", "unit_amount": 1_000_000, "bar_size": "1Min", "short_term": 1,
        "medium_term": 3, "long_term": 5, "rsi_threshold": 1, "adx_threshold": 0, "obv_threshold": 0}


class SimulatedCrash(Exception):
    """Raised by the fault hook: the process 'dies' at that step."""


def crash_at(step):
    """A fault hook (``app[ORDER_FAULT]``) that crashes at the named step."""

    def fault(name: str) -> None:
        if name == step:
            raise SimulatedCrash(f"killed after {name}")

    return fault


async def quiesce(app, clock, step_s: float = 1.0) -> None:
    """Barrier: every actor idle (``system.idle()``). Whenever somebody waits for a quote
    meanwhile, the clock moves ``step_s`` so the market makes the next one; database I/O
    in between runs on real threads and is simply awaited."""
    system, board = app[SYSTEM], app[QUOTE_BOARD]
    while True:
        idle = asyncio.ensure_future(system.idle())
        waiter = asyncio.ensure_future(board.wait_for_waiter())
        done, _ = await asyncio.wait({idle, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if idle in done:
            waiter.cancel()
            idle.result()
            return
        idle.cancel()
        await clock.advance(step_s)


async def until_history(app, swing_id: int) -> None:
    """Barrier without moving the clock: the swing has its history (the load is a piped task:
    ``idle`` waits for it and its message), so where history ends and live bars begin does not
    depend on how fast the machine loads it."""
    ref = app[SYSTEM].lookup(paths.swing(swing_id))
    await app[SYSTEM].idle()
    assert (await ref.ask(GetSwing(), 5)).history_ready, "the swing's history never arrived"


async def settle_swing(app, clock, swing_id: int, max_steps: int = 120):
    """Barrier: the swing has its history and no order in flight (None if it ended).
    Each round quiesces the system; an order still open then needs the market to move."""
    view = None
    for _ in range(max_steps):
        await quiesce(app, clock)
        ref = app[SYSTEM].lookup(paths.swing(swing_id))
        if ref is None:
            return None
        view = await ref.ask(GetSwing(), 5)
        if view.pending_order is None and view.history_ready:
            return view
        await clock.advance(1)
    raise AssertionError(f"swing {swing_id} never settled: {view}")


async def next_check(client, clock, swing_id: int):
    """Move the clock just past the next minute's swing check, then settle what it started.

    Never jump over a check with an order in flight: the order path does real database
    I/O, and the manual clock must not race past the quotes it is waiting for."""
    now = clock.now_ms()
    await clock.advance_to_ms(now - now % 60_000 + 60_000 + CHECK_DELAY_MS + 500)
    return await settle_swing(client.server.app, clock, swing_id)


# -- the /kis_socket tests ---------------------------------------------------------------

TRADES = {"tr_type": "1", "tr_id": "H0STCNT0", "st_code": "005930"}
QUOTES = {"tr_type": "1", "tr_id": "H0STASP0", "st_code": "005930"}


async def connect(client, headers, strategy="basic", params=None):
    """A /kis_socket client, authenticated."""
    ws = await client.ws_connect("/kis_socket")
    token = headers["Authorization"].split()[1]
    hello = {"type": "auth", "token": token, "strategy_type": strategy}
    if params is not None:
        hello["params"] = params
    await ws.send_json(hello)
    ack = await ws.receive_json(timeout=5)
    assert ack == {"type": "ack", "message": "authenticated", "strategy_type": strategy}
    return ws


async def until(ws, kind, n=1):
    """The next ``n`` messages of ``kind`` (others skipped)."""
    got = []
    while len(got) < n:
        msg = await ws.receive_json(timeout=5)
        if msg["type"] == kind:
            got.append(msg)
    return got


async def sessions_gone(app, user_id=None):
    """Barrier after closing sockets: the (user's) sessions have stopped, and what they told
    on their way out (unsubscribe, detach a strategy) is handled."""
    system = app[SYSTEM]
    sessions = [p for p in system.children(paths.SESSIONS)
                if user_id is None or system.cell_info(p).get("details", {}).get("user_id") == user_id]
    await system.wait_stopped(sessions)
    await system.idle()


# -- the KIS simulator tests --------------------------------------------------------------

def common_price(sim) -> tuple[str, int]:
    """A code and a price inside both today's limits: our simulated market's and the KIS simulator's."""
    for n in range(1, 1000):
        code = f"{n:06d}"
        low, high = price_limits(base_price(code))
        their_low, their_high = price_limits(sim.sim.market.state(code).prev_close)
        price = round_to_tick(max(low, their_low), "up")
        if price <= min(high, their_high):
            return code, price
    raise AssertionError("no code whose limits overlap")


# a KIS account as registered against the KIS simulator
KIS = {"account_number": "50123456-01", "api_key": APP_KEY, "secret_key": APP_SECRET, "broker": "kis",
       "hts_id": HTS_ID}
