"""What every AccountActor needs, built once by the app (``web/trading.py``): its collaborators."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec

from actors.quote_board import QuoteBoard
from actors.wire import OrderView
from engine.brokers.base import NotifyingBroker
from engine.brokers.paper import PaperLedger
from engine.journal import Journal, Order
from engine.risk import Fees
from engine.runtime import ActorRef
from engine.settings import Settings

Fault = Callable[[str], None]


class AccountInfo(msgspec.Struct, frozen=True, kw_only=True):
    account_id: int
    user_id: int
    broker: Literal["paper", "kis"]
    credentials: Any = None  # storage.AccountCredentials for kis accounts (never logged)


class AccountDeps:
    """What every account actor needs, built once by the app."""

    def __init__(self, *, settings: Settings, journal: Journal, ledger: PaperLedger, board: QuoteBoard,
                 load_account: Callable[[int], Awaitable[AccountInfo]],
                 kis_broker: Callable[[Any], NotifyingBroker] | None, sessions_hub: Callable[[], ActorRef | None],
                 fault: Fault | None = None, market_now: Callable[[], int | None] | None = None) -> None:
        self.settings = settings
        self.market_now = market_now
        self.journal = journal
        self.ledger = ledger
        self.board = board
        self.load_account = load_account
        self.kis_broker = kis_broker
        self.sessions_hub = sessions_hub
        self.fault = fault
        self.fees = Fees(settings.commission_pct, settings.sell_tax_pct)


def order_payload(order: Order) -> OrderView:
    """An order as /kis_socket ``order`` messages show it."""
    return OrderView(order_id=str(order.id), account_id=order.account_id, client_order_id=order.client_order_id,
                     stock_code=order.code, order_type=order.side, quantity=order.quantity, price=order.price,
                     status=order.status, filled_quantity=order.filled_quantity,
                     average_price=order.average_price, reason=order.reason)
