"""Helpers for the order tests: register accounts, place orders while driving the manual clock."""

from __future__ import annotations

import asyncio

from web.trading import QUOTE_BOARD

PAPER = {"account_number": "50123456-01", "api_key": "PSabcdefghijklmnop1234", "secret_key": "Zx9" * 60}


async def register(client, headers, account=PAPER) -> int:
    resp = await client.post("/accounts/register", json=account, headers=headers)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["account_id"]


async def as_admin(client, headers) -> dict[str, str]:
    """The same caller, made an admin: only admins may loosen risk limits past the settings (0 = none)."""
    from sqlalchemy import update

    from storage.models import User
    from web.auth import verify_token
    from web.keys import SESSIONS, SETTINGS

    user_id = verify_token(headers["Authorization"].split()[1], client.app[SETTINGS].jwt_secret)
    async with client.app[SESSIONS].begin() as session:
        await session.execute(update(User).where(User.id == user_id).values(role="admin"))
    return headers


async def drive(client, clock, coro, step_s: float = 1.0):
    """Await ``coro`` (a client call); whenever somebody waits for a quote, move the clock ``step_s``."""
    board = client.app[QUOTE_BOARD]
    task = asyncio.ensure_future(coro)
    while not task.done():
        waiter = asyncio.ensure_future(board.wait_for_waiter())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if waiter.done() and not task.done():
            await clock.advance(step_s)
        else:
            waiter.cancel()
    return task.result()


async def order(client, clock, headers, body, **kw):
    """POST /stocks/order with the clock driven; returns (status, json)."""
    resp = await drive(client, clock, client.post("/stocks/order", json=body, headers=headers, **kw))
    return resp.status, await resp.json()
