"""Helpers shared by the actor tests: a swing rig on market time with real storage.

:class:`SwingRig` runs the real ``/accounts`` hub (a paper account: its journal,
ledger and matching on this leg's database), the real ``/swings`` hub ticking on
the manual clock with KRX hours respected, and real :class:`SwingActor`\\ s on
:class:`storage.SqlSwingStore`. What the market would send is the test's to
give: the order book (``quote``, published on the account's :class:`QuoteBoard`)
and the swing's closed bars (``bar``, told to the swing as its feed would).
``/feeds`` is a sink: no simulated market moves anything behind the test's back.

Also a parent that ignores what its children report (:class:`Sink`), fakes of a swing's store
and order port, and a market-data source whose market time is the manual clock's. Test modules
import from here, never from one another or a conftest.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from actors import paths
from actors.account_deps import AccountDeps, AccountInfo
from actors.account_hub import AccountHub
from actors.quote_board import QuoteBoard
from actors.swing import SwingActor
from actors.swing_hub import CountSwings, StartSwing, SwingHub
from actors.swing_orders import AccountOrderPort, outcome_of
from engine.market.krx import KST
from engine.market.messages import Bar, Quote
from engine.runtime import ActorSystem, ChildSpec, ManualClock, Supervisor
from engine.strategy.schedule import CHECK_DELAY_MS
from engine.strategy.swing import SwingParams
from engine.swings import Intent, NewSwingEvent, Swing, SwingBooks, SwingUpdate
from storage import AccountRepo, Crypto, SqlJournal, SqlPaperLedger, SqlSwingStore, SwingRepo, UserRepo
from storage.models import PositionRow

CODE = "005930"
BASE = 70_000  # the previous close: limits 49,000..91,000, tick 100
# Tuesday 2026-12-01, 10:00 KST: the continuous session (09:00-15:20, closing auction to 15:30).
T0_MS = int(dt.datetime(2026, 12, 1, 10, 0, tzinfo=KST).timestamp() * 1000)
PARAMS = SwingParams(stock_code=CODE, unit_amount=1_000_000, bar_size="1Min", short_term=1, medium_term=2,
                     long_term=3, rsi_threshold=1.0, adx_threshold=0.0, obv_threshold=0.0)


class Sink(Supervisor):
    """A parent for the actor under test (or ``/feeds``): supervises it and drops every other message."""

    async def receive(self, msg: Any) -> None:
        return None


def rising_bars(n: int = 40, *, end_ms: int = T0_MS, first: int = 60_000, step: int = 100,
                drop: int = 0) -> list[Bar]:
    """``n`` closed 1-minute bars ending at ``end_ms``, each close ``step`` above the last; the last
    one ``drop`` below its predecessor instead when ``drop`` (a dead cross EMA1/EMA2 on a falling
    close and falling OBV: a confirmed first-stage sell with PARAMS)."""
    bars = []
    for i in range(n):
        close = first + step * i if not (drop and i == n - 1) else first + step * (i - 1) - drop
        bars.append(Bar(CODE, "1Min", end_ms - (n - i) * 60_000, close, close + 50, close - 50, close, 1_000))
    return bars


class SwingRig:
    def __init__(self, settings: Any, sessions: Any, history: list[Bar]) -> None:
        # KRX hours respected; commission 0.015 % per fill (floored); tax: the 2026 KOSPI schedule,
        # 0.05 % + 0.15 % rural special tax, each floored to the won.
        self.settings = msgspec.structs.replace(settings, ignore_market_hours=False, commission_pct=0.015,
                                                sell_tax_pct=None)
        self.sessions = sessions
        self.clock = ManualClock(T0_MS)
        self.system = ActorSystem(clock=self.clock)
        self.board = QuoteBoard(self.clock, lambda code: BASE)
        self.store = SqlSwingStore(sessions)
        self.history = history
        self.user_id = 0
        self.account_id = 0

    async def history_of(self, code: str, size: str, n: int) -> list[Bar]:
        return [b for b in self.history if b.code == code and b.size == size][-n:]

    async def start(self, *, cash: int = 100_000_000, held: int = 0, average_price: int = 0) -> None:
        """A user with a paper account holding ``held`` shares of CODE; then the hubs."""
        async with self.sessions.begin() as session:
            user = await UserRepo(session).create("swing@example.com", "not-a-real-hash")
            account = await AccountRepo(session, Crypto.from_settings(self.settings)).create(
                user.id, broker="paper", account_number="50123456-01", app_key="k", app_secret="s",
                paper_initial_cash=cash)
            if held:
                session.add(PositionRow(account_id=account.id, code=CODE, quantity=held,
                                        average_price=average_price, cost_basis=held * average_price))
        self.user_id, self.account_id = user.id, account.id
        system, spec = self.system, ChildSpec(backoff_base_s=0)
        feeds = system.spawn(paths.FEEDS, Sink)

        async def load_account(account_id: int) -> AccountInfo:
            return AccountInfo(account_id=account_id, user_id=self.user_id, broker="paper")

        deps = AccountDeps(settings=self.settings, journal=SqlJournal(self.sessions),
                           ledger=SqlPaperLedger(self.sessions), board=self.board, load_account=load_account,
                           kis_broker=None, sessions_hub=lambda: None)
        system.spawn(paths.ACCOUNTS, lambda: AccountHub(deps, spec), ChildSpec(restart="permanent"))
        orders = AccountOrderPort(system, 5.0)

        def make(swing_id: int) -> SwingActor:
            return SwingActor(swing_id, self.store, orders, feeds, self.history_of, outcome_of, sessions=True)

        system.spawn(paths.SWINGS, lambda: SwingHub(make, self.store.live, spec, False),
                     ChildSpec(restart="permanent"))
        await system.ref(paths.SWINGS).ask(CountSwings(), 5)
        await system.idle()

    async def add_swing(self, *, shares: int = 0, avg_cost: int = 0, signal: int = 0, repeat: bool = False,
                        intent: Intent | None = None) -> int:
        """A swing of CODE on the rig's account, as registration (and its earlier fills) left it; its
        cost basis is ``shares x avg_cost`` (earlier buy commissions not kept, as a migrated row)."""
        params = msgspec.structs.replace(PARAMS, account_id=self.account_id, repeat=repeat)
        async with self.sessions.begin() as session:
            repo = SwingRepo(session)
            swing = await repo.create(user_id=self.user_id, account_id=self.account_id, stock_code=CODE,
                                      params=params, status="active" if signal else "warming_up")
            await repo.save(swing.id, msgspec.structs.replace(
                swing.state(), signal_state=signal, shares=shares, avg_cost=avg_cost, intent=intent,
                cost_basis=shares * avg_cost))
        self.system.ref(paths.SWINGS).tell(StartSwing(swing.id, "1Min"))
        await self.system.idle()
        return swing.id

    def quote(self, bids: tuple[int, ...], bid_qty: tuple[int, ...]) -> None:
        """The book now: these bids, and asks one tick above the best bid (1,000 shares each)."""
        asks = tuple(bids[0] + 100 * (i + 1) for i in range(len(bids)))
        self.board.publish_quote(Quote(CODE, self.clock.now_ms(), asks, bids, (1_000,) * len(asks), bid_qty,
                                       1_000 * len(asks), sum(bid_qty)))

    def bar(self, swing_id: int, start_ms: int, close: int) -> None:
        """A closed 1-minute bar of CODE, told to the swing as its feed would."""
        self.system.ref(paths.swing(swing_id)).tell(Bar(CODE, "1Min", start_ms, close, close + 50, close - 50,
                                                        close, 1_000))

    async def next_check(self) -> int:
        """Move the clock just past the next minute's swing check; returns the minute's start."""
        now = self.clock.now_ms()
        minute = now - now % 60_000 + 60_000
        await self.clock.advance_to_ms(minute + CHECK_DELAY_MS + 500)
        await self.system.idle()
        return minute

    async def swing(self, swing_id: int) -> Swing:
        async with self.sessions() as session:
            swing = await SwingRepo(session).get(swing_id)
        assert swing is not None
        return swing

    async def events(self, swing_id: int) -> list[Any]:
        async with self.sessions() as session:
            return list(reversed(await SwingRepo(session).events(swing_id, limit=200)))

    async def stop(self) -> None:
        await self.system.shutdown(2)


class FakeStore:
    """A swing's row and events in memory (a :class:`engine.swings.SwingStore`); the books are the row's own."""

    def __init__(self, row: Swing) -> None:
        self.row = row
        self.events: list[NewSwingEvent] = []

    async def load(self, swing_id: int) -> Swing:
        return self.row

    async def save(self, swing_id: int, state: SwingUpdate, events: list[NewSwingEvent]) -> None:
        self.row = msgspec.structs.replace(self.row, **msgspec.structs.asdict(state))
        self.events.extend(events)

    async def event(self, swing_id: int, event: NewSwingEvent) -> None:
        self.events.append(event)

    async def books(self, account_id: int, code: str) -> SwingBooks:
        return SwingBooks(account_halted=False, swing_shares=self.row.shares,
                          in_flight=self.row.intent_order_id is not None)


class LosingPort:
    """An order port that records every order and answers nothing (the replies are lost)."""

    def __init__(self) -> None:
        self.placed: list[dict[str, Any]] = []
        self.cancelled: list[dict[str, Any]] = []

    def place(self, **order: Any) -> None:
        self.placed.append(order)

    def cancel_open(self, **which: Any) -> None:
        self.cancelled.append(which)

    async def held(self, account_id: int, code: str) -> int | None:
        return None  # the account cannot say: the books are not compared


class ClockSource:
    """The part of a market-data source a feed asks for: its market time (the manual clock's)."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    def market_time_ms(self) -> int:
        return self.clock.now_ms()
