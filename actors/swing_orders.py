"""How a swing's orders reach its AccountActor, and how the answers come back.

A swing tells the accounts hub :class:`~actors.account_messages.PlaceOrder` with its own
client order id (``swing-<id>-<seq>``) and ``reply_to`` itself; the account's
:class:`~actors.account_messages.OrderResult` becomes an :class:`~actors.swing.OrderOutcome`.
A swing that stops tells :class:`~actors.account_messages.CancelOpen`: its open
orders are cancelled. Reconciling after a restart sends the very same order again: the account's
journal answers a known client order id with the first order
and never places a second one, and an order that never reached the journal
(the crash came between the intent and the send) is placed then, once.
:meth:`AccountOrderPort.held` asks the account's actor for its balance (a swing
pipes the answer to itself, never waiting on it in its mailbox).
"""

from __future__ import annotations

import logging
from typing import Any

from actors import paths
from actors.account_messages import BalanceUnavailable, CancelOpen, GetBalance, OrderResult, PlaceOrder
from actors.swing import OrderOutcome
from engine.runtime import ActorRef, ActorSystem

log = logging.getLogger(__name__)

# Final answers that placed nothing: the SIGNAL stays and the reason is recorded.
REJECTED = {"refused": "rejected", "conflict": "rejected", "unavailable": "rejected"}


class AccountOrderPort:
    def __init__(self, system: ActorSystem, ask_timeout_s: float = 5.0) -> None:
        self.system = system
        self.ask_timeout_s = ask_timeout_s

    def place(self, *, account_id: int, user_id: int, client_order_id: str, code: str, side: str,
              quantity: int, reply_to: ActorRef) -> None:
        swing_id = client_order_id.split("-")[1]
        self.system.ref(paths.ACCOUNTS).tell(PlaceOrder(
            account_id=account_id, code=code, side=side, quantity=quantity,  # type: ignore[arg-type]
            client_order_id=client_order_id, source=f"swing:{swing_id}", reply_to=reply_to))

    def cancel_open(self, *, account_id: int, swing_id: int) -> None:
        """The swing stopped: its account cancels the swing's open orders (journalled, then sent)."""
        self.system.ref(paths.ACCOUNTS).tell(CancelOpen(account_id=account_id, source=f"swing:{swing_id}",
                                                        reason=f"swing {swing_id} stopped"))

    async def held(self, account_id: int, code: str) -> int | None:
        """The account's shares of ``code`` (its actor's balance, cached as the account caches it)."""
        from actors.account_hub import AccountRef  # the hub imports the account actor, which is heavy

        ref = await self.system.ref(paths.ACCOUNTS).ask(AccountRef(account_id), self.ask_timeout_s)
        balance = await ref.ask(GetBalance(account_id), self.ask_timeout_s)
        if isinstance(balance, BalanceUnavailable):
            log.info("account %d: holdings unknown for a swing's books: %s", account_id, balance.reason)
            return None
        return sum(h.quantity for h in balance.holdings if h.code == code)


def outcome_of(msg: Any) -> OrderOutcome | None:
    if not isinstance(msg, OrderResult):
        return None
    return OrderOutcome(client_order_id=msg.client_order_id, status=REJECTED.get(msg.status, msg.status),
                        filled_quantity=msg.filled_quantity, average_price=msg.average_price,
                        filled_value=msg.filled_value, commission=msg.commission, tax=msg.tax,
                        reason=msg.reason or msg.reason_code, order_id=str(msg.order_id or ""))
