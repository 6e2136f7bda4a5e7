"""AccountActor: one per broker account (``/accounts/<id>``), the only path to its broker.

Protocol (tell through the hub ``/accounts``, which spawns the actor on demand;
the web layer asks the actor itself, with a timeout, after ``AccountRef``):

- :class:`PlaceOrder` → :class:`OrderResult`. The result is the return value
  (for ``ask``) and is also told to ``reply_to`` when the order reaches a final
  outcome: at once for refused, rejected, cancelled, unknown, conflicting and
  filled orders; for an accepted limit order that rests, later, when it is
  filled or cancelled. A swing tells ``PlaceOrder(..., reply_to=self)`` and
  handles the ``OrderResult`` message.
- :class:`GetBalance` → :class:`~engine.brokers.base.BrokerBalance` (cached
  ``balance_cache_s``; every order or fill drops the cache).
- :class:`Reconcile` → int (orders moved): open orders of the journal against
  the broker's ``orders_today()``. Also run in ``on_start``, so a restarted
  actor (or app) never resends: it looks the order up.

One message at a time: one order at a time per account. The order path::

    idempotency key lookup ─▶ checks (engine.risk) ─▶ journal pending ─▶ fault("journal")
      ─▶ broker.place_order ─▶ journal accepted ─▶ fault("send") ─▶ event "accepted"
      ─▶ (paper market order) fill ─▶ fault("fill") ─▶ journal the fill ─▶ event "filled"

``fault(step)`` is a test-only hook (None in production) that crash tests use
to stop at a named step. Order events go to the owner's /kis_socket sessions
through the session hub. Reconciliation lives in :mod:`actors.reconcile`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, assert_never

import msgspec

from actors.account_deps import AccountDeps, AccountInfo, Fault, order_payload
from actors.account_messages import (
    AccountMsg, BalanceUnavailable, FillArrived, GetBalance, OrderResult, PlaceOrder, QuotesCrossed, Reconcile,
)
from actors.reconcile import reconcile
from actors.session_hub import ToUser
from actors.ws_session import OrderEvent
from engine.brokers.base import (
    Broker, BrokerBalance, BrokerFill, BrokerUnavailable, OrderAck, OrderRejected, OrderRequest,
        OutcomeUnknown,
)
from engine.brokers.paper import NoQuote, PaperBroker, PaperCancelled, PaperFill
from engine.journal import Fill, NewOrder, Order, fingerprint
from engine.market.krx import is_open, kst_date, kst_midnight_ms, load_calendar
from engine.risk import Limits, OrderFacts, OrderRefused, check_order, check_shape
from engine.runtime import Actor, ActorRef, MailboxSpec

__all__ = [
    "AccountActor", "AccountDeps", "AccountInfo", "AccountMsg", "BalanceUnavailable", "Fault", "FillArrived",
    "GetBalance", "OrderResult", "PlaceOrder", "QuotesCrossed", "Reconcile", "order_payload",
]

log = logging.getLogger(__name__)


class AccountActor(Actor):
    mailbox = MailboxSpec(limit=256)  # a full mailbox refuses new orders (503), never drops one

    def __init__(self, account_id: int, deps: AccountDeps) -> None:
        self.account_id = account_id
        self.deps = deps
        self.info: AccountInfo | None = None
        self.broker: Broker | None = None
        self.waiting: dict[int, ActorRef] = {}  # order id -> reply_to, for orders not final yet
        self.early_fills: dict[str, list[BrokerFill]] = {}  # notices that beat their ack
        self.avg_cost: dict[str, int] = {}  # code -> average price, from the last balance
        self._balance: tuple[float, BrokerBalance] | None = None
        self._watched: set[str] = set()
        self.orders_placed = 0
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
                                 market_now=deps.market_now)
            await broker.start()
            self.broker = broker
        else:
            if deps.kis_broker is None:
                raise RuntimeError("no KIS broker factory configured")
            self.broker = deps.kis_broker(self.info.credentials)
            subscribe = getattr(self.broker, "subscribe_fills", None)
            if subscribe is not None:
                await subscribe(lambda fill: self._tell_self(FillArrived(self.account_id, fill)))
        log.info("account %s started (%s)", me.path, self.info.broker)
        try:
            await self._reconcile()
        except (BrokerUnavailable, OutcomeUnknown) as exc:
            log.warning("account %d: reconciliation postponed, broker unavailable: %s", self.account_id, exc)

    async def on_stop(self) -> None:
        for code in self._watched:
            self.deps.board.unwatch(code)
        self._watched.clear()
        if self.broker is not None:
            broker, self.broker = self.broker, None
            await broker.close()

    def _tell_self(self, msg: Any) -> None:
        if not self.ctx.self_ref.try_tell(msg):
            log.warning("account %d: %s not queued (mailbox full or stopped); the next reconciliation "
                        "catches up", self.account_id, type(msg).__name__)

    # -- messages ----------------------------------------------------------------------

    async def receive(self, msg: AccountMsg) -> Any:
        match msg:
            case PlaceOrder():
                result = await self._place(msg)
                self.orders_by_status[result.status] = self.orders_by_status.get(result.status, 0) + 1
                self._answer(msg.reply_to, result)
                return result
            case GetBalance():
                try:
                    return await self._balance_now()
                except (BrokerUnavailable, OutcomeUnknown) as exc:
                    return BalanceUnavailable(str(exc))
            case Reconcile():
                try:
                    return await self._reconcile()
                except (BrokerUnavailable, OutcomeUnknown) as exc:
                    log.warning("account %d: reconciliation postponed: %s", self.account_id, exc)
                    return 0
            case FillArrived():
                await self._on_notice(msg.fill)
            case QuotesCrossed():
                await self._on_crossed()
            case _:
                assert_never(msg)
        return None

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

    async def _place(self, msg: PlaceOrder) -> OrderResult:
        deps, clock = self.deps, self.ctx.clock
        key = msg.client_order_id or uuid.uuid4().hex
        fp = fingerprint(msg.code, msg.side, msg.quantity, msg.price)
        base = OrderResult(account_id=self.account_id, client_order_id=key, status="refused", code=msg.code,
                           side=msg.side, quantity=msg.quantity)
        existing = await deps.journal.find(self.account_id, key)
        if existing is not None:
            if existing.fingerprint != fp:
                return msgspec.structs.replace(
                    base, status="conflict", order_id=existing.id, reason_code="idempotency_conflict",
                    reason=f"idempotency key {key!r} was used for another order ({existing.id})")
            return self._result(existing, key)  # the first order, never a second one
        try:
            check_shape(msg.quantity, msg.price, deps.board.base_price(msg.code))
            facts = await self._facts(msg)
            check_order(facts, await self._limits(), deps.fees)
        except OrderRefused as exc:
            return msgspec.structs.replace(base, reason_code=exc.code, reason=exc.message)
        except TimeoutError:
            return msgspec.structs.replace(base, status="unavailable", reason_code="no_quote",
                                           reason=f"no quote for {msg.code} to value the order")
        order = await deps.journal.create(NewOrder(
            account_id=self.account_id, client_order_id=key, fingerprint=fp, source=msg.source, code=msg.code,
            side=msg.side, quantity=msg.quantity, price=msg.price, created_ms=clock.now_ms()))
        self.orders_placed += 1
        self._fault("journal")
        self._balance = None
        req = OrderRequest(client_order_id=key, code=msg.code, side=msg.side, quantity=msg.quantity,
                           price=msg.price)
        try:
            ack = await self._send(req)
        except OrderRejected as exc:
            return await self._close(order, "rejected", exc.code or "broker_rejected", exc.message)
        except BrokerUnavailable as exc:
            order = await self._update(order, "rejected", f"not sent, broker unavailable: {exc}")
            return msgspec.structs.replace(self._result(order, key), reason_code="broker_unavailable")
        except OutcomeUnknown as exc:
            order = await self._update(order, "unknown", f"sent, answer lost: {exc}")
            return msgspec.structs.replace(self._result(order, key), reason_code="outcome_unknown")
        order = await deps.journal.update(order.id, status="accepted", now_ms=clock.now_ms(),
                                          broker_order_no=ack.broker_order_no)
        self._fault("send")
        self._emit("accepted", order)
        for fill in self.early_fills.pop(ack.broker_order_no, []):
            order = await self._record(order, fill)
        if isinstance(self.broker, PaperBroker) and msg.price is None:
            try:
                for fill in await self.broker.await_fills(ack.broker_order_no):
                    order = await self._record(order, fill)
            except NoQuote as exc:
                return await self._close(order, "cancelled", "no_quote", str(exc))
            except PaperCancelled as exc:
                return await self._close(order, "cancelled", "paper_cancelled", str(exc))
        return self._result(order, key)

    async def _send(self, req: OrderRequest) -> OrderAck:
        """Send once; resend only after EGW00201 (rate limited: KIS did not take it)."""
        assert self.broker is not None
        settings, delay = self.deps.settings, self.deps.settings.order_retry_backoff_s
        for attempt in range(settings.order_retry_max + 1):
            try:
                return await self.broker.place_order(req)
            except BrokerUnavailable as exc:
                if exc.code != "EGW00201" or attempt == settings.order_retry_max:
                    raise
                log.warning("account %d: rate limited (EGW00201), resending in %.1fs", self.account_id, delay)
                await self.ctx.clock.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def _facts(self, msg: PlaceOrder) -> OrderFacts:
        deps, now = self.deps, self.ctx.clock.now_ms()
        if msg.code not in self._watched:
            self._watched.add(msg.code)
            deps.board.watch(msg.code)
        balance = await self._balance_now()
        holding = next((h for h in balance.holdings if h.code == msg.code), None)
        held = holding.quantity if holding is not None else 0
        quote = deps.board.latest(msg.code)
        if quote is None and msg.price is None:
            quote = await deps.board.quote_after(msg.code, 0, deps.settings.paper_quote_timeout_s)
        levels = () if quote is None else (quote.asks if msg.side == "buy" else quote.bids)
        reference = levels[0] if levels else 0
        known = holding.current_price if holding is not None else 0
        unit = known or msg.price or reference
        if deps.settings.market_hours_ignored:
            market_open = True
        else:
            await asyncio.get_running_loop().run_in_executor(None, load_calendar)
            market_open = is_open(now)
        return OrderFacts(
            side=msg.side, quantity=msg.quantity, price=msg.price, reference=reference,
            base_price=deps.board.base_price(msg.code), cash=balance.cash, held=held, held_value=held * unit,
            realized_today=await deps.journal.realized_since(self.account_id, kst_midnight_ms(kst_date(now))),
            market_open=market_open,
        )

    async def _limits(self) -> Limits:
        s, o = self.deps.settings, await self.deps.journal.risk(self.account_id)
        return Limits(
            max_order_value=s.max_order_value if o.max_order_value is None else o.max_order_value,
            max_position_value=s.max_position_value if o.max_position_value is None else o.max_position_value,
            daily_loss_limit=s.daily_loss_limit if o.daily_loss_limit is None else o.daily_loss_limit,
            halted=o.halted, halted_reason=o.halted_reason,
        )

    # -- fills, events, results ------------------------------------------------------------

    async def _record(self, order: Order, fill: BrokerFill) -> Order:
        """Journal one fill of ``order`` (the broker has it already)."""
        self._fault("fill")
        value = fill.quantity * fill.price
        if isinstance(fill, PaperFill):
            commission, tax, realized = fill.commission, fill.tax, fill.realized_pnl
        else:
            fees = self.deps.fees
            commission, tax = fees.commission(value), fees.tax(fill.side, value, fill.ts_ms)
            avg = self.avg_cost.get(fill.code, 0)
            realized = value - commission - tax - fill.quantity * avg if fill.side == "sell" and avg else 0
        order = await self.deps.journal.add_fill(order.id, Fill(
            quantity=fill.quantity, price=fill.price, commission=commission, tax=tax, realized_pnl=realized,
            ts_ms=fill.ts_ms), self.ctx.clock.now_ms())
        self._balance = None
        self._emit(order.status, order)
        self._settled(order)
        return order

    async def _on_notice(self, fill: BrokerFill) -> None:
        order = await self.deps.journal.find_by_broker_no(self.account_id, fill.broker_order_no)
        if order is None:
            self.early_fills.setdefault(fill.broker_order_no, []).append(fill)
            return
        if order.filled_quantity + fill.quantity > order.quantity:
            log.warning("account %d: fill notice beyond order %d's quantity ignored", self.account_id,
                order.id)
            return
        await self._record(order, fill)

    async def _on_crossed(self) -> None:
        if not isinstance(self.broker, PaperBroker):
            return
        fills, cancelled = await self.broker.fill_resting()
        for fill in fills:
            order = await self.deps.journal.find_by_broker_no(self.account_id, fill.broker_order_no)
            if order is not None:
                await self._record(order, fill)
        if cancelled:
            await self._reconcile()

    async def _update(self, order: Order, status: Any, reason: str) -> Order:
        order = await self.deps.journal.update(order.id, status=status, now_ms=self.ctx.clock.now_ms(),
                                               reason=reason)
        if status in ("rejected", "cancelled"):
            self._emit(status, order)
        self._settled(order)
        return order

    async def _close(self, order: Order, status: str, reason_code: str, reason: str) -> OrderResult:
        order = await self._update(order, status, reason)
        return msgspec.structs.replace(self._result(order, order.client_order_id), reason_code=reason_code)

    def _settled(self, order: Order) -> None:
        if order.final and order.id in self.waiting:
            self._answer(self.waiting.pop(order.id), self._result(order, order.client_order_id))

    def _result(self, order: Order, key: str) -> OrderResult:
        return OrderResult(account_id=self.account_id, client_order_id=key, status=order.status,
                           order_id=order.id, code=order.code, side=order.side, quantity=order.quantity,
                           filled_quantity=order.filled_quantity, average_price=order.average_price,
                           reason=order.reason)

    def _emit(self, event: str, order: Order) -> None:
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
        balance = await self.broker.balance()
        self._balance = (now, balance)
        self.avg_cost = {h.code: h.average_price for h in balance.holdings}
        return balance

    async def _reconcile(self) -> int:
        assert self.broker is not None
        moved = await reconcile(self.account_id, self.deps.journal, self.broker, self.deps.fees,
                                self.ctx.clock.now_ms(), self._emit)
        for order in moved:
            self._settled(order)
        if moved:
            self._balance = None
        return len(moved)

    def state_view(self) -> dict[str, Any]:
        return {"broker": self.info.broker if self.info else "-", "orders_placed": self.orders_placed,
                "awaiting_result": len(self.waiting), "orders_by_status": dict(self.orders_by_status)}
