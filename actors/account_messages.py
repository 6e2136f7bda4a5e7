"""The AccountActor's protocol: the messages it takes and the answers it gives.

See :mod:`actors.account` for what each one does. Commands are imperative
(``PlaceOrder``, ``CancelOrder``, ``ModifyOrder``), answers are nouns
(``OrderResult``), events past tense (``FillArrived``, ``QuotesCrossed``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from engine.brokers.base import BrokerFill
from engine.runtime import ActorRef


class PlaceOrder(msgspec.Struct, frozen=True, kw_only=True):
    account_id: int
    code: str
    side: Literal["buy", "sell"]
    quantity: int
    price: int | None = None  # None: market
    client_order_id: str | None = None  # the idempotency key; one is made when None
    source: str = "rest"  # "rest", "swing:17"
    reply_to: ActorRef | None = None


class OrderResult(msgspec.Struct, frozen=True, kw_only=True):
    """``status`` is the journal's, or ``refused`` (a check failed, nothing journalled) or
    ``conflict`` (the key was used for another order). ``reason_code`` names the rule,
    the limit or the broker's code. A key already journalled answers with that first order."""

    account_id: int
    client_order_id: str
    status: str
    order_id: int | None = None
    code: str = ""
    side: str = ""
    quantity: int = 0
    filled_quantity: int = 0
    average_price: int = 0
    reason_code: str = ""
    reason: str = ""

    @property
    def final(self) -> bool:
        return self.status not in ("accepted", "partially_filled", "pending")


class GetBalance(msgspec.Struct, frozen=True):
    account_id: int


class BalanceUnavailable(msgspec.Struct, frozen=True):
    """The answer to GetBalance when the broker did not give one."""

    reason: str


class Reconcile(msgspec.Struct, frozen=True):
    account_id: int


class FillArrived(msgspec.Struct, frozen=True):
    """A broker's fill notice (KIS H0STCNI0/9), told by the broker's listener."""

    account_id: int
    fill: BrokerFill


class QuotesCrossed(msgspec.Struct, frozen=True):
    """The paper broker saw a quote cross a resting limit order."""

    account_id: int


AccountMsg = PlaceOrder | GetBalance | Reconcile | FillArrived | QuotesCrossed
