"""Reconciliation: the journal's open orders against what the broker knows, each on its own date.

Nothing is ever resent. For each open order (pending, unknown, accepted,
partially_filled), oldest first:

- with a broker order number: that order's status;
- without one (``pending``: crashed before or while sending; ``unknown``: the
  answer was lost): the broker's oldest order of today with the same code,
  side and quantity, placed no earlier than the journal entry (less a second
  of clock skew), that no other journal entry claims. KIS orders carry no
  client order id, so this match is how the journal finds them.

Orders are looked up with ``broker.orders_on(day)`` for the KST day each was
created on (an order left pending by a crash near the close is found the next
day on its own date). Found: the broker order number is recorded, fills the
journal lacks are added (one fill for the missing quantity at the price that
makes the average the broker's, booked by :class:`~actors.account_books.FillBooks`
as a fill notice is: its commission and tax, and a sale's realised P&L on the
cost basis of the holding as the journal's fills leave it, so it counts toward
the daily loss limit like any other fill),
and the status follows (filled, cancelled,
expired, or accepted). A remainder still open at the broker after its day's
session closed is ``expired`` (KRX day orders end with the day). Not found: a
``pending`` or ``unknown`` order never reached the broker → ``rejected``; an
accepted one is left alone.

A cancel or modify journalled (``action``) and not confirmed: a modify the
broker made shows as an order whose ``original_no`` is ours (KIS gives it a new
number) and is adopted; one it never made is dropped (``action`` cleared, the
order unchanged). A cancel whose remainder is still open is sent again (a
cancel only ever removes what is left, so sending it twice is harmless).
Orders whose broker call is running (``skip``) are not touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from actors.account_books import FillBooks
from engine.brokers.base import Broker, BrokerError, BrokerFill, BrokerOrderStatus, CancelRequest
from engine.journal import Journal, Order
from engine.market.krx import kst_date, kst_midnight_ms, session_bounds
from engine.market.listing import DEFAULT_MARKET
from engine.risk import Fees

log = logging.getLogger(__name__)

SKEW_MS = 1_000
NOT_FOUND = "not found at the broker on reconciliation: never placed"


async def reconcile(account_id: int, journal: Journal, broker: Broker, fees: Fees, now_ms: int,
                    emit: Callable[[str, Order], None], skip: set[int] | None = None,
                    expire_days: bool = True, market: Callable[[str], str] | None = None,
                    average_price: Callable[[str], int] | None = None) -> list[Order]:
    """Move the journal's open orders to what the broker says; returns the orders changed.

    ``market`` names a code's market (the sale's tax); ``average_price`` the broker's average price
    of a holding (0 unknown), for shares of a sale the journal never saw bought."""
    books = FillBooks(journal, fees, market or (lambda code: DEFAULT_MARKET), average_price or (lambda code: 0))
    open_orders = [o for o in await journal.open_orders(account_id) if not skip or o.id not in skip]
    if not open_orders:
        return []
    days: dict[str, list[BrokerOrderStatus]] = {}
    for order in open_orders:
        day = kst_date(order.created_ms).strftime("%Y%m%d")
        if day not in days:
            days[day] = await broker.orders_on(day)
    oldest = min(o.created_ms for o in open_orders)
    claimed = await journal.broker_numbers_since(account_id, kst_midnight_ms(kst_date(oldest)) - 86_400_000)
    changed: list[Order] = []
    for order in open_orders:
        statuses = days[kst_date(order.created_ms).strftime("%Y%m%d")]
        by_no = {s.broker_order_no: s for s in statuses}
        status = by_no.get(order.broker_order_no) if order.broker_order_no else _match(order, statuses,
            claimed)
        if status is None:
            if order.status in ("pending", "unknown"):
                order = await journal.update(order.id, status="rejected", now_ms=now_ms, reason=NOT_FOUND)
                emit("rejected", order)
                changed.append(order)
            continue
        claimed.add(status.broker_order_no)
        moved = await _apply(order, status, journal, books, now_ms, emit)
        if order.action and not moved.final:
            moved = await _settle_action(moved, status, statuses, journal, broker, now_ms, emit)
        if expire_days and not moved.final and _day_over(moved.created_ms, now_ms):
            moved = await journal.update(moved.id, status="expired", now_ms=now_ms,
                                         reason="its day's session closed with this remainder (day order)")
            emit("expired", moved)
        if moved != order:
            changed.append(moved)
    if changed:
        log.info("account %d: reconciliation moved %d orders", account_id, len(changed))
    return changed


def _match(order: Order, statuses: list[BrokerOrderStatus], claimed: set[str]) -> BrokerOrderStatus | None:
    for status in sorted(statuses, key=lambda s: (s.ordered_ms, s.broker_order_no)):
        if (status.broker_order_no not in claimed and not status.original_no and status.code == order.code and status.side == order.side
                and status.quantity == order.quantity and status.ordered_ms >= order.created_ms - SKEW_MS):
            return status
    return None


async def _apply(order: Order, status: BrokerOrderStatus, journal: Journal, books: FillBooks, now_ms: int,
                 emit: Callable[[str, Order], None]) -> Order:
    if order.broker_order_no != status.broker_order_no or order.status in ("pending", "unknown"):
        order = await journal.update(order.id,
            status="accepted" if order.filled_quantity == 0 else order.status,
                                     now_ms=now_ms, broker_order_no=status.broker_order_no)
        emit("accepted", order)
    missing = min(status.filled_quantity, order.quantity) - order.filled_quantity
    if missing > 0:
        value = status.average_price * status.filled_quantity - order.filled_value
        price = max(1, value // missing)
        (fill,) = await books.book(order.account_id, [BrokerFill(
            broker_order_no=status.broker_order_no, code=order.code, side=order.side, quantity=missing,
            price=price, ts_ms=now_ms)])
        order = await journal.add_fill(order.id, fill, now_ms)
        emit(order.status, order)
    if status.cancelled and not order.final:
        order = await journal.update(order.id, status="cancelled", now_ms=now_ms,
                                     reason="cancelled at the broker (found on reconciliation)")
        emit("cancelled", order)
    elif status.expired and not order.final:
        order = await journal.update(order.id, status="expired", now_ms=now_ms,
                                     reason="expired at the broker: its session closed (day order)")
        emit("expired", order)
    if order.final and order.action:
        order = await journal.set_action(order.id, "", now_ms)
    return order


async def _settle_action(order: Order, status: BrokerOrderStatus, statuses: list[BrokerOrderStatus],
                         journal: Journal, broker: Broker, now_ms: int,
                         emit: Callable[[str, Order], None]) -> Order:
    if order.action == "modify":
        child = next((s for s in statuses if s.original_no and s.original_no == order.broker_order_no
                      and not s.cancelled), None)
        if child is not None or (order.action_price == status.price and status.price):
            price = child.price if child is not None and child.price else order.action_price
            quantity = order.filled_quantity + (child.quantity if child is not None else
                                                (order.action_quantity or order.quantity) - order.filled_quantity)
            order = await journal.amend(order.id, price=price, quantity=quantity,
                                        broker_order_no=child.broker_order_no if child else None, now_ms=now_ms)
            emit("modified", order)
            return order
        log.info("order %d: its modify never reached the broker; dropped", order.id)
        return await journal.set_action(order.id, "", now_ms)
    try:  # a cancel: send it (again); the broker only ever removes what is left
        assert order.broker_order_no is not None
        await broker.cancel_order(CancelRequest(broker_order_no=order.broker_order_no, code=order.code,
                                                side=order.side, quantity=order.quantity - order.filled_quantity,
                                                price=order.price))
    except BrokerError as exc:
        log.warning("order %d: the journalled cancel could not be sent now (%s); next reconciliation", order.id,
                    exc)
        return order
    order = await journal.update(order.id, status="cancelled", now_ms=now_ms,
                                 reason="cancelled by the owner (finished on reconciliation)")
    order = await journal.set_action(order.id, "", now_ms)
    emit("cancelled", order)
    return order


def _day_over(created_ms: int, now_ms: int) -> bool:
    """Whether the session of the order's own KST day has closed by ``now_ms``."""
    day = kst_date(created_ms)
    bounds = session_bounds(day)
    close = bounds[1] if bounds is not None else kst_midnight_ms(day) + 86_400_000
    return now_ms >= close
