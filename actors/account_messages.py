"""The AccountActor's protocol: the messages it takes and the answers it gives.

See :mod:`actors.account` for what each one does. Commands are imperative
(``PlaceOrder``, ``CancelOrder``, ``ModifyOrder``), answers are nouns
(``OrderResult``), events past tense (``FillArrived``, ``QuotesCrossed``).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import msgspec

from engine.brokers.base import BrokerFill
from engine.journal import RiskOverrides
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
    # Loop time (``loop.time()``) after which the order is refused unjournalled (the asker gave up).
    deadline: float | None = None


class CancelOrder(msgspec.Struct, frozen=True, kw_only=True):
    """Cancel the unfilled remainder of the account's order ``order_id`` → :class:`OrderResult`."""

    account_id: int
    order_id: int
    reason: str = "cancelled by the owner"


class ModifyOrder(msgspec.Struct, frozen=True, kw_only=True):
    """New limit ``price`` and/or total ``quantity`` (down to what is filled, exclusive) → OrderResult."""

    account_id: int
    order_id: int
    price: int | None = None
    quantity: int | None = None


class CancelOpen(msgspec.Struct, frozen=True, kw_only=True):
    """Cancel every open order of ``source`` (a swing that stops) → the number cancelled."""

    account_id: int
    source: str
    reason: str


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
    filled_value: int = 0  # Σ quantity × price of the fills
    commission: int = 0  # of the fills, as the account booked them
    tax: int = 0
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
    strict: bool = False  # answer ReconcilePostponed instead of 0 when the broker cannot answer


class ReconcilePostponed(msgspec.Struct, frozen=True):
    reason: str


class FillArrived(msgspec.Struct, frozen=True):
    """A broker's fill notice (KIS H0STCNI0/9), told by the broker's listener."""

    account_id: int
    fill: BrokerFill


class QuotesCrossed(msgspec.Struct, frozen=True):
    """The paper broker saw a quote cross a resting limit order."""

    account_id: int


class RiskChanged(msgspec.Struct, frozen=True):
    """The account's risk row changed (web/risk.py, after its commit): the actor's copy is replaced
    before the change is answered, so the next order sees it → None."""

    account_id: int
    overrides: RiskOverrides


class Sent(msgspec.Struct, frozen=True, kw_only=True):
    """Private: the broker call of order ``order_id`` ended (told by the actor's own send task)."""

    account_id: int
    order_id: int
    ack: Any = None  # OrderAck
    error: Any = None  # BrokerError
    fills: Any = None  # PaperFills of a paper market order's walk


class Accepted(msgspec.Struct, frozen=True, kw_only=True):
    """Private: the journal holds order ``order``'s acceptance (told by the actor's own journal task)."""

    account_id: int
    order: Any  # engine.journal.Order, as journalled
    ack: Any  # OrderAck
    booked: Any  # list[engine.journal.Fill] journalled with the acceptance
    walk: Any = None  # PaperFills of a paper market order's walk


class SessionClosed(msgspec.Struct, frozen=True):
    """Private: the KRX session closed; open day orders expire."""

    account_id: int


class OrderTicket:
    """What asking :class:`PlaceOrder` returns: ``result`` now (refused, the first order of a known key, or ``pending``
    once journalled) and ``outcome``, a future with the :class:`OrderResult` once the broker
    answered and the journal has it. Not a message: it never enters a mailbox."""

    __slots__ = ("outcome", "result")

    def __init__(self, result: OrderResult, outcome: asyncio.Future[OrderResult] | None = None) -> None:
        self.result = result
        self.outcome = outcome

    async def wait(self, timeout: float) -> OrderResult:
        """The outcome within ``timeout`` s, else the result as it stands (``pending``)."""
        if self.outcome is None:
            return self.result
        try:
            return await asyncio.wait_for(asyncio.shield(self.outcome), timeout)
        except (TimeoutError, Exception):  # no outcome in time, or the actor stopped: still pending
            return self.result


AccountMsg = (PlaceOrder | CancelOrder | ModifyOrder | CancelOpen | GetBalance | Reconcile | FillArrived
              | QuotesCrossed | RiskChanged | Sent | Accepted | SessionClosed)
