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
from engine.swings import EventKind, Intent, NewSwingEvent, Swing, SwingStatus, SwingStore, SwingUpdate

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
    pass


class OrderPort(Protocol):
    """How a swing reaches its AccountActor (tell only; the answer comes back as a message
    that ``to_outcome`` turns into an :class:`OrderOutcome`). Placing the same client order
    id again must return the first order, never place a second one."""

    def place(self, *, account_id: int, user_id: int, client_order_id: str, code: str, side: str,
              quantity: int, reply_to: ActorRef) -> None: ...

    def cancel_open(self, *, account_id: int, swing_id: int) -> None:
        """Cancel the swing's orders still open at its account (the swing stops)."""


FINAL = frozenset({"filled", "rejected", "cancelled", "expired"})

SwingMsg = (Bar | HistoryLoaded | History | UpstreamStatus | CheckSignal | SendScheduled | StopSwing | GetSwing
            | OrderResult)


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

    # -- lifecycle ---------------------------------------------------------
    async def on_start(self) -> None:
        row = await self.store.load(self.swing_id)
        self.row = row
        self.params = SwingParams(**row.params).validate()
        self.state = SwingState(signal=row.signal_state, shares=row.shares, avg_cost=float(row.avg_cost),
                                stage2_shares=row.stage2_shares)
        self.status = row.status
        self.last_decision = row.last_decision
        self.intent, self.intent_order_id = row.intent, row.intent_order_id
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
        if self.status == "halted":
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

    async def _send(self, decision: Decision, *events: NewSwingEvent, send_at: int | None = None) -> None:
        assert self.params is not None
        seq = self.row.order_seq + 1
        client_order_id = f"swing-{self.swing_id}-{seq}"
        self.row = msgspec.structs.replace(self.row, order_seq=seq)
        self.intent = Intent(**msgspec.structs.asdict(decision), send_at_ms=send_at)
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
        decision: Decision = self.intent
        if outcome.status not in FINAL:
            if outcome.status == "unknown":
                await self.store.event(self.swing_id, NewSwingEvent(
                    kind="order", order_id=outcome.client_order_id,
                    reason=f"order outcome unknown: {outcome.reason}; reconciling"))
            return  # accepted / partially filled / unknown: the final outcome follows
        before = self.state
        if outcome.status == "filled" or (outcome.status == "cancelled" and outcome.filled_quantity > 0):
            fill = Fill(quantity=outcome.filled_quantity, price=outcome.average_price)
            self.state = apply_fill(self.state, decision, fill)
            pnl = self._book(decision.action, outcome, before.shares)
            self.row = msgspec.structs.replace(self.row, realized_pnl=self.row.realized_pnl + pnl)
            event = NewSwingEvent(kind="fill", action=decision.action, signal_before=before.signal,
                                  signal_after=self.state.signal, bar_start_ms=decision.bar_start_ms,
                                  reason=f"{decision.action} {fill.quantity} filled at {fill.price}",
                                  order_id=outcome.client_order_id)
            if self.state.signal == 3 and not (self.params and self.params.repeat) and self.status != "stopped":
                self.status = "completed"
        else:
            event = NewSwingEvent(kind="rejected", action=decision.action, signal_before=before.signal,
                                  signal_after=before.signal, bar_start_ms=decision.bar_start_ms,
                                  reason=f"order {outcome.status}: {outcome.reason}; SIGNAL stays",
                                  order_id=outcome.client_order_id)
        self.intent, self.intent_order_id = None, None
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

    async def _stop(self, liquidate: bool) -> dict[str, Any]:
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
            intent=self.intent, last_bar_ms=self.row.last_bar_ms, cost_basis=self.row.cost_basis), list(events))

    def _note(self, kind: EventKind, reason: str, *, order_id: str | None = None,
              bar_start_ms: int | None = None) -> NewSwingEvent:
        """An event that moves no SIGNAL (a hold, a resume, a check that waits)."""
        return NewSwingEvent(kind=kind, reason=reason, order_id=order_id, bar_start_ms=bar_start_ms,
                             signal_before=self.state.signal, signal_after=self.state.signal)

    def view(self) -> dict[str, Any]:
        return {"swing_id": self.swing_id, "status": self.status, "signal_state": self.state.signal,
                "last_decision": self.last_decision, "shares": self.state.shares,
                "average_price": round(self.state.avg_cost), "pending_order": self.intent_order_id,
                "scheduled_for": _kst(due) if (due := self._send_at()) is not None else None,
                "history_ready": self.history_ready}

    def state_view(self) -> dict[str, Any]:
        return {"status": self.status, "signal": self.state.signal, "bars": len(self.bars),
                "checks": self.checks, "pending_order": self.intent_order_id}


def _kst(ts_ms: int) -> str:
    return to_kst(ts_ms).isoformat()
