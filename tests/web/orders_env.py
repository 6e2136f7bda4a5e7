"""Helpers for the order tests: register accounts, place orders while driving the manual clock, a
fake KIS broker and the account's actor."""

from __future__ import annotations

import asyncio

from actors import paths
from actors.account_hub import AccountRef
from engine.brokers.base import BrokerBalance, BrokerOrderStatus, Holding, OrderAck
from web.keys import SYSTEM
from web.trading import QUOTE_BOARD

PAPER = {"account_number": "50123456-01", "api_key": "PSabcdefghijklmnop1234", "secret_key": "Zx9" * 60}
KIS = {"account_number": "70123456-01", "api_key": "PSkisappkey000000001", "secret_key": "Kk7" * 60,
       "broker": "kis", "hts_id": "trader1"}  # a KIS account, its broker a FakeKis (web.trading.KIS_BROKERS)


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


class FakeKis:
    """A KIS account's broker that speaks the protocol: scripted answers for place_order (None: an
    ack ``K<n>``), orders listed as set, a holding and its market as KIS would tell them; records
    every order sent and every day asked for."""

    def __init__(self) -> None:
        self.answers: list[Exception | None] = []
        self.sent: list = []
        self.statuses: list[BrokerOrderStatus] = []
        self.days: list[str] = []
        self.holdings: list[Holding] = []
        self.markets: dict[str, str] = {}  # what KIS's search-info said of a code
        self.listener = None
        self.called = asyncio.Event()

    async def place_order(self, req):  # type: ignore[no-untyped-def]
        self.sent.append(req)
        self.called.set()
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        return OrderAck(broker_order_no=f"K{len(self.sent)}", accepted_ms=0)

    async def orders_today(self) -> list[BrokerOrderStatus]:
        return self.statuses

    async def orders_on(self, day: str) -> list[BrokerOrderStatus]:
        self.days.append(day)
        return self.statuses

    async def balance(self) -> BrokerBalance:
        return BrokerBalance(cash=10_000_000, holdings=list(self.holdings))

    async def subscribe_fills(self, listener, *, on_status=None) -> bool:  # type: ignore[no-untyped-def]
        self.listener = listener
        return True

    async def price_limits(self, code: str) -> None:
        return None  # the computed limits apply

    def market_of(self, code: str) -> str | None:
        return self.markets.get(code)

    async def close(self) -> None:
        pass


async def account_actor(client, account: int):  # type: ignore[no-untyped-def]
    """The running AccountActor of ``account`` (started if it is not)."""
    return await client.app[SYSTEM].ref(paths.ACCOUNTS).ask(AccountRef(account), 5)
