"""Helpers shared by the storage tests (test modules import from here, never from one another)."""

from __future__ import annotations

import asyncio

from engine.market.messages import Quote


async def paper_account(sessions, settings, email: str, cash: int,  # type: ignore[no-untyped-def]
                        account_number: str = "12345678-01") -> int:
    """A user ``email`` with a paper account starting with ``cash`` KRW; the account's id."""
    from storage import AccountRepo, Crypto, UserRepo

    async with sessions.begin() as session:
        user = await UserRepo(session).create(email, "x")
        account = await AccountRepo(session, Crypto.from_settings(settings)).create(
            user.id, broker="paper", account_number=account_number, app_key="k" * 20, app_secret="s" * 20,
            paper_initial_cash=cash)
    return account.id


class Board:
    """A QuoteSource fed by hand."""

    def __init__(self, clock):
        self.clock, self.latest_q, self.waiters, self.listeners = clock, {}, [], []
        self.markets = {}  # code -> KOSDAQ where it is not KOSPI

    def watch(self, code): ...
    def unwatch(self, code): ...

    def latest(self, code):
        return self.latest_q.get(code)

    async def quote_after(self, code, after_ms, timeout_s):
        future = asyncio.get_running_loop().create_future()
        self.waiters.append((after_ms, future))
        timer = self.clock.call_later(timeout_s,
            lambda: future.done() or future.set_exception(TimeoutError()))
        try:
            return await future
        finally:
            timer.cancel()

    def listen(self, fn):
        self.listeners.append(fn)
        return lambda: None

    def market(self, code):
        return self.markets.get(code, "KOSPI")

    def base_price(self, code):
        return 50_000

    def publish(self, asks, bids, ask_qty=None, bid_qty=None):
        ask_qty = ask_qty or (1_000,) * len(asks)
        bid_qty = bid_qty or (1_000,) * len(bids)
        q = Quote("005930", self.clock.now_ms(), asks, bids, ask_qty, bid_qty, sum(ask_qty), sum(bid_qty))
        self.latest_q[q.code] = q
        for after, fut in self.waiters:
            if q.ts_ms >= after and not fut.done():
                fut.set_result(q)
        for fn in self.listeners:
            fn(q)
