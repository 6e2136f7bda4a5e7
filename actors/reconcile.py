"""Reconciliation: the journal's open orders against what the broker knows (``orders_today``).

Nothing is ever resent. For each open order (pending, unknown, accepted,
partially_filled), oldest first:

- with a broker order number: that order's status;
- without one (``pending``: crashed before or while sending; ``unknown``: the
  answer was lost): the broker's oldest order of today with the same code,
  side and quantity, placed no earlier than the journal entry (less a second
  of clock skew), that no other journal entry claims. KIS orders carry no
  client order id, so this match is how the journal finds them.

Found: the broker order number is recorded, fills the journal lacks are added
(one fill for the missing quantity at the price that makes the average the
broker's), and the status follows (filled, cancelled, or accepted). Not found:
a ``pending`` or ``unknown`` order never reached the broker → ``rejected``; an
accepted one is left alone (it may be of an earlier day).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from engine.brokers.base import Broker, BrokerOrderStatus
from engine.journal import Fill, Journal, Order
from engine.market.krx import kst_date, kst_midnight_ms
from engine.risk import Fees

log = logging.getLogger(__name__)

SKEW_MS = 1_000
NOT_FOUND = "not found at the broker on reconciliation: never placed"


async def reconcile(account_id: int, journal: Journal, broker: Broker, fees: Fees, now_ms: int,
                    emit: Callable[[str, Order], None]) -> list[Order]:
    """Move the journal's open orders to what the broker says; returns the orders changed."""
    open_orders = await journal.open_orders(account_id)
    if not open_orders:
        return []
    statuses = await broker.orders_today()
    by_no = {s.broker_order_no: s for s in statuses}
    claimed = await journal.broker_numbers_since(account_id, kst_midnight_ms(kst_date(now_ms)) - 86_400_000)
    changed: list[Order] = []
    for order in open_orders:
        status = by_no.get(order.broker_order_no) if order.broker_order_no else _match(order, statuses,
            claimed)
        if status is None:
            if order.status in ("pending", "unknown"):
                order = await journal.update(order.id, status="rejected", now_ms=now_ms, reason=NOT_FOUND)
                emit("rejected", order)
                changed.append(order)
            continue
        claimed.add(status.broker_order_no)
        moved = await _apply(order, status, journal, fees, now_ms, emit)
        if moved != order:
            changed.append(moved)
    if changed:
        log.info("account %d: reconciliation moved %d orders", account_id, len(changed))
    return changed


def _match(order: Order, statuses: list[BrokerOrderStatus], claimed: set[str]) -> BrokerOrderStatus | None:
    for status in sorted(statuses, key=lambda s: (s.ordered_ms, s.broker_order_no)):
        if (status.broker_order_no not in claimed and status.code == order.code and status.side == order.side
                and status.quantity == order.quantity and status.ordered_ms >= order.created_ms - SKEW_MS):
            return status
    return None


async def _apply(order: Order, status: BrokerOrderStatus, journal: Journal, fees: Fees, now_ms: int,
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
        traded = missing * price
        fill = Fill(quantity=missing, price=price, commission=fees.commission(traded),
                    tax=fees.tax(order.side, traded, now_ms), realized_pnl=0, ts_ms=now_ms)
        order = await journal.add_fill(order.id, fill, now_ms)
        emit(order.status, order)
    if status.cancelled and not order.final:
        order = await journal.update(order.id, status="cancelled", now_ms=now_ms,
                                     reason="cancelled at the broker (found on reconciliation)")
        emit("cancelled", order)
    return order
