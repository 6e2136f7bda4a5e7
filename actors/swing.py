"""SwingActor: one auto swing (``/swings/<id>``), checked after each close of its bar size.

It keeps the closed bars of its code and size (history from the source's
backfill and stored bars, then the feed's closed bars), updates the swing's
indicators incrementally, and on ``CheckSignal`` runs the pure rules
(:func:`engine.strategy.swing.decide`). Every check is an event with the
reason in words.

Crash-safe transitions: before an order goes to the account, the intent (our
client order id and the decision) is written to the swing's row. The SIGNAL
moves only when the order's final outcome arrives (a fill moves it, a
rejection leaves it and is recorded). After a restart an unfinished intent is
reconciled by placing the very same order again: the account's journal
answers a known client order id with the first order and never places a
second one.

Market time (unless market hours are ignored, the demo market): a decision taken
while KRX takes orders is sent at once, as the backtest fills it at the next
bar's open. A decision on the session's last bar (taken after the close) or any
decision while the market is closed becomes a *scheduled* order: the same
durable intent with ``send_at_ms``, the next session's 08:30 pre-open, when a
clock timer sends it for the opening call auction (a market order then fills at
the opening price, the backtest's next-bar open). It is shown in the swing's
view and events, survives a restart (the timer is armed again; the client order
id makes a second send a no-op), and stopping the swing cancels it.

A partly filled sale (the visible book was thinner than the order: the broker
cancels the rest of a market order) moves the shares and the P&L of what
filled, but not the SIGNAL: the rest is *carried* (the intent without an order
id) and sold at the next check, before any new decision; only when the last
share is sold does the SIGNAL move (to 3, or 1 after a second-stage sale).

The swing's books are the account's: before each decision the swing reads
(off its mailbox, piped to itself) the account's kill switch and the
account's holding of its code, and compares the holding with what the
account's live swings of that code hold together. Halted account or missing
shares (sold elsewhere): the swing is ``halted`` with an event saying which,
and decides nothing; it goes back to its status when both are right again
(the account resumed: the hub tells every swing :class:`AccountHalted`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, assert_never

import msgspec

from actors.feed_hub import Subscribe, UnsubscribeAll
from actors.history import BarLoader
from actors.account_messages import OrderResult
from actors.market_feed import History, UpstreamStatus
from engine.market.krx import accepts_orders, bar_end, next_acceptance, to_kst
from engine.market.messages import Bar
from engine.pnl import CostBasis
from engine.runtime import Actor, ActorRef, MailboxSpec
from engine.strategy.swing import (
    SEED_BARS,
    Action,
    Decision,
    Fill,
    SwingIndicators,
    SwingParams,
    SwingState,
    apply_fill,
    decide,
)
from engine.swings import (
    EventKind,
    Intent,
    NewSwingEvent,
    Swing,
    SwingBooks,
    SwingStatus,
    SwingStore,
    SwingUpdate,
    SwingView,
)

log = logging.getLogger(__name__)

HISTORY_EXTRA = 20  # bars beyond the warm-up, so the first check has them all


class CheckSignal(msgspec.Struct, frozen=True):
    now_ms: int


class HistoryLoaded(msgspec.Struct, frozen=True):
    bars: list[Bar]


class OrderOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What became of one of the swing's orders (translated from the account's reply)."""

    client_order_id: str
    status: str  # filled | partially_filled | rejected | cancelled | unknown | accepted | pending
    filled_quantity: int = 0
    average_price: int = 0
    filled_value: int = 0  # Σ quantity × price of the fills (0: filled_quantity × average_price)
    commission: int = 0  # the fills' fees, as the account booked them
    tax: int = 0
    reason: str = ""
    order_id: str = ""


class SendScheduled(msgspec.Struct, frozen=True):
    """Timer: the scheduled order ``client_order_id`` is due."""

    client_order_id: str


class StopSwing(msgspec.Struct, frozen=True):
    liquidate: bool = False


class GetSwing(msgspec.Struct, frozen=True):
    """Ask: the running swing's :class:`~engine.swings.SwingView`."""


class AccountHalted(msgspec.Struct, frozen=True):
    """The account's kill switch changed (told through the hub to every swing; others ignore it)."""

    account_id: int
    halted: bool
    reason: str = ""


class BooksRead(msgspec.Struct, frozen=True, kw_only=True):
    """Private: the account's side of the swing's books, read off the mailbox.

    ``held`` is the account's holding of the code (None: not asked, or the account could not
    say, ``why``); ``now_ms`` is the check it belongs to (None: only the status is re-derived)."""

    books: SwingBooks | None
    held: int | None = None
    why: str = ""
    now_ms: int | None = None


class OrderPort(Protocol):
    """How a swing reaches its AccountActor (tell only; the answer comes back as a message
    that ``to_outcome`` turns into an :class:`OrderOutcome`). Placing the same client order
    id again must return the first order, never place a second one."""

    def place(self, *, account_id: int, user_id: int, client_order_id: str, code: str, side: str,
              quantity: int, reply_to: ActorRef) -> None: ...

    def cancel_open(self, *, account_id: int, swing_id: int) -> None:
        """Cancel the swing's orders still open at its account (the swing stops)."""

    async def held(self, account_id: int, code: str) -> int | None:
        """The shares of ``code`` the account holds; None when it cannot say now."""


FINAL = frozenset({"filled", "rejected", "cancelled", "expired"})

SwingMsg = (Bar | HistoryLoaded | History | UpstreamStatus | CheckSignal | SendScheduled | StopSwing | GetSwing
            | OrderResult | AccountHalted | BooksRead)
RUNNING: tuple[SwingStatus, ...] = ("warming_up", "active")


class SwingActor(Actor):
    mailbox = MailboxSpec(limit=4096)  # closed bars and order outcomes: never conflated

    def __init__(self, swing_id: int, store: SwingStore, orders: OrderPort, feeds: ActorRef,
                 history: BarLoader, to_outcome: Callable[[Any], OrderOutcome | None],
                 fault: Callable[[str], None] | None = None, *, sessions: bool = False) -> None:
        self.swing_id = swing_id
        self.sessions = sessions  # bars end at the session close (False: the around-the-clock demo market)
        self.fault = fault  # test-only: called at named steps ("swing_intent") to kill the process
        self.store = store
        self.orders = orders
        self.feeds = feeds
        self.history = history
        self.to_outcome = to_outcome
        self.row: Swing | None = None
        self.params: SwingParams | None = None
        self.state = SwingState()
        self.bars: dict[int, Bar] = {}
        self.indicators: SwingIndicators | None = None
        self.fed_until = -1  # start_ms of the last bar fed to the indicators
        self.snapshot: Any = None
        self.status: SwingStatus = "warming_up"
        self.last_decision: Action | None = None
        self.intent: Intent | None = None
        self.intent_order_id: str | None = None
        self.checks = 0
        self.history_ready = False  # checks wait for the history (or its failure)
        self._send_timer: Any = None
        self._reading = False  # the books are being read for a check: later checks wait for it
        self._resume_to: SwingStatus = "warming_up"  # the status a halt goes back to
        self.halted_reason: str | None = None  # why, while the status is halted (saved with it)

    # -- lifecycle ---------------------------------------------------------
    async def on_start(self) -> None:
        row = await self.store.load(self.swing_id)
        self.row = row
        self.params = row.params.validate()
        self.state = SwingState(signal=row.signal_state, shares=row.shares, avg_cost=float(row.avg_cost),
                                stage2_shares=row.stage2_shares)
        self.status = row.status
        self.halted_reason = row.halted_reason if row.status == "halted" else None
        self.last_decision = row.last_decision
        self.intent, self.intent_order_id = row.intent, row.intent_order_id
        if self.status in RUNNING:
            self._resume_to = self.status
        elif self.state.signal or self.state.shares:
            self._resume_to = "active"
        self.indicators = SwingIndicators(self.params)
        me = self.ctx.self_ref
        self.feeds.tell(Subscribe(self.params.stock_code, "bar", me))
        n = max(self.params.warmup_bars + HISTORY_EXTRA, SEED_BARS)  # as much as the backtest warms up on
        self.ctx.pipe_to_self(self.history(self.params.stock_code, self.params.bar_size, n),  # never raises
                              HistoryLoaded)
        due = self._send_at()
        if due is not None and due > self.ctx.clock.now_ms():  # a scheduled order, not sent yet
            await self.store.event(self.swing_id, self._note(
                "resumed", f"restarted with order {self.intent_order_id} scheduled for {_kst(due)}: kept, "
                "not sent yet", order_id=self.intent_order_id))
            self._arm(due)
        elif self.intent_order_id is not None:  # a transition was in flight when we stopped
            await self.store.event(self.swing_id, self._note(
                "resumed", f"restarted with order {self.intent_order_id} in flight: reconciling, "
                "not resending",
                order_id=self.intent_order_id))
            self._requery()
        await self._halt_if_account_halted()

    async def _halt_if_account_halted(self) -> None:
        """At start: a swing of a halted account is halted at once; a halted one re-derives its status."""
        if self.status not in (*RUNNING, "halted"):
            return
        books = await self.store.books(self.row.account_id, self.row.stock_code)
        if books.account_halted:
            await self._halt(self._account_halt_reason(books))
        elif self.status == "halted":  # halted before the restart: right again?
            self._read_books(None)

    async def on_stop(self) -> None:
        self.feeds.try_tell(UnsubscribeAll(self.ctx.self_ref))  # not taken: the feeds hub is stopping too

    def _requery(self) -> None:
        """Place the intent's order again: the account answers a known client order id with the
        first order (never a second one), and places it once if it never got there."""
        assert self.intent is not None and self.intent_order_id is not None and self.params is not None
        decision = self.intent
        assert self.row is not None
        self.orders.place(account_id=self.row.account_id, user_id=self.row.user_id,
                          client_order_id=self.intent_order_id, code=self.params.stock_code,
                          side=decision.action, quantity=decision.quantity, reply_to=self.ctx.self_ref)

    # -- messages ----------------------------------------------------------
    async def receive(self, msg: SwingMsg) -> Any:
        match msg:
            case Bar():
                if self.params is not None and msg.size == self.params.bar_size:
                    self.bars[msg.start_ms] = msg
            case HistoryLoaded():
                self._on_history(msg.bars)
            case History():
                pass  # the feed's 1Min warm-up history is for realtime strategies
            case UpstreamStatus():
                pass  # the feed tells every subscriber; a swing decides on closed bars only
            case CheckSignal():
                await self._check(msg.now_ms)
            case SendScheduled():
                if msg.client_order_id == self.intent_order_id:
                    await self.store.event(self.swing_id, self._note(
                        "order", f"scheduled order {self.intent_order_id} sent for the opening auction",
                        order_id=self.intent_order_id))
                    self._requery()
            case StopSwing():
                return await self._stop(msg.liquidate)
            case GetSwing():
                return self.view()
            case AccountHalted():
                await self._on_account_halted(msg)
            case BooksRead():
                await self._on_books(msg)
            case OrderResult():
                outcome = self.to_outcome(msg)
                if outcome is not None:
                    await self._on_outcome(outcome)
            case _:
                assert_never(msg)
        return None

    # -- the check ---------------------------------------------------------
    def _on_history(self, bars: list[Bar]) -> None:
        late = False
        for bar in bars:
            if bar.start_ms not in self.bars:
                self.bars[bar.start_ms] = bar
                late = late or bar.start_ms <= self.fed_until
        self.history_ready = True
        if late:  # live bars were fed first: replay the whole series in order
            assert self.params is not None
            self.indicators = SwingIndicators(self.params)
            until, self.fed_until, self.snapshot = self.fed_until, -1, None
            for start in sorted(k for k in self.bars if k <= until):
                self.snapshot = self.indicators.update_bar(self.bars[start])
                self.fed_until = start

    def _feed_closed(self, now_ms: int) -> None:
        assert self.params is not None and self.indicators is not None
        size = self.params.bar_size
        for start in sorted(k for k in self.bars
                            if k > self.fed_until and bar_end(k, size, self.sessions) <= now_ms):
            self.snapshot = self.indicators.update_bar(self.bars[start])
            self.fed_until = start
        keep = self.params.warmup_bars + HISTORY_EXTRA  # bounded memory: old bars are in the indicators
        if len(self.bars) > 2 * keep:
            for start in sorted(self.bars)[:-keep]:
                del self.bars[start]

    async def _check(self, now_ms: int) -> None:
        if self.status in ("completed", "stopped") or self.params is None or not self.history_ready:
            return
        self._feed_closed(now_ms)
        if self.snapshot is None or self.snapshot.start_ms <= (self.row.last_bar_ms or -1):
            return  # no new closed bar since the last check
        if self._reading:
            return  # the check waiting for the books decides on the newest closed bar
        self.checks += 1
        due = self._send_at()
        if due is not None and due > now_ms:
            await self.store.event(self.swing_id, self._note(
                "check", f"order {self.intent_order_id} scheduled for {_kst(due)}; no new decision",
                bar_start_ms=self.snapshot.start_ms))
            return
        if self.intent_order_id is not None:
            await self.store.event(self.swing_id, self._note(
                "check", f"order {self.intent_order_id} still in flight; no new decision",
                bar_start_ms=self.snapshot.start_ms))
            self._requery()  # an answer may have been lost (the account crashed mid-order)
            return
        self._read_books(now_ms)  # the decision follows in _on_books

    async def _decide(self, now_ms: int) -> None:
        assert self.params is not None and self.snapshot is not None and self.row is not None
        if self.intent is not None and self.intent_order_id is None:  # the rest of a partly filled sale
            await self._sell_rest(now_ms, self.intent)
            return
        decision = decide(self.params, self.state, self.snapshot)
        self.last_decision = decision.action
        log.info("swing %d: %s %s (SIGNAL %d -> %d): %s", self.swing_id, self.params.stock_code, decision.action,
                 decision.signal_before, decision.signal_after, decision.reason)  # one audit line per decision
        self.row = msgspec.structs.replace(self.row, last_bar_ms=self.snapshot.start_ms)
        check = NewSwingEvent(kind="check", bar_start_ms=decision.bar_start_ms, action=decision.action,
                              signal_before=decision.signal_before, signal_after=decision.signal_after,
                              reason=decision.reason, indicators=decision.indicators)
        if decision.action == "hold":
            self.state = apply_fill(self.state, decision, None)
            self.status = decision.status
            await self._save(check)
            if self.status == "completed":
                self.ctx.stop_self()
            return
        send_at = None if not self.sessions or accepts_orders(now_ms) else next_acceptance(now_ms)
        await self._send(decision, check, send_at=send_at)

    async def _sell_rest(self, now_ms: int, carried: Intent) -> None:
        """The carried rest is sold before any new decision: the SIGNAL moves once it is sold."""
        assert self.snapshot is not None and self.row is not None
        left = self.state.shares if carried.quantity_rule == "all" else min(carried.quantity, self.state.shares)
        self.row = msgspec.structs.replace(self.row, last_bar_ms=self.snapshot.start_ms)
        base = carried.decision()
        if left <= 0:  # nothing left to sell: the sale is done
            done = msgspec.structs.replace(base, action="hold", quantity_rule="none", quantity=0)
            self.state = apply_fill(self.state, done, None)
            self.intent = None
            if self.state.signal == 3 and not (self.params and self.params.repeat):
                self.status = "completed"
            await self._save(self._note("check", "no shares left of the partly filled sale: SIGNAL "
                                        f"{done.signal_before} -> {done.signal_after}",
                                        bar_start_ms=self.snapshot.start_ms))
            if self.status == "completed":
                self.ctx.stop_self()
            return
        self.last_decision = "sell"
        rest = msgspec.structs.replace(base, quantity=left, price=self.snapshot.close,
                                       reason=f"the rest of a partly filled sale ({carried.trigger}): {left} shares")
        check = self._note("check", f"selling the {left} shares left of the partly filled sale "
                           f"({carried.trigger}); no new decision", bar_start_ms=self.snapshot.start_ms)
        send_at = None if not self.sessions or accepts_orders(now_ms) else next_acceptance(now_ms)
        await self._send(rest, check, send_at=send_at, remainder=True)

    # -- the books -----------------------------------------------------------
    def _read_books(self, now_ms: int | None) -> None:
        """Read the account's side of the books off the mailbox; :class:`BooksRead` comes back."""
        assert self.row is not None
        self._reading = now_ms is not None or self._reading
        account_id, code = self.row.account_id, self.row.stock_code

        async def read() -> BooksRead:
            books = await self.store.books(account_id, code)
            if books.account_halted or books.swing_shares <= 0 or books.in_flight:
                return BooksRead(books=books, now_ms=now_ms)  # a holding moving under an order is not compared
            try:
                held = await self.orders.held(account_id, code)
            except Exception as exc:  # noqa: BLE001 - the account's actor is stopping, busy or slow
                return BooksRead(books=books, why=f"{type(exc).__name__}: {exc}", now_ms=now_ms)
            return BooksRead(books=books, held=held, why="" if held is not None else "the account cannot say",
                             now_ms=now_ms)

        self.ctx.pipe_to_self(read(), lambda got: got,
                              lambda exc: BooksRead(books=None, why=f"{type(exc).__name__}: {exc}", now_ms=now_ms))

    async def _on_books(self, msg: BooksRead) -> None:
        if msg.now_ms is not None:
            self._reading = False
        if self.status not in (*RUNNING, "halted"):
            return
        if msg.books is None:  # storage did not answer: no check of the books, no decision on them
            log.warning("swing %d: books not read (%s)", self.swing_id, msg.why)
            return
        why = self._halt_reason(msg)
        if why is not None:
            await self._halt(why)
            return
        if self.status == "halted":
            self.status = self._resume_to
            await self._save(self._note("resumed", "the account trades again and holds the swing's shares: "
                                        f"back to {self.status}"))
        if msg.now_ms is not None and self.intent_order_id is None:
            await self._decide(msg.now_ms)

    def _halt_reason(self, msg: BooksRead) -> str | None:
        assert msg.books is not None and self.params is not None
        books = msg.books
        if books.account_halted:
            return self._account_halt_reason(books)
        if msg.held is not None and self.state.shares > 0 and books.swing_shares > msg.held:
            others = books.swing_shares - self.state.shares
            mine = f"this swing {self.state.shares}" + (f", the account's other swings {others}" if others else "")
            return (f"the account holds {msg.held} shares of {self.params.stock_code} but its swings hold "
                    f"{books.swing_shares} ({mine}): sold elsewhere? No decision until the holding covers them "
                    "again; stop the swing to end it")
        return None

    @staticmethod
    def _account_halt_reason(books: SwingBooks) -> str:
        why = f": {books.halted_reason}" if books.halted_reason else ""
        return f"the account is halted{why}; no decision until it is resumed"

    async def _halt(self, why: str) -> None:
        if self.status == "halted":
            if why != self.halted_reason:  # still halted, for another reason now: the field says which
                self.halted_reason = why
                await self._save()
            return
        self._resume_to = self.status if self.status in RUNNING else self._resume_to
        self.status = "halted"
        self.halted_reason = why
        log.info("swing %d halted: %s", self.swing_id, why)
        await self._save(self._note("halted", why))

    async def _on_account_halted(self, msg: AccountHalted) -> None:
        if self.row is None or msg.account_id != self.row.account_id:
            return
        if msg.halted and self.status in RUNNING:
            await self._halt(self._account_halt_reason(SwingBooks(account_halted=True, halted_reason=msg.reason)))
        elif not msg.halted and self.status == "halted":
            self._read_books(None)  # resumed: back to running once the holding covers the shares too

    def _send_at(self) -> int | None:
        """When the pending intent is to be sent, if it is a scheduled order."""
        if self.intent is None or self.intent_order_id is None:
            return None
        return self.intent.send_at_ms

    def _arm(self, due: int) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
        assert self.intent_order_id is not None
        self._send_timer = self.ctx.tell_later(max(0.0, (due - self.ctx.clock.now_ms()) / 1000),
                                               SendScheduled(self.intent_order_id))

    async def _send(self, decision: Decision, *events: NewSwingEvent, send_at: int | None = None,
                    remainder: bool = False) -> None:
        assert self.params is not None
        seq = self.row.order_seq + 1
        client_order_id = f"swing-{self.swing_id}-{seq}"
        self.row = msgspec.structs.replace(self.row, order_seq=seq)
        self.intent = Intent(**msgspec.structs.asdict(decision), send_at_ms=send_at, remainder=remainder)
        self.intent_order_id = client_order_id
        self.status = "active"
        what = f"{decision.action} {decision.quantity} at market ({decision.trigger})"
        if send_at is not None:
            order = NewSwingEvent(kind="scheduled", action=decision.action,
                                  signal_before=decision.signal_before, signal_after=decision.signal_after,
                                  bar_start_ms=decision.bar_start_ms,
                                  reason=f"{what} scheduled: KRX takes no orders now; sent at {_kst(send_at)} "
                                         f"for the opening auction", order_id=client_order_id)
            await self._save(*events, order)  # durable before the timer exists
            self._arm(send_at)
            return
        order = NewSwingEvent(kind="order", action=decision.action, signal_before=decision.signal_before,
                              signal_after=decision.signal_after, bar_start_ms=decision.bar_start_ms,
                              reason=what, order_id=client_order_id)
        await self._save(*events, order)  # one transaction: the intent is durable before the order exists
        if self.fault is not None:
            self.fault("swing_intent")
        self.orders.place(account_id=self.row.account_id, user_id=self.row.user_id,
                          client_order_id=client_order_id, code=self.params.stock_code, side=decision.action,
                          quantity=decision.quantity, reply_to=self.ctx.self_ref)

    async def _on_outcome(self, outcome: OrderOutcome) -> None:
        if outcome.client_order_id != self.intent_order_id or self.intent is None:
            log.info("swing %d: outcome for %s is not the pending intent", self.swing_id, outcome.client_order_id)
            return
        intent = self.intent
        decision = intent.decision()
        if outcome.status not in FINAL:
            if outcome.status == "unknown":
                await self.store.event(self.swing_id, NewSwingEvent(
                    kind="order", order_id=outcome.client_order_id,
                    reason=f"order outcome unknown: {outcome.reason}; reconciling"))
            return  # accepted / partially filled / unknown: the final outcome follows
        before = self.state
        carried: Intent | None = None
        if outcome.filled_quantity > 0:  # filled, or cancelled / expired after part of it filled
            fill = Fill(quantity=outcome.filled_quantity, price=outcome.average_price)
            rest = decision.quantity - fill.quantity if decision.action == "sell" else 0
            what = f"{decision.action} {fill.quantity} filled at {fill.price}"
            if rest > 0:  # a partly filled sale: the SIGNAL waits for the rest, sold at the next check
                self.state = apply_fill(self.state, msgspec.structs.replace(decision, signal_after=before.signal),
                                        fill)
                carried = msgspec.structs.replace(intent, quantity=rest, send_at_ms=None, remainder=True)
                what = (f"sell {fill.quantity} of {decision.quantity} filled at {fill.price} (order "
                        f"{outcome.status}: {outcome.reason or 'the rest did not fill'}); "
                        + ("the swing is stopped: the rest stays in the account" if self.status == "stopped"
                           else f"the {rest} left are sold at the next check, SIGNAL stays {before.signal}"))
            else:
                self.state = apply_fill(self.state, decision, fill)
            pnl = self._book(decision.action, outcome, before.shares)
            self.row = msgspec.structs.replace(self.row, realized_pnl=self.row.realized_pnl + pnl)
            event = NewSwingEvent(kind="fill", action=decision.action, signal_before=before.signal,
                                  signal_after=self.state.signal, bar_start_ms=decision.bar_start_ms,
                                  reason=what, order_id=outcome.client_order_id)
            if self.state.signal == 3 and not (self.params and self.params.repeat) and self.status != "stopped":
                self.status = "completed"
        else:
            keep = intent.remainder and self.status != "stopped"
            if keep:  # the rest of a sale stays carried: the next check tries again
                carried = msgspec.structs.replace(intent, send_at_ms=None)
            event = NewSwingEvent(kind="rejected", action=decision.action, signal_before=before.signal,
                                  signal_after=before.signal, bar_start_ms=decision.bar_start_ms,
                                  reason=f"order {outcome.status}: {outcome.reason}; SIGNAL stays"
                                         + ("; the rest of the sale is tried again at the next check" if keep
                                            else ""),
                                  order_id=outcome.client_order_id)
        self.intent, self.intent_order_id = (carried if self.status != "stopped" else None), None
        await self._save(event)  # the new state and its event in one transaction
        if self.status in ("completed", "stopped"):
            self.ctx.stop_self()

    def _book(self, action: Action, outcome: OrderOutcome, shares: int) -> int:
        """The fill on the swing's exact cost basis of its ``shares``; a sale's realised P&L
        (engine.pnl: the cash round trip, fees and tax in, as the paper ledger books it)."""
        assert self.row is not None
        qty = outcome.filled_quantity
        value = outcome.filled_value or qty * outcome.average_price
        held = CostBasis(quantity=shares, total=self.row.cost_basis)
        if action == "buy":
            rest, pnl = held.bought(qty, value, outcome.commission), 0
        else:
            sale = held.sold(min(qty, held.quantity), value, outcome.commission, outcome.tax)
            rest, pnl = sale.rest, sale.realized
        self.row = msgspec.structs.replace(self.row, cost_basis=rest.total)
        return pnl

    async def _stop(self, liquidate: bool) -> SwingView:
        self.status = "stopped"
        due = self._send_at()
        if due is not None and due > self.ctx.clock.now_ms():  # not sent yet: cancelled with the swing
            if self._send_timer is not None:
                self._send_timer.cancel()
            cancelled = self._note(
                "cancelled", f"scheduled order {self.intent_order_id} cancelled: the swing was stopped",
                order_id=self.intent_order_id)
            self.intent, self.intent_order_id = None, None
            await self._save(cancelled)
        if self.intent_order_id is None:
            self.intent = None  # a carried rest is not sold by a stopped swing (unless it liquidates)
        if liquidate and self.state.shares > 0 and self.intent_order_id is None and self.params is not None:
            close = self.snapshot.close if self.snapshot is not None else 0
            decision = Decision(status="active", action="sell", quantity_rule="all", quantity=self.state.shares,
                                price=close, signal_before=self.state.signal, signal_after=3,
                                trigger="liquidate", reason="stopped by the user with liquidate=true",
                                bar_start_ms=self.snapshot.start_ms if self.snapshot is not None else 0,
                                indicators={})
            now = self.ctx.clock.now_ms()
            await self._send(decision, send_at=None if not self.sessions or accepts_orders(now)
                             else next_acceptance(now))
            self.status = "stopped"
            await self._save()
            return self.view()  # the actor stops once the sale's outcome is in
        await self._save(self._note("stopped", "stopped by the user"))
        if self.row is not None:
            self.orders.cancel_open(account_id=self.row.account_id, swing_id=self.swing_id)
        self.ctx.stop_self()
        return self.view()

    async def _save(self, *events: NewSwingEvent) -> None:
        assert self.row is not None
        await self.store.save(self.swing_id, SwingUpdate(
            status=self.status, signal_state=self.state.signal, last_decision=self.last_decision,
            shares=self.state.shares, avg_cost=round(self.state.avg_cost), stage2_shares=self.state.stage2_shares,
            realized_pnl=self.row.realized_pnl, order_seq=self.row.order_seq, intent_order_id=self.intent_order_id,
            intent=self.intent, last_bar_ms=self.row.last_bar_ms, cost_basis=self.row.cost_basis,
            halted_reason=self.halted_reason if self.status == "halted" else None), list(events))

    def _note(self, kind: EventKind, reason: str, *, order_id: str | None = None,
              bar_start_ms: int | None = None) -> NewSwingEvent:
        """An event that moves no SIGNAL (a hold, a resume, a check that waits)."""
        return NewSwingEvent(kind=kind, reason=reason, order_id=order_id, bar_start_ms=bar_start_ms,
                             signal_before=self.state.signal, signal_after=self.state.signal)

    def view(self) -> SwingView:
        carried = self.intent.quantity if self.intent is not None and self.intent_order_id is None else 0
        return SwingView(swing_id=self.swing_id, status=self.status, signal_state=self.state.signal,
                         last_decision=self.last_decision, shares=self.state.shares,
                         average_price=round(self.state.avg_cost), pending_order=self.intent_order_id,
                         scheduled_for=_kst(due) if (due := self._send_at()) is not None else None,
                         carried=carried, history_ready=self.history_ready,
                         halted_reason=self.halted_reason if self.status == "halted" else None)

    def state_view(self) -> dict[str, Any]:
        return {"status": self.status, "signal": self.state.signal, "bars": len(self.bars),
                "checks": self.checks, "pending_order": self.intent_order_id}


def _kst(ts_ms: int) -> str:
    return to_kst(ts_ms).isoformat()
