"""The accounts' supervisor (``/accounts``): one AccountActor per account, spawned on demand.

Tell it any account message (``PlaceOrder``, ``GetBalance``, ``Reconcile``...,
each carries ``account_id``) and it forwards it to ``/accounts/<id>``,
spawning the actor first if needed. The web layer asks it ``AccountRef`` for
the actor's ref and then asks the actor itself (an actor never waits on
another one's answer). It also starts the quote tap (``/accounts/quotes``)
that feeds the shared :class:`~actors.quote_board.QuoteBoard`. It holds no routing of
its own (the path is the route), so a restart loses nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from actors import paths
from actors.account import AccountActor
from actors.account_deps import AccountDeps
from actors.account_messages import (
    CancelOpen, CancelOrder, FillArrived, GetBalance, ModifyOrder, OrderResult, PlaceOrder, QuotesCrossed,
    Reconcile,
)
from actors.quote_board import TAP, QuoteTap
from engine.runtime import ActorRef, ChildSpec, ChildTerminated, MailboxSpec, Supervisor

log = logging.getLogger(__name__)


class AccountRef(msgspec.Struct, frozen=True):
    """Ask: the ref of the account's actor (spawned if it is not running)."""

    account_id: int


class OwnerOf(msgspec.Struct, frozen=True):
    """Ask: the user id owning ``account_id`` if the hub knows it (its actor has started), else None.
    An account never changes owner, so the web layer checks ownership here instead of the database."""

    account_id: int


class Owned(msgspec.Struct, frozen=True):
    """Told by an AccountActor once started: who owns it."""

    account_id: int
    user_id: int


Forwarded = (PlaceOrder | CancelOrder | ModifyOrder | CancelOpen | GetBalance | Reconcile | FillArrived
             | QuotesCrossed)


AccountHubMsg = AccountRef | OwnerOf | Owned | Forwarded | ChildTerminated


class AccountHub(Supervisor):
    mailbox = MailboxSpec(limit=65536)

    def __init__(self, deps: AccountDeps, spec: ChildSpec) -> None:
        super().__init__()
        self.deps = deps
        self.spec = spec
        self.owners: dict[int, int] = {}  # account id -> user id (immutable facts; survives child restarts)

    async def on_start(self) -> None:
        if self.ctx.system.lookup(f"{paths.ACCOUNTS}/{TAP}") is None:
            self.ctx.spawn(TAP, lambda: QuoteTap(self.deps.board), ChildSpec(restart="permanent"))

    async def receive(self, msg: AccountHubMsg) -> Any:
        match msg:
            case AccountRef():
                return self._child(msg.account_id)
            case OwnerOf():
                return self.owners.get(msg.account_id)
            case Owned():
                self.owners[msg.account_id] = msg.user_id
            case (PlaceOrder() | CancelOrder() | ModifyOrder() | CancelOpen() | GetBalance() | Reconcile()
                  | FillArrived() | QuotesCrossed()):
                self._forward(msg)
            case _:
                await super().receive(msg)
        return None

    async def on_child_terminated(self, msg: ChildTerminated) -> None:
        log.error("account actor %s stopped for good: %s", msg.path, msg.reason)

    def _forward(self, msg: Forwarded) -> None:
        child = self._child(msg.account_id)
        if child.try_tell(msg):
            return
        why = "its mailbox is full" if child.alive else "it is stopping"
        log.warning("account %d did not take %s: %s", msg.account_id, type(msg).__name__, why)
        if isinstance(msg, PlaceOrder) and msg.reply_to is not None:
            busy = OrderResult(account_id=msg.account_id, client_order_id=msg.client_order_id or "",
                               status="unavailable", code=msg.code, side=msg.side, quantity=msg.quantity,
                               reason_code="account_busy", reason=f"the account's actor is busy: {why}")
            if not msg.reply_to.try_tell(busy):
                log.warning("busy answer to %s lost", msg.reply_to.path)

    def _child(self, account_id: int) -> ActorRef:
        path = paths.account(account_id)
        ref = self.ctx.system.lookup(path)
        if ref is not None:
            return ref
        deps = self.deps
        return self.ctx.spawn(str(account_id), lambda: AccountActor(account_id, deps), self.spec)

    def state_view(self) -> dict[str, Any]:
        return {"accounts": len(self.ctx.system.children(paths.ACCOUNTS)) - 1, "owners_known": len(self.owners),
                **super().state_view()}
