"""AccountActor: one per broker account (``/accounts/<id>``), the only path to its broker.

Protocol (:mod:`actors.account_messages`; tell through the hub ``/accounts``,
which spawns the actor on demand; the web layer asks the actor itself, with a
timeout, after ``AccountRef``):

- :class:`PlaceOrder` → :class:`OrderTicket`: the answer now (refused, a
  duplicate key's order, or ``pending`` once journalled) and the outcome to
  come once the broker answered. ``reply_to`` is told the :class:`OrderResult`
  when the order reaches a final outcome. A swing tells
  ``PlaceOrder(..., reply_to=self)`` and handles the ``OrderResult`` message.
  A ``PlaceOrder`` taken from the mailbox after its ``deadline`` is refused
  unjournalled (``not_journaled``): whoever sent it has given up waiting.
- :class:`CancelOrder` / :class:`ModifyOrder` → :class:`OrderResult` (the
  order as it stands after the broker's answer); :class:`CancelOpen` → int.
- :class:`GetBalance` → :class:`~engine.brokers.base.BrokerBalance` (cached
  ``balance_cache_s``; a fill, cancel or modify drops the cache), its ``orderable``
  less what this actor's orders reserve that the cached answer does not count yet (in
  flight, or taken by the broker since it was asked for: placing orders does not
  cost a balance inquiry each, which on KIS would spend 2 of the app key's REST calls).
- :class:`Reconcile` → int (orders moved): open orders of the journal against
  the broker, each on its own date. Also run in ``on_start`` (a restarted
  actor never resends: it looks the order up) and, for brokers that push no
  fills, on a timer (``reconcile_interval_s``).

The broker call is asynchronous: the actor journals the order, starts a task
that sends it (a paper market order is walked against the book in the same
call) and goes on with its mailbox; the task tells :class:`Sent` back, and the
acceptance is journalled by another task that tells :class:`Accepted`, so the
next order's journal entry can share that commit (the SQLite writer's group
commit). State stays the actor's: the tasks touch only the broker and the
journal. What an order in flight may spend is reserved in the actor
(``_inflight``) until its acceptance is journalled, so the checks of the next
order count it. The order path::

    key lookup ─▶ checks (engine.risk, open orders reserved) ─▶ journal pending ─▶ fault("journal")
      ─▶ [task] broker.place_order (+ paper market walk) ─▶ Sent ─▶ fault("fill") if it filled
      ─▶ [task] journal accepted (+ its fills) ─▶ Accepted ─▶ fault("send") ─▶ events ─▶ the outcome

Cancel and modify are journalled on the order (``action``) before the broker
hears of them, then applied (events ``cancelled`` / ``modified``). Day orders
expire at the session close (``expired``): the paper broker's at once, a KIS
order's when reconciliation finds it closed.

``fault(step)`` is a test-only hook (None in production) that crash tests use
to stop at a named step. Order events go to the owner's /kis_socket sessions
through the session hub. Reconciliation lives in :mod:`actors.reconcile`; the fees and realised
P&L of a fill the broker did not book (KIS) in :mod:`actors.account_books`, the same for a notice
and for a fill reconciliation finds.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, assert_never

import msgspec

from actors import paths
from actors.account_books import FillBooks
from actors.account_deps import AccountDeps, AccountInfo, Fault, order_payload
from actors.account_messages import (
    Accepted, AccountMsg, BalanceUnavailable, CancelOpen, CancelOrder, FillArrived, GetBalance, ModifyOrder,
    OrderResult,
    OrderTicket, PlaceOrder, QuotesCrossed, Reconcile, ReconcilePostponed, RiskChanged, Sent, SessionClosed,
)
from actors.reconcile import reconcile
from actors.session_hub import OrderEvent, ToUser
from actors.wire import OrderEventKind, fill_event
from engine.brokers.base import (
    Broker, BrokerBalance, BrokerError, BrokerFill, BrokerUnavailable, CancelRequest, ModifyRequest, OrderAck,
        OrderRejected, OrderRequest, OutcomeUnknown,
)
from engine.brokers.paper import MatchingBook, NoQuote, PaperBroker, PaperCancelled, PaperFills
from engine.journal import Fill, KeyTaken, NewOrder, Order, RiskOverrides, fingerprint
from engine.market.krx import (
    accepts_orders, auction_at, kst_date, kst_midnight_ms, load_calendar, price_limits, session_bounds,
)
from engine.risk import Limits, OrderFacts, OrderRefused, check_order, check_shape
from engine.runtime import Actor, ActorRef, ActorStopped, MailboxSpec

__all__ = [
    "AccountActor", "AccountDeps", "AccountInfo", "AccountMsg", "BalanceUnavailable", "Fault", "FillArrived",
    "GetBalance", "OrderResult", "PlaceOrder", "QuotesCrossed", "Reconcile",
    "ReconcilePostponed", "order_payload",
]

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
PLACE_BATCH = 16  # orders journalled together at most (a MariaDB connection each, at once)


class _Prepared:
    """An order that passed its checks: the journal entry to make, and what answers it."""

    __slots__ = ("base", "msg", "new")

    def __init__(self, msg: PlaceOrder, base: OrderResult, new: NewOrder) -> None:
        self.msg, self.base, self.new = msg, base, new


def _provisional(order_id: int, new: NewOrder) -> Order:
    """An order being journalled as it will be (its reservation counts for the next checks)."""
    return Order(id=order_id, account_id=new.account_id, client_order_id=new.client_order_id,
                 fingerprint=new.fingerprint, source=new.source, code=new.code, side=new.side,
                 quantity=new.quantity, price=new.price, status="pending", broker_order_no=None,
                 filled_quantity=0, filled_value=0, reason="", created_ms=new.created_ms,
                 updated_ms=new.created_ms)


class AccountActor(Actor):
    mailbox = MailboxSpec(limit=256)  # a full mailbox refuses new orders (429 account_busy), never drops one

    def __init__(self, account_id: int, deps: AccountDeps) -> None:
        self.account_id = account_id
        self.deps = deps
        self.info: AccountInfo | None = None
        self.broker: Broker | None = None
        self._exchange_limits: Callable[[str], Awaitable[tuple[int, int] | None]] | None = None
        self._broker_market: Callable[[str], str | None] | None = None
        self._books = FillBooks(deps.journal, deps.fees, self._market, self._average_price)  # fills it books
        self.book: MatchingBook | None = None  # the paper broker matches orders itself
        self.waiting: dict[int, ActorRef] = {}  # order id -> reply_to, for orders not final yet
        self.early_fills: dict[str, list[BrokerFill]] = {}  # notices that beat their ack
        self.avg_cost: dict[str, int] = {}  # code -> average price, from the last balance
        self._balance: tuple[float, BrokerBalance] | None = None
        self._watched: set[str] = set()
        self._inflight: dict[int, Order] = {}  # journalled, the broker call running
        # orders the broker took since the cached balance was asked for (it does not count them yet):
        # order id -> (ack sequence number, order); see _balance_now
        self._acked_since: dict[int, tuple[int, Order]] = {}
        self._acks = 0
        self._outcomes: dict[int, asyncio.Future[OrderResult]] = {}
        self._open: dict[int, Order] = {}  # open orders (the journal's), for reservations and limits
        self._timers: list[Any] = []
        self._realized: tuple[Any, int] | None = None  # (KST day, realised P&L of that day)
        self._keys: dict[str, int] = {}  # idempotency keys journalled by this actor (the latest 10,000)
        self._risk: RiskOverrides | None = None  # the journal's risk row, read once, replaced by RiskChanged
        self._calendar_loaded = False
        self.orders_placed = 0
        self.placed_together = 0  # orders taken from the mailbox behind another and journalled with it
        self.orders_by_status: dict[str, int] = {}  # answers given, by status (/metrics)

    # -- lifecycle ---------------------------------------------------------------------

    async def on_start(self) -> None:
        deps = self.deps
        self.info = await deps.load_account(self.account_id)
        me = self.ctx.self_ref
        if self.info.broker == "paper":
            broker = PaperBroker(self.account_id, deps.ledger, deps.board, self.ctx.clock, deps.fees,
                                 quote_timeout_s=deps.settings.paper_quote_timeout_s,
                                 on_cross=lambda: self._tell_self(QuotesCrossed(self.account_id)),
                                 market_now=deps.market_now,
                                 next_print=deps.settings.market_data == "replay",
                                 auctions=not deps.settings.market_hours_ignored)
            await broker.start()
            self.broker = self.book = broker
        else:
            if deps.kis_broker is None:
                raise RuntimeError("no KIS broker factory configured")
            kis = self.broker = deps.kis_broker(self.info.credentials)
            self._exchange_limits = kis.price_limits  # the exchange's own limits win over computed ones
            self._broker_market = getattr(kis, "market_of", None)  # a code's market as KIS told it
            live = bool(await kis.subscribe_fills(lambda fill: self._tell_self(FillArrived(self.account_id, fill))))
            if not live and deps.settings.reconcile_interval_s > 0:
                self._every(deps.settings.reconcile_interval_s, Reconcile(self.account_id))
        self._schedule_close()
        self._tell_parent(self.info)
        log.info("account %s started (%s)", me.path, self.info.broker)
        try:
            await self._reconcile()
        except (BrokerUnavailable, OutcomeUnknown) as exc:
            log.warning("account %d: reconciliation postponed, broker unavailable: %s", self.account_id, exc)
        self._open = {o.id: o for o in await deps.journal.open_orders(self.account_id)}

    async def on_stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for order_id, future in self._outcomes.items():
            order = self._inflight.get(order_id)
            if not future.done() and order is not None:  # journalled: still pending, reconciliation tells
                future.set_result(self._result(order))
        for code in self._watched:
            self.deps.board.unwatch(code)
        self._watched.clear()
        if self.broker is not None:
            broker, self.broker, self.book = self.broker, None, None
            await broker.close()

    def _tell_self(self, msg: Any) -> None:
        if not self.ctx.self_ref.try_tell(msg):
            log.warning("account %d: %s not queued (mailbox full or stopped); the next reconciliation "
                        "catches up", self.account_id, type(msg).__name__)

    def _tell_parent(self, info: AccountInfo) -> None:
        from actors.account_hub import Owned  # the hub imports this module

        hub = self.ctx.system.lookup(paths.ACCOUNTS)
        if hub is not None and not hub.try_tell(Owned(info.account_id, info.user_id)):
            log.warning("account %d: owner not told to the hub (full or stopped)", self.account_id)

    def _every(self, interval_s: float, msg: Any) -> None:
        self._timers.append(self.ctx.tell_every(interval_s, msg))

    def _schedule_close(self) -> None:
        """A timer for the end of today's (or the next) session: day orders expire then."""
        if self.deps.settings.market_hours_ignored:
            return
        now = self.ctx.clock.now_ms()
        day = kst_date(now)
        for _ in range(10):
            bounds = session_bounds(day)
            if bounds is not None and bounds[1] > now:
                delay = (bounds[1] - now) / 1000
                self._timers.append(self.ctx.tell_later(delay, SessionClosed(self.account_id)))
                return
            day = kst_date(kst_midnight_ms(day) + DAY_MS + 3_600_000)

    # -- messages ----------------------------------------------------------------------

    async def receive(self, msg: AccountMsg) -> Any:
        match msg:
            case PlaceOrder():
                queued = self._queued_places()
                if queued:
                    return await self._place_together(msg, queued)
                return self._placed(msg, await self._place(msg))
            case CancelOrder():
                return await self._cancel(msg)
            case ModifyOrder():
                return await self._modify(msg)
            case CancelOpen():
                return await self._cancel_open(msg)
            case Sent():
                await self._on_sent(msg)
            case Accepted():
                await self._on_accepted(msg)
            case GetBalance():
                try:
                    balance = await self._balance_now()
                    holdings = [msgspec.structs.replace(h, orderable=max(0, self._sellable(balance, h.code)))
                                for h in balance.holdings]
                    return msgspec.structs.replace(balance, orderable=self._buying_power(balance), holdings=holdings)
                except (BrokerUnavailable, OutcomeUnknown) as exc:
                    return BalanceUnavailable(str(exc))
            case Reconcile():
                try:
                    return await self._reconcile()
                except (BrokerUnavailable, OutcomeUnknown) as exc:
                    log.warning("account %d: reconciliation postponed: %s", self.account_id, exc)
                    return ReconcilePostponed(str(exc)) if msg.strict else 0
            case FillArrived():
                await self._on_notice(msg.fill)
            case QuotesCrossed():
                await self._on_crossed()
            case RiskChanged():
                self._risk = msg.overrides
            case SessionClosed():
                await self._on_close()
                self._schedule_close()
            case _:
                assert_never(msg)
        return None

    def _count(self, result: OrderResult) -> None:
        self.orders_by_status[result.status] = self.orders_by_status.get(result.status, 0) + 1

    def _answer(self, reply_to: ActorRef | None, result: OrderResult) -> None:
        if reply_to is None:
            return
        if not result.final and result.order_id is not None:
            self.waiting[result.order_id] = reply_to
            return
        if not reply_to.try_tell(result):
            log.warning("account %d: result of order %s not delivered to %s (mailbox full or stopped)",
                        self.account_id, result.order_id, reply_to.path)

    # -- placing -----------------------------------------------------------------------

    def _placed(self, msg: PlaceOrder, ticket: OrderTicket) -> OrderTicket:
        if ticket.outcome is None:
            self._count(ticket.result)
            self._answer(msg.reply_to, ticket.result)
        elif msg.reply_to is not None and ticket.result.order_id is not None:
            self.waiting[ticket.result.order_id] = msg.reply_to
        return ticket

    async def _place(self, msg: PlaceOrder) -> OrderTicket:
        step = await self._prepare(msg, set())
        if isinstance(step, OrderTicket):
            return step
        assert step is not None
        return await self._journalled(step, await self._create(step))

    async def _prepare(self, msg: PlaceOrder, batch_keys: set[str]) -> OrderTicket | _Prepared | None:
        """The answer when the order cannot go (refused, or a known key's order), else the entry to
        journal; None when an earlier order of the same batch has its key (placed after the batch)."""
        deps, clock = self.deps, self.ctx.clock
        key = msg.client_order_id or uuid.uuid4().hex
        if key in batch_keys:
            return None
        fp = fingerprint(msg.code, msg.side, msg.quantity, msg.price)
        base = OrderResult(account_id=self.account_id, client_order_id=key, status="refused", code=msg.code,
                           side=msg.side, quantity=msg.quantity)
        known = self._keys.get(key)
        if known is not None:  # a key this actor journalled: the first order answers
            existing = await deps.journal.get(self.account_id, known)
            if existing is not None:
                return self._duplicate(existing, base, fp)
        refusal = await self._check(msg, base)
        if refusal is not None:  # nothing journalled now; but a retry of an order that went answers that order
            existing = await deps.journal.find(self.account_id, key)
            return self._duplicate(existing, base, fp) if existing is not None else OrderTicket(refusal)
        batch_keys.add(key)
        return _Prepared(msg, base, NewOrder(
            account_id=self.account_id, client_order_id=key, fingerprint=fp, source=msg.source,
            code=msg.code, side=msg.side, quantity=msg.quantity, price=msg.price, created_ms=clock.now_ms()))

    async def _create(self, step: _Prepared) -> Order | KeyTaken:
        try:  # the unique key decides: no lookup before an insert that is almost always new
            return await self.deps.journal.create(step.new)
        except KeyTaken as taken:
            return taken

    async def _journalled(self, step: _Prepared, created: Order | KeyTaken) -> OrderTicket:
        """The entry is journalled (or its key was taken): start the broker call, answer ``pending``."""
        msg, key = step.msg, step.new.client_order_id
        if isinstance(created, KeyTaken):
            existing = await self.deps.journal.find(self.account_id, key)
            assert existing is not None
            return self._duplicate(existing, step.base, step.new.fingerprint)
        order = created
        self._keys[key] = order.id
        if len(self._keys) > 10_000:
            del self._keys[next(iter(self._keys))]
        self.orders_placed += 1
        self._fault("journal")
        self._inflight[order.id] = order  # reserved while in flight: the cached balance stays right
        self._open[order.id] = order
        outcome = self._outcomes[order.id] = asyncio.get_running_loop().create_future()
        req = OrderRequest(client_order_id=key, code=msg.code, side=msg.side, quantity=msg.quantity,
                           price=msg.price)
        order_id = order.id
        self.ctx.pipe_to_self(self._send(order_id, req), lambda sent: sent,
                              lambda exc: Sent(account_id=self.account_id, order_id=order_id,
                                               error=OutcomeUnknown(f"the broker call failed: {exc!r}")))
        return OrderTicket(self._result(order), outcome)

    def _queued_places(self) -> list[tuple[PlaceOrder, Callable[[Any, BaseException | None], None]]]:
        """The orders queued right behind this one (``PLACE_BATCH`` in all at most), out of the mailbox."""
        queued: list[tuple[PlaceOrder, Callable[[Any, BaseException | None], None]]] = []
        while len(queued) < PLACE_BATCH - 1:
            taken = self.ctx.take_queued(PlaceOrder)
            if taken is None:
                break
            queued.append(taken)
        return queued

    async def _place_together(self, first: PlaceOrder,
                              queued: list[tuple[PlaceOrder, Callable[[Any, BaseException | None], None]]]
                              ) -> OrderTicket:
        """Group commit: the orders waiting in the mailbox are checked one after another, each counting
        the ones before it (reserved in flight under a provisional id), journalled together (their
        inserts share a commit on SQLite), then sent. Each gets its own answer, as if placed alone."""
        msgs = [first, *(m for m, _ in queued)]
        self.placed_together += len(queued)
        answers: list[OrderTicket | BaseException | None] = [None] * len(msgs)
        steps: list[tuple[int, _Prepared]] = []
        later: list[int] = []  # a key repeated inside the batch: placed once the first is journalled
        keys: set[str] = set()
        try:
            for i, msg in enumerate(msgs):
                step = await self._prepare(msg, keys)
                if step is None:
                    later.append(i)
                elif isinstance(step, OrderTicket):
                    answers[i] = step
                else:
                    steps.append((i, step))
                    provisional = -len(steps)  # counted by the checks of the next ones until journalled
                    self._inflight[provisional] = _provisional(provisional, step.new)
                    self._open[provisional] = self._inflight[provisional]
            created = await asyncio.gather(*(self._create(step) for _, step in steps), return_exceptions=True)
            for n in range(1, len(steps) + 1):
                self._inflight.pop(-n, None)
                self._open.pop(-n, None)
            for (i, step), got in zip(steps, created, strict=True):
                if isinstance(got, BaseException) and not isinstance(got, KeyTaken):
                    answers[i] = got  # not journalled (the database failed): that order's caller hears it
                    log.warning("account %d: order not journalled: %r", self.account_id, got)
                else:
                    answers[i] = await self._journalled(step, got)
            for i in later:
                answers[i] = await self._place(msgs[i])
        finally:
            for n in range(1, len(steps) + 1):
                self._inflight.pop(-n, None)
                self._open.pop(-n, None)
            for (msg, reply), answer in zip(queued, answers[1:], strict=True):
                if isinstance(answer, OrderTicket):
                    reply(self._placed(msg, answer), None)
                else:
                    reply(None, answer or ActorStopped("the account failed before this order was journalled"))
        if isinstance(answers[0], BaseException):
            raise answers[0]
        assert answers[0] is not None
        return self._placed(first, answers[0])

    async def _check(self, msg: PlaceOrder, base: OrderResult) -> OrderResult | None:
        """Why the order is refused before anything is journalled, or None when it may go."""
        deps = self.deps
        if msg.deadline is not None and asyncio.get_running_loop().time() > msg.deadline:
            return msgspec.structs.replace(
                base, status="unavailable", reason_code="not_journaled",
                reason="not journaled, not sent: the account was too busy to take the order in time")
        if len(self._open) >= deps.settings.max_open_orders_per_account:
            return msgspec.structs.replace(
                base, reason_code="max_open_orders",
                reason=f"{len(self._open)} orders are open on this account, the limit is "
                       f"{deps.settings.max_open_orders_per_account}: cancel some first")
        try:
            limits = await self._limits_of(msg.code)
            check_shape(msg.quantity, msg.price, deps.board.base_price(msg.code), limits)
            facts = await self._facts(msg, limits)
            check_order(facts, await self._limits(), deps.fees)
        except OrderRefused as exc:
            return msgspec.structs.replace(base, reason_code=exc.code, reason=exc.message)
        except (BrokerUnavailable, OutcomeUnknown) as exc:
            return msgspec.structs.replace(
                base, status="unavailable", reason_code="broker_unavailable",
                reason=f"not journaled, not sent: the broker did not give the balance ({exc})")
        except TimeoutError:
            return msgspec.structs.replace(
                base, status="unavailable", reason_code="no_quote",
                reason=f"not journaled, not sent: no quote for {msg.code} to value the order")
        return None

    def _duplicate(self, existing: Order, base: OrderResult, fp: str) -> OrderTicket:
        """The key's first order answers a repeat; another body under the key is a conflict."""
        if existing.fingerprint != fp:
            return OrderTicket(msgspec.structs.replace(
                base, status="conflict", order_id=existing.id, reason_code="idempotency_conflict",
                reason=f"idempotency key {base.client_order_id!r} was used for another order ({existing.id})"))
        outcome = self._outcomes.get(existing.id)
        return OrderTicket(self._result(existing), outcome)

    async def _send(self, order_id: int, req: OrderRequest) -> Sent:
        """The broker call, piped off the actor's mailbox: send once (resend only after EGW00201),
        then for a paper market order walk the book; the answer comes back as :class:`Sent`."""
        assert self.broker is not None
        settings, delay = self.deps.settings, self.deps.settings.order_retry_backoff_s
        ack: OrderAck | None = None
        error: BrokerError | None = None
        fills: PaperFills | None = None
        for attempt in range(settings.order_retry_max + 1):
            try:
                ack = await self.broker.place_order(req)
                break
            except BrokerUnavailable as exc:
                if exc.code != "EGW00201" or attempt == settings.order_retry_max:
                    error = exc
                    break
                log.warning("account %d: rate limited (EGW00201), resending in %.1fs", self.account_id, delay)
                await self.ctx.clock.sleep(delay)
                delay *= 2
            except BrokerError as exc:
                error = exc
                break
        if ack is not None and self.book is not None and req.price is None:
            try:
                fills = await self.book.await_fills(ack.broker_order_no)
            except NoQuote as exc:
                fills = PaperFills(fills=[], cancelled=f"no_quote: {exc}")
            except PaperCancelled as exc:
                fills = PaperFills(fills=[], cancelled=str(exc))
        return Sent(account_id=self.account_id, order_id=order_id, ack=ack, error=error, fills=fills)

    async def _on_sent(self, msg: Sent) -> None:
        order = self._inflight.get(msg.order_id)
        if order is None:
            return
        if msg.error is None:  # the broker has it: reserved until a balance read after now counts it
            self._acks += 1
            self._acked_since[order.id] = (self._acks, order)
            await self._accept(order, msg.ack, msg.fills)  # answered once the journal holds it (Accepted)
            return
        del self._inflight[msg.order_id]
        if not isinstance(msg.error, OrderRejected):
            self._balance = None  # it may have reached the broker: ask again
        result: OrderResult
        if isinstance(msg.error, OrderRejected):
            result = await self._close(order, "rejected", msg.error.code or "broker_rejected", msg.error.message)
        elif isinstance(msg.error, BrokerUnavailable):
            order = await self._update(order, "rejected", f"not sent, broker unavailable: {msg.error}")
            result = msgspec.structs.replace(self._result(order), reason_code="broker_unavailable")
        else:
            order = await self._update(order, "unknown", f"sent, answer lost: {msg.error}")
            result = msgspec.structs.replace(self._result(order), reason_code="outcome_unknown")
        self._answered(msg.order_id, result)

    def _answered(self, order_id: int, result: OrderResult) -> None:
        """The placing of ``order_id`` has its outcome: the web's ticket and ``reply_to`` hear it."""
        self._count(result)
        outcome = self._outcomes.pop(order_id, None)
        if outcome is not None and not outcome.done():
            outcome.set_result(result)
        if result.final and order_id in self.waiting:
            self._answer(self.waiting.pop(order_id), result)

    async def _accept(self, order: Order, ack: OrderAck, walk: PaperFills | None) -> None:
        """Journal the acceptance with the fills the broker made already (notices that beat the ack,
        a paper market order's walk) in one transaction, off the mailbox: the next order's journal
        entry can share its commit. The order stays in flight (reserved, never reconciled) until
        :class:`Accepted` comes back; a failed write crashes the actor, whose restart reconciles."""
        made = self.early_fills.pop(ack.broker_order_no, []) + (walk.fills if walk is not None else [])
        if made:
            self._fault("fill")
        booked = await self._books.book(self.account_id, made) if made else []
        accepted = self.deps.journal.accept(order.id, broker_order_no=ack.broker_order_no, fills=booked,
                                            now_ms=self.ctx.clock.now_ms())
        self.ctx.pipe_to_self(accepted, lambda journalled: Accepted(
            account_id=self.account_id, order=journalled, ack=ack, booked=booked, walk=walk))

    async def _on_accepted(self, msg: Accepted) -> None:
        """The acceptance is journalled: the events ``accepted`` (and the fill's), late notices, the
        remainder a paper walk could not fill, a marketable limit's cross; then the outcome."""
        order: Order = msg.order
        if self._inflight.pop(order.id, None) is None:
            return
        self._after_fills(order, msg.booked)
        self._fault("send")
        self._emit("accepted", msgspec.structs.replace(order, status="accepted", filled_quantity=0,
                                                       filled_value=0, fills=[]))
        if msg.booked:
            self._emit(fill_event(order.status), order)
            self._settled(order)
        for fill in self.early_fills.pop(msg.ack.broker_order_no, []):  # notices that came meanwhile
            if order.filled_quantity + fill.quantity <= order.quantity:
                order = await self._record(order, fill)
        result = self._result(order)
        walk: PaperFills | None = msg.walk
        if walk is not None:
            if walk.cancelled and not order.final:
                code = "no_quote" if walk.cancelled.startswith("no_quote: ") else "paper_cancelled"
                reason = walk.cancelled.removeprefix("no_quote: ")
                result = await self._close(order, "cancelled", code, reason)
        elif self.book is not None and self.book.crossed(msg.ack.broker_order_no):
            await self._on_crossed()  # a marketable limit: filled against the book as it stands
            result = self._result(await self.deps.journal.get(self.account_id, order.id) or order)
        self._answered(order.id, result)

    def _average_price(self, code: str) -> int:
        return self.avg_cost.get(code, 0)

    def _market(self, code: str) -> str:
        """The code's market for a sale's tax: the broker's word when it gave one (KIS, once learnt),
        else the market-data source's (the simulated markets; a replay's file)."""
        known = self._broker_market(code) if self._broker_market is not None else None
        return known or self.deps.board.market(code)

    def _after_fills(self, order: Order, booked: list[Fill]) -> None:
        """Fills journalled: the balance is stale, and today's realised P&L moves by theirs."""
        if booked:
            self._balance = None
            if self._realized is not None:
                day = self._realized[0]
                gained = sum(f.realized_pnl for f in booked if kst_date(f.ts_ms) == day)
                self._realized = (day, self._realized[1] + gained)
        self._track(order)

    async def _limits_of(self, code: str) -> tuple[int, int] | None:
        """The exchange's (lower, upper) of ``code`` when the broker tells them (KIS), else None."""
        return None if self._exchange_limits is None else await self._exchange_limits(code)

    async def _facts(self, msg: PlaceOrder, limits: tuple[int, int] | None = None) -> OrderFacts:
        deps, now = self.deps, self.ctx.clock.now_ms()
        if msg.code not in self._watched:
            self._watched.add(msg.code)
            deps.board.watch(msg.code)
        balance = await self._balance_now()
        holding = next((h for h in balance.holdings if h.code == msg.code), None)
        quote = deps.board.latest(msg.code)
        # the pre-open has no book yet; the around-the-clock demo market has no auctions (and never builds
        # the KRX calendar: seconds of CPU on the loop, which stalled a cluster node past its leases)
        if quote is None and msg.price is None and (deps.settings.market_hours_ignored or auction_at(now) is None):
            quote = await deps.board.quote_after(msg.code, 0, deps.settings.paper_quote_timeout_s)
        levels = () if quote is None else (quote.asks if msg.side == "buy" else quote.bids)
        reference = levels[0] if levels else (deps.board.base_price(msg.code) if msg.price is None else 0)
        known = holding.current_price if holding is not None else 0
        unit = known or msg.price or reference
        base_price = deps.board.base_price(msg.code)
        if deps.settings.market_hours_ignored:
            market_open = True
        else:
            if not self._calendar_loaded:  # built once per process (~1 s, blocking): off the loop
                await asyncio.get_running_loop().run_in_executor(None, load_calendar)
                self._calendar_loaded = True
            market_open = accepts_orders(now)  # from 08:30 (the opening call auction) to the close
        open_buys = [o for o in self._open.values() if o.side == "buy" and o.code == msg.code]
        return OrderFacts(
            side=msg.side, quantity=msg.quantity, price=msg.price, reference=reference,
            reserve_price=(msg.price if msg.price is not None else limits[1] if limits is not None
                           else price_limits(base_price)[1] if base_price > 0 else reference),
            limits=limits,
            base_price=base_price, cash=self._buying_power(balance),
            held=self._sellable(balance, msg.code),
            held_value=(holding.quantity if holding is not None else 0) * unit,
            open_buy_value=sum(o.open_quantity * (o.price or unit) for o in open_buys),
            realized_today=await self._realized_today(now),
            market_open=market_open,
        )

    async def _realized_today(self, now_ms: int) -> int:
        """Realised P&L of the KST day: read once a day, then kept up to date by the fills journalled here."""
        day = kst_date(now_ms)
        if self._realized is None or self._realized[0] != day:
            self._realized = (day, await self.deps.journal.realized_since(self.account_id, kst_midnight_ms(day)))
        return self._realized[1]

    def _uncounted(self) -> list[Order]:
        """Orders the cached balance does not count yet: in flight (until their acceptance is journalled),
        or taken since it was asked for."""
        inflight = self._inflight
        return [*inflight.values(), *(o for _, o in self._acked_since.values() if o.id not in inflight)]

    def _buying_power(self, balance: BrokerBalance) -> int:
        """The broker's orderable cash less what the orders it has not counted yet reserve."""
        reserved = sum(self.deps.fees.buy_cost(o.quantity * self._reserve_unit(o))
                       for o in self._uncounted() if o.side == "buy")
        return balance.buying_power - reserved

    def _sellable(self, balance: BrokerBalance, code: str) -> int:
        holding = next((h for h in balance.holdings if h.code == code), None)
        sellable = holding.sellable if holding is not None else 0
        return sellable - sum(o.quantity for o in self._uncounted() if o.side == "sell" and o.code == code)

    def _reserve_unit(self, order: Order) -> int:
        if order.price is not None:
            return order.price
        base = self.deps.board.base_price(order.code)
        if base > 0:
            return price_limits(base)[1]
        quote = self.deps.board.latest(order.code)
        return quote.asks[0] if quote is not None and quote.asks else 0

    async def _limits(self) -> Limits:
        if self._risk is None:
            self._risk = await self.deps.journal.risk(self.account_id)
        s, o = self.deps.settings, self._risk
        return Limits(
            max_order_value=s.max_order_value if o.max_order_value is None else o.max_order_value,
            max_position_value=s.max_position_value if o.max_position_value is None else o.max_position_value,
            daily_loss_limit=s.daily_loss_limit if o.daily_loss_limit is None else o.daily_loss_limit,
            halted=o.halted, halted_reason=o.halted_reason,
        )

    # -- cancel and modify ---------------------------------------------------------------

    async def _amendable(self, order_id: int, what: str, verb: str) -> Order | OrderResult:
        order = await self.deps.journal.get(self.account_id, order_id)
        if order is None:
            return OrderResult(account_id=self.account_id, client_order_id="", status="not_found",
                               order_id=order_id, reason_code="not_found", reason="no such order")
        code = f"not_{what}"
        if order.final:
            return msgspec.structs.replace(self._result(order), reason_code=code,
                                           reason=f"order {order.id} is {order.status}: nothing left to {verb}")
        unconfirmed = order.status in ("pending", "unknown") or order.broker_order_no is None
        if unconfirmed or order.id in self._inflight:
            return msgspec.structs.replace(
                self._result(order), reason_code=code,
                reason=f"order {order.id} is {order.status}: the broker has not confirmed it yet, try again")
        return order

    async def _cancel(self, msg: CancelOrder) -> OrderResult:
        found = await self._amendable(msg.order_id, "cancellable", "cancel")
        if isinstance(found, OrderResult):
            return found
        order = found
        if order.action == "cancel":
            return msgspec.structs.replace(self._result(order), reason_code="cancel_pending",
                                           reason="the cancel was sent; its answer is awaited")
        clock = self.ctx.clock
        order = await self.deps.journal.set_action(order.id, "cancel", clock.now_ms())
        self._fault("cancel")
        assert self.broker is not None and order.broker_order_no is not None
        try:
            ack = await self.broker.cancel_order(CancelRequest(
                broker_order_no=order.broker_order_no, code=order.code, side=order.side,
                quantity=order.quantity - order.filled_quantity, price=order.price))
        except OrderRejected as exc:
            order = await self.deps.journal.set_action(order.id, "", clock.now_ms())
            await self._reconcile()
            order = await self.deps.journal.get(self.account_id, order.id) or order
            return msgspec.structs.replace(self._result(order), reason_code="not_cancellable",
                                           reason=f"the broker refused the cancel: {exc.message}")
        except BrokerUnavailable as exc:
            order = await self.deps.journal.set_action(order.id, "", clock.now_ms())
            return msgspec.structs.replace(self._result(order), status="unavailable",
                                           reason_code="broker_unavailable",
                                           reason=f"the cancel was not sent, broker unavailable: {exc}")
        except OutcomeUnknown as exc:
            return msgspec.structs.replace(self._result(order), reason_code="cancel_pending",
                                           reason=f"the cancel was sent, its answer lost ({exc}); reconciling")
        log.info("account %d: order %d cancelled (%d shares)", self.account_id, order.id, ack.quantity)
        return await self._cancelled(order, msg.reason)

    async def _cancelled(self, order: Order, reason: str, status: str = "cancelled") -> OrderResult:
        now = self.ctx.clock.now_ms()
        await self.deps.journal.set_action(order.id, "", now)
        order = await self._update(order, status, reason)
        self._balance = None
        return self._result(order)

    async def _modify(self, msg: ModifyOrder) -> OrderResult:
        found = await self._amendable(msg.order_id, "modifiable", "modify")
        if isinstance(found, OrderResult):
            return found
        order = found
        price = msg.price if msg.price is not None else order.price
        quantity = msg.quantity if msg.quantity is not None else order.quantity
        refuse = msgspec.structs.replace(self._result(order), status="refused")
        if order.price is None and msg.price is not None:
            return msgspec.structs.replace(refuse, reason_code="not_modifiable",
                                           reason="a market order has no price to modify")
        if order.action:
            return msgspec.structs.replace(refuse, reason_code="not_modifiable",
                                           reason=f"a {order.action} of order {order.id} is awaiting its answer")
        if price == order.price and quantity == order.quantity:
            return msgspec.structs.replace(refuse, reason_code="nothing_to_modify",
                                           reason="the price and quantity are the order's already")
        if quantity > order.quantity:
            return msgspec.structs.replace(refuse, reason_code="invalid_quantity",
                                           reason=f"a quantity can only go down (from {order.quantity}); "
                                                  "place a new order for more")
        if quantity <= order.filled_quantity:
            return msgspec.structs.replace(refuse, reason_code="invalid_quantity",
                                           reason=f"{order.filled_quantity} shares are filled: the quantity must "
                                                  "stay above that (cancel the order to keep only those)")
        try:
            check_shape(quantity, price, self.deps.board.base_price(order.code), await self._limits_of(order.code))
            if order.side == "buy" and price is not None and order.price is not None and price > order.price:
                more = self.deps.fees.buy_cost((quantity - order.filled_quantity) * price) - self.deps.fees.buy_cost(
                    (order.quantity - order.filled_quantity) * order.price)
                power = self._buying_power(await self._balance_now())
                if more > power:
                    raise OrderRefused("insufficient_cash",
                                       f"the higher price needs {more} KRW more; buying power is {power} KRW")
        except OrderRefused as exc:
            return msgspec.structs.replace(refuse, reason_code=exc.code, reason=exc.message)
        clock = self.ctx.clock
        order = await self.deps.journal.set_action(order.id, "modify", clock.now_ms(), price=price,
                                                   quantity=quantity)
        self._fault("modify")
        assert self.broker is not None and order.broker_order_no is not None and price is not None
        try:
            ack = await self.broker.modify_order(ModifyRequest(
                broker_order_no=order.broker_order_no, code=order.code, side=order.side,
                remaining=order.quantity - order.filled_quantity, quantity=quantity - order.filled_quantity,
                old_price=order.price or 0, price=price))
        except OrderRejected as exc:
            order = await self.deps.journal.set_action(order.id, "", clock.now_ms())
            return msgspec.structs.replace(self._result(order), status="refused", reason_code="not_modifiable",
                                           reason=f"the broker refused the modify: {exc.message}")
        except BrokerUnavailable as exc:
            order = await self.deps.journal.set_action(order.id, "", clock.now_ms())
            return msgspec.structs.replace(self._result(order), status="unavailable",
                                           reason_code="broker_unavailable",
                                           reason=f"the modify was not sent, broker unavailable: {exc}")
        except OutcomeUnknown as exc:
            return msgspec.structs.replace(self._result(order), reason_code="modify_pending",
                                           reason=f"the modify was sent, its answer lost ({exc}); reconciling")
        order = await self.deps.journal.amend(order.id, price=price, quantity=quantity,
                                              broker_order_no=ack.broker_order_no, now_ms=clock.now_ms())
        self._track(order)
        self._balance = None
        self._emit("modified", order)
        if self.book is not None and self.book.crossed(ack.broker_order_no):
            await self._on_crossed()
            order = await self.deps.journal.get(self.account_id, order.id) or order
        return self._result(order)

    async def _cancel_open(self, msg: CancelOpen) -> int:
        cancelled = 0
        for order in list(self._open.values()):
            if order.source != msg.source:
                continue
            result = await self._cancel(CancelOrder(account_id=self.account_id, order_id=order.id,
                                                    reason=msg.reason))
            cancelled += result.status == "cancelled"
        return cancelled

    async def _on_close(self) -> None:
        """The session closed: open day orders expire (paper at once; KIS by reconciliation)."""
        if self.book is not None:
            expired = set(await self.book.expire_open("the session closed (day order)"))
            for order in list(self._open.values()):
                if order.broker_order_no in expired:
                    await self._cancelled(order, "the session closed with this remainder (day order)", "expired")
        else:
            try:
                await self._reconcile()
            except (BrokerUnavailable, OutcomeUnknown) as exc:
                log.warning("account %d: close-of-day reconciliation postponed: %s", self.account_id, exc)

    # -- fills, events, results ------------------------------------------------------------

    async def _record(self, order: Order, fill: BrokerFill) -> Order:
        """Journal one fill of ``order`` (the broker has it already)."""
        self._fault("fill")
        booked = await self._books.book(self.account_id, [fill])
        order = await self.deps.journal.add_fill(order.id, booked[0], self.ctx.clock.now_ms())
        self._after_fills(order, booked)
        self._emit(fill_event(order.status), order)
        self._settled(order)
        return order

    async def _on_notice(self, fill: BrokerFill) -> None:
        order = await self.deps.journal.find_by_broker_no(self.account_id, fill.broker_order_no)
        if order is None or order.id in self._inflight:  # acceptance not handled yet: recorded then
            self.early_fills.setdefault(fill.broker_order_no, []).append(fill)
            return
        if order.filled_quantity + fill.quantity > order.quantity:
            log.warning("account %d: fill notice beyond order %d's quantity ignored", self.account_id,
                order.id)
            return
        await self._record(order, fill)

    async def _on_crossed(self) -> None:
        if self.book is None:
            return
        fills, cancelled = await self.book.fill_resting()
        for fill in fills:
            order = await self.deps.journal.find_by_broker_no(self.account_id, fill.broker_order_no)
            if order is None or order.id in self._inflight:  # acceptance not handled yet: recorded then
                self.early_fills.setdefault(fill.broker_order_no, []).append(fill)
            else:
                await self._record(order, fill)
        if cancelled:
            await self._reconcile()

    async def _update(self, order: Order, status: Any, reason: str) -> Order:
        order = await self.deps.journal.update(order.id, status=status, now_ms=self.ctx.clock.now_ms(),
                                               reason=reason)
        self._track(order)
        if status in ("rejected", "cancelled", "expired"):
            self._emit(status, order)
        self._settled(order)
        return order

    async def _close(self, order: Order, status: str, reason_code: str, reason: str) -> OrderResult:
        order = await self._update(order, status, reason)
        return msgspec.structs.replace(self._result(order), reason_code=reason_code)

    def _track(self, order: Order) -> None:
        if order.final:
            self._open.pop(order.id, None)
        elif order.id not in self._inflight:
            self._open[order.id] = order

    def _settled(self, order: Order) -> None:
        if order.final and order.id in self.waiting and order.id not in self._inflight:
            self._answer(self.waiting.pop(order.id), self._result(order))

    def _result(self, order: Order) -> OrderResult:
        return OrderResult(account_id=self.account_id, client_order_id=order.client_order_id,
                           status=order.status, order_id=order.id, code=order.code, side=order.side,
                           quantity=order.quantity, filled_quantity=order.filled_quantity,
                           average_price=order.average_price, filled_value=order.filled_value,
                           commission=sum(f.commission for f in order.fills),
                           tax=sum(f.tax for f in order.fills), reason=order.reason)

    def _emit(self, event: OrderEventKind, order: Order) -> None:
        log.info("account %d: order %d %s: %s %s %d @ %s, filled %d for %d KRW%s", self.account_id, order.id,
                 event, order.side, order.code, order.quantity, order.price or "market", order.filled_quantity,
                 order.filled_value, f" ({order.reason})" if order.reason else "")  # the audit line; no secrets
        hub = self.deps.sessions_hub()
        if hub is None or self.info is None:
            return
        if not hub.try_tell(ToUser(self.info.user_id, OrderEvent(event, order_payload(order)))):
            log.warning("account %d: order event %s not delivered (sessions hub full or stopped)",
                        self.account_id, event)

    def _fault(self, step: str) -> None:
        if self.deps.fault is not None:
            self.deps.fault(step)

    # -- balance and reconciliation ----------------------------------------------------------

    async def _balance_now(self) -> BrokerBalance:
        assert self.broker is not None
        now = self.ctx.clock.monotonic()
        if self._balance is not None and now - self._balance[0] < self.deps.settings.balance_cache_s:
            return self._balance[1]
        asked_after = self._acks  # orders taken before the question are in the broker's answer
        balance = await self.broker.balance()
        self._balance = (now, balance)
        self._acked_since = {k: v for k, v in self._acked_since.items() if v[0] > asked_after}
        self.avg_cost = {h.code: h.average_price for h in balance.holdings}
        return balance

    async def _reconcile(self) -> int:
        assert self.broker is not None
        moved = await reconcile(self.account_id, self.deps.journal, self.broker, self.deps.fees,
                                self.ctx.clock.now_ms(), self._emit, skip=set(self._inflight),
                                expire_days=not self.deps.settings.market_hours_ignored,
                                market=self._market, average_price=self._average_price)
        for order in moved:
            self._track(order)
            self._settled(order)
        if moved:
            self._balance = None
            self._realized = None  # fills found here count toward today's loss: read the journal again
        return len(moved)

    def state_view(self) -> dict[str, Any]:
        return {"broker": self.info.broker if self.info else "-", "orders_placed": self.orders_placed,
                "placed_together": self.placed_together,
                "awaiting_result": len(self.waiting), "in_flight": len(self._inflight),
                "open_orders": len(self._open), "orders_by_status": dict(self.orders_by_status)}
