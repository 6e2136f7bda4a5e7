"""Cluster mode: one owner per account, and the way every node's requests reach it.

An account's :class:`~actors.account.AccountActor` and its swings run only on
the node that holds the lease ``account.<id>`` (see :mod:`engine.cluster.lease`).
Taking an account::

    lease (KV create) ─▶ fence claimed in the database (token only grows) ─▶ AccountActor spawned
      (its on_start reconciles the journal against the broker, as after a restart) ─▶ its swings spawned

Losing it (a renewal failed, or the lease's time ran out locally) stops the
actor and the swings at once; the journal refuses any write still in flight
(:mod:`storage.fences`). A request on any node (:meth:`AccountOwnership.ask`)
goes to the local actor when this node owns the account, else to the owner
over NATS request/reply with the same timeout. An account nobody owns goes to
the least-loaded live node (fewest owned accounts in the registry; among equals
the rendezvous hash of its id). Accounts never move for balance alone, so
nothing thrashes: only a new account, or one whose owner died or left, is placed.

A request finds the owner *moving* when its lease was just lost, released or
not yet taken, or when the owner is handing it over: it waits (a short
back-off) and asks again until its own deadline, then is served by whichever
node owns the account by then; only when no owner appears in time does it fail
(503, nothing was written anywhere).

On every heartbeat each node sweeps the accounts that must run (live swings
or open orders) and takes those nobody held at its last two sweeps that are
placed on it: that is failover, within the lease TTL plus two heartbeats (a
third of the TTL each) of a node's death. The sweep reads the lease keys from
the KV; the database (which accounts must run) only when that picture changes:
at the first sweep, when the live nodes change, when a lease disappears, while
orphans wait for their second sighting, and, as a safety net for a write no
node announced (a swing left live by an earlier life of the cluster, an
operator's fix), once every ``reread_s`` (three lease TTLs).

A clean stop (:meth:`AccountOwnership.hand_over`) leaves the registry, lets the
calls it is answering finish, stops each account's actor and swings, releases
its lease and has the least-loaded other node take it at once: a rolling restart
never waits for a TTL, and a request meanwhile waits for the new owner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from actors import paths
from actors.account_messages import OrderResult, OrderTicket, PlaceOrder, RiskChanged
from actors.account_hub import AccountRef
from actors.session_hub import OrderEvent, ToUser
from actors.swing import AccountHalted, StopSwing
from actors.swing_hub import StartSwing, SwingEnded
from actors.wire import OrderEventKind, OrderView
from engine.cluster.errors import FencedOut, NodeUnreachable, OwnerUnavailable
from engine.cluster.node import ClusterNode, least_loaded
from engine.cluster.subjects import Subjects
from engine.journal import RiskOverrides
from engine.runtime import ActorRef, ActorStopped, ActorSystem, MailboxFull

log = logging.getLogger(__name__)

ACCOUNT_PREFIX = "account."


class SwingsChanged(msgspec.Struct, frozen=True):
    """To the owner: start the account's live swings it does not run yet (a new registration)."""

    account_id: int


class StopSwingAt(msgspec.Struct, frozen=True):
    """To the owner: stop one of the account's swings (``StopSwing`` there). Answers whether it ran."""

    account_id: int
    swing_id: int
    liquidate: bool = False


class PlaceRemote(msgspec.Struct, frozen=True):
    """A PlaceOrder for another node: its deadline as seconds left (loop times do not cross machines).
    The owner answers with the :class:`OrderResult` its ticket holds by then, as ``ticket.wait`` does here."""

    order: PlaceOrder  # reply_to and deadline None
    wait_s: float


class AccountRiskChanged(msgspec.Struct, frozen=True):
    """To every node: the account's risk row changed (its kill switch, its limits). Its actor takes the new
    row where it runs, and when the switch moved (``halt_moved``) the swings hub there tells every swing at
    once (:class:`~actors.swing.AccountHalted`): the account's swings are halted or resumed without waiting
    for their next check, on whichever node they run. Answers None once applied there."""

    account_id: int
    overrides: RiskOverrides
    halt_moved: bool = False


class OwnAccount(msgspec.Struct, frozen=True):
    """To the node an unowned account hashes to: take it. Answers the owner's node id."""

    account_id: int


class _Event(msgspec.Struct, frozen=True, array_like=True):
    origin: str
    user_id: int
    event: OrderEventKind  # checked on decode: a peer's unknown event is refused, not forwarded
    order: OrderView


_event = msgspec.json.Decoder(_Event)

Claim = Callable[[int, int], Awaitable[bool]]  # (account id, token) -> recorded
SwingsOf = Callable[[int], Awaitable[list[tuple[int, str]]]]  # account id -> [(swing id, bar size)]
Needed = Callable[[], Awaitable[set[int]]]  # accounts that must run somewhere


class AccountOwnership:
    def __init__(self, node: ClusterNode, *, claim: Claim, swings_of: SwingsOf, needed: Needed) -> None:
        self.node = node
        self.claim = claim
        self.swings_of = swings_of
        self.needed = needed
        self.system: ActorSystem | None = None
        self.swings: dict[int, set[int]] = {}  # owned account -> swing ids it runs here
        self._taking: dict[int, asyncio.Future[bool]] = {}
        self._orphans: set[int] = set()  # unowned accounts seen by the last sweep
        self.taken = 0
        self.given_up = 0
        self.forwarded = 0
        self.events_in = 0
        self.events_out = 0
        self.handlers: dict[type, Callable[[Any, float], Awaitable[Any]]] = {}  # other calls this node answers
        self.closing = False  # handing over: nothing is taken or served here any more
        self.waited = 0  # requests that found the owner moving and waited for the next one
        self.needed_reads = 0  # database reads of the accounts that must run (only when the picture changes)
        self._needed: set[int] | None = None
        self._needed_at = 0.0
        self.reread_s = 3 * node.ttl_s
        self._seen_live: set[str] = set()
        self._seen_held: set[str] = set()
        self._placed: dict[str, int] = {}  # accounts sent to each node since the registry was last read
        self._placed_at = -1
        node.leases.on_lost = self._lost

    # -- the Fence the journal checks --------------------------------------------------------
    @property
    def node_id(self) -> str:
        return self.node.node_id

    def token(self, account_id: int) -> int | None:
        lease = self.node.leases.valid(Subjects.account_key(account_id))
        return None if lease is None else lease.token

    def owned(self) -> list[int]:
        return sorted(int(k[len(ACCOUNT_PREFIX):]) for k in self.node.leases.held if k.startswith(ACCOUNT_PREFIX))

    # -- start -------------------------------------------------------------------------------
    async def attach(self, system: ActorSystem) -> None:
        """Serve requests, relay order events, and sweep on every heartbeat (call once actors run)."""
        self.system = system
        await self.node.serve(self._handle)
        await self.node.subscribe(self.node.subjects.user_events(), self._on_event)
        self.node.on_heartbeat.append(self.sweep)

    # -- taking and losing -------------------------------------------------------------------
    async def take(self, account_id: int) -> bool:
        """Own the account here if nobody does; True if this node owns it now."""
        if self.token(account_id) is not None:
            return True
        if self.closing:
            return False
        pending = self._taking.get(account_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future = self._taking[account_id] = asyncio.get_running_loop().create_future()
        try:
            owned = await self._take(account_id)
            future.set_result(owned)
            return owned
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it
            raise
        finally:
            del self._taking[account_id]

    async def _take(self, account_id: int) -> bool:
        assert self.system is not None
        key = Subjects.account_key(account_id)
        lease = await self.node.leases.acquire(key)
        if lease is None:
            return False
        if not await self.claim(account_id, lease.token):
            log.warning("account %d: a newer owner's fence is recorded; lease given up", account_id)
            self.given_up += 1
            await self.node.leases.release(key)
            return False
        hub = self.system.ref(paths.ACCOUNTS)
        await hub.ask(AccountRef(account_id), self.node.ttl_s)  # spawned: on_start reconciles its journal
        self.taken += 1
        await self._start_swings(account_id)
        log.info("account %d owned by %s (token %d)", account_id, self.node_id, lease.token)
        return True

    async def _start_swings(self, account_id: int) -> None:
        assert self.system is not None
        mine = self.swings.setdefault(account_id, set())
        hub = self.system.ref(paths.SWINGS)
        for swing_id, bar_size in await self.swings_of(account_id):
            if swing_id not in mine:
                mine.add(swing_id)
                hub.tell(StartSwing(swing_id, bar_size))

    def _lost(self, key: str) -> None:
        """The lease is gone: nothing of the account may run here any more."""
        if not key.startswith(ACCOUNT_PREFIX) or self.system is None:
            return
        account_id = int(key[len(ACCOUNT_PREFIX):])
        log.warning("account %d: lease lost, stopping its actor and swings on %s", account_id, self.node_id)
        for swing_id in self.swings.pop(account_id, set()):
            ref = self.system.lookup(paths.swing(swing_id))
            if ref is not None:
                ref.stop()
            try:
                self.system.ref(paths.SWINGS).tell(SwingEnded(swing_id))
            except (MailboxFull, ActorStopped):
                pass  # the hub is stopping: its swings stop with it
        ref = self.system.lookup(paths.account(account_id))
        if ref is not None:
            ref.stop()

    async def sweep(self) -> None:
        """Take the accounts that must run, that nobody holds, and that are placed on this node."""
        for key in [k for k in self.node.leases.held if k.startswith(ACCOUNT_PREFIX)]:
            if self.node.leases.valid(key) is None:  # its time passed without a renewal
                self.node.leases.held.pop(key, None)
                self._lost(key)
        live = self.node.live_nodes()
        if self.closing or self.node_id not in live:
            return
        held = await self.node.leases.keys(ACCOUNT_PREFIX)
        needed = await self._must_run(set(live), held)
        orphans = {a for a in needed if Subjects.account_key(a) not in held}
        # an orphan is taken on its second sighting: by then every node's view of the live nodes
        # is one heartbeat fresher, so they agree on where it goes (a new node is counted)
        loads = self.node.loads()
        for account_id in sorted(orphans & self._orphans):
            target = least_loaded(Subjects.account_key(account_id), loads)
            if target is None:
                break
            loads[target] += 1  # a dead node's accounts spread over the others, the same way on every node
            if target == self.node_id:
                await self.take(account_id)
        self._orphans = orphans

    async def _must_run(self, live: set[str], held: set[str]) -> set[int]:
        """The accounts that must run somewhere, from the database only when the picture changed."""
        changed = live != self._seen_live or bool(self._seen_held - held)  # a node came or went, a lease vanished
        stale = time.monotonic() - self._needed_at >= self.reread_s
        if self._needed is None or changed or self._orphans or stale:
            self._needed = await self.needed()
            self._needed_at = time.monotonic()
            self.needed_reads += 1
        self._seen_live, self._seen_held = live, held
        return self._needed

    def place(self, account_id: int) -> str:
        """The node an unowned account goes to: the least-loaded live node (see :func:`least_loaded`),
        counting the accounts this node sent there since it last read the registry."""
        if self._placed_at != self.node.peers_read:
            self._placed, self._placed_at = {}, self.node.peers_read
        loads = self.node.loads()
        for node_id, n in self._placed.items():
            if node_id in loads:
                loads[node_id] += n
        target = least_loaded(Subjects.account_key(account_id), loads) or self.node_id
        self._placed[target] = self._placed.get(target, 0) + 1
        return target

    # -- requests -----------------------------------------------------------------------------
    async def ask(self, account_id: int, msg: Any, timeout: float, *, wait_for_room: bool = True) -> Any:
        """``msg`` answered by the account's actor wherever it runs, within ``timeout`` (a PlaceOrder: an
        :class:`OrderTicket`, here or from the owner's answer). While the owner is moving (a handover, a
        lease lost or lapsing) it waits for the next owner, up to ``timeout``; then OwnerUnavailable."""
        if isinstance(msg, PlaceOrder) and msg.reply_to is not None:
            msg = msgspec.structs.replace(msg, reply_to=None)  # a ref never crosses the wire
        key = Subjects.account_key(account_id)
        deadline = time.monotonic() + timeout
        pause = _Pause(deadline)
        why = "nobody owns it"
        while pause.left() > 0:
            left = pause.left()
            if self.token(account_id) is not None:
                try:
                    return await self._local(account_id, msg, left, wait_for_room)
                except FencedOut as exc:  # another node took it: nothing was written here
                    why = str(exc)
                    await self.node.leases.renew_all()  # finds the lease lost and drops it
                    if self.token(account_id) is not None:  # not yet known here: let the renewals tell
                        await pause.wait(self)
                    continue
            holder = await self.node.leases.holder(key)
            if holder is None:
                if not await self._get_owned(account_id, left):
                    await pause.wait(self)
                continue
            if holder.node == self.node_id:  # ours in the bucket but not trusted here (an earlier life, a stall)
                await self.node.leases.renew_all()
                if self.token(account_id) is None:
                    why = f"its lease (held by an earlier {self.node_id}) lapses within {self.node.ttl_s:g} s"
                    await pause.wait(self)
                continue
            try:
                return await self._forward(holder.node, msg, left, wait_for_room)
            except (OwnerUnavailable, FencedOut) as exc:  # moving: nothing was done there
                why = str(exc)
            except NodeUnreachable:  # it died or left: its lease is released or lapses within the TTL
                why = f"its node {holder.node} does not answer; its lease lapses within {self.node.ttl_s:g} s"
            await pause.wait(self)
        raise OwnerUnavailable(f"account {account_id}: no owner within {timeout:g} s ({why}); nothing was done")

    async def _get_owned(self, account_id: int, left: float) -> bool:
        """Nobody owns the account: have the node it is placed on take it. True when someone did."""
        if self.closing:
            return False  # this node is leaving: the node it hands the account to takes it
        target = self.place(account_id)
        if target == self.node_id:
            return await self.take(account_id)
        try:
            await self.node.call(target, OwnAccount(account_id), min(left, self.node.ttl_s))
            return True
        except (NodeUnreachable, OwnerUnavailable, TimeoutError):
            return await self.take(account_id)  # that node is gone or leaving: take it here

    async def _forward(self, node_id: str, msg: Any, left: float, wait_for_room: bool) -> Any:
        self.forwarded += 1
        if isinstance(msg, PlaceOrder):
            loop = asyncio.get_running_loop()
            wait_s = left if msg.deadline is None else max(0.0, msg.deadline - loop.time())
            remote = PlaceRemote(msgspec.structs.replace(msg, deadline=None), wait_s)
            result: OrderResult = await self.node.call(node_id, remote, left, wait_for_room)
            return OrderTicket(result)  # its outcome already waited for, there
        return await self.node.call(node_id, msg, left, wait_for_room)

    async def _local(self, account_id: int, msg: Any, timeout: float, wait_for_room: bool = True) -> Any:
        assert self.system is not None
        if isinstance(msg, SwingsChanged):
            await self._start_swings(account_id)
            return None
        if isinstance(msg, StopSwingAt):
            ref = self.system.lookup(paths.swing(msg.swing_id))
            if ref is None:
                return False
            try:
                await ref.ask(StopSwing(msg.liquidate), timeout)
            except ActorStopped:
                return False
            return True
        ref = await self.system.ref(paths.ACCOUNTS).ask(AccountRef(account_id), timeout)
        if isinstance(msg, PlaceRemote):  # from another node: answer the outcome within its wait
            order = msgspec.structs.replace(msg.order, deadline=asyncio.get_running_loop().time() + msg.wait_s)
            ticket: OrderTicket = await ref.ask(order, timeout, wait_for_room=wait_for_room)
            return await ticket.wait(msg.wait_s)
        return await ref.ask(msg, timeout, wait_for_room=wait_for_room)

    async def _handle(self, msg: Any, timeout: float, wait_for_room: bool = True) -> Any:
        """A call from another node."""
        handler = self.handlers.get(type(msg))
        if handler is not None:
            return await handler(msg, timeout)
        match msg:
            case AccountRiskChanged():
                await self._apply_risk(msg, timeout)  # wherever the account's actor or swings run
                return None
            case OwnAccount():
                if self.closing:
                    raise OwnerUnavailable(f"node {self.node_id} is leaving")
                await self.node.leases.renew_all()  # a lease we still trust but lost is dropped first
                await self.take(msg.account_id)
                return self.node_id
            case _:
                account_id = msg.order.account_id if isinstance(msg, PlaceRemote) else msg.account_id
                if self.closing:  # handing over: the caller waits for the next owner
                    raise OwnerUnavailable(f"account {account_id} is being handed over by {self.node_id}")
                if self.token(account_id) is None:  # moved meanwhile: the caller asks again
                    raise OwnerUnavailable(f"account {account_id} is not owned by {self.node_id}")
                return await self._local(account_id, msg, timeout, wait_for_room)

    # -- a clean stop ---------------------------------------------------------------------------
    async def hand_over(self, timeout: float) -> None:
        """Leave the registry, finish the calls being answered, then for each owned account: stop its
        actor and swings, release its lease and have the least-loaded other node take it now."""
        self.closing = True
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        await self.node.withdraw()
        await self.node.drain_calls(timeout)
        owned = self.owned()
        for account_id in owned:
            await self._release(account_id, max(0.1, end - loop.time()))
        if not owned:
            return
        await self.node.refresh_peers()  # this node is no longer among them
        loads = self.node.loads()
        moves = []
        for account_id in owned:
            target = least_loaded(Subjects.account_key(account_id), loads)
            if target is None:
                log.warning("no other live node: account %d waits for the next node", account_id)
                continue
            loads[target] += 1
            moves.append(self._pass(account_id, target, max(0.1, min(end - loop.time(), self.node.ttl_s))))
        await asyncio.gather(*moves)

    async def _release(self, account_id: int, timeout: float) -> None:
        assert self.system is not None
        for swing_id in self.swings.pop(account_id, set()):
            await self._stop(paths.swing(swing_id), timeout)
            try:
                self.system.ref(paths.SWINGS).tell(SwingEnded(swing_id))
            except (MailboxFull, ActorStopped):
                pass
        await self._stop(paths.account(account_id), timeout)  # its mailbox drains first
        await self.node.leases.release(Subjects.account_key(account_id))
        log.info("account %d released by %s", account_id, self.node_id)

    async def _stop(self, path: str, timeout: float) -> None:
        assert self.system is not None
        if self.system.lookup(path) is None:
            return
        try:
            await self.system.stop(path, timeout)
        except TimeoutError:
            log.warning("%s did not stop within %g s; its lease is released anyway (the journal is the truth)",
                        path, timeout)

    async def _pass(self, account_id: int, target: str, timeout: float) -> None:
        try:
            await self.node.call(target, OwnAccount(account_id), timeout)
            log.info("account %d handed over to %s", account_id, target)
        except Exception as exc:  # the sweep or the next request places it
            log.warning("account %d not handed over to %s: %r", account_id, target, exc)

    async def risk_changed(self, msg: AccountRiskChanged, timeout: float) -> None:
        """The account's risk row changed (committed): applied here and asked of every other live node at
        once, so its actor and its swings have it on whichever node they run when this returns. A node
        that does not answer is logged: its actor reads the row when it next starts, its swings at their
        next check."""
        await self._apply_risk(msg, timeout)
        others = [n for n in self.node.live_nodes() if n != self.node_id]
        answers = await asyncio.gather(*(self.node.call(n, msg, timeout) for n in others), return_exceptions=True)
        for node_id, answer in zip(others, answers):
            if isinstance(answer, BaseException):
                log.warning("account %d: node %s not told its risk change (%r); its swings read the switch at "
                            "their next check", msg.account_id, node_id, answer)

    async def _apply_risk(self, msg: AccountRiskChanged, timeout: float) -> None:
        assert self.system is not None
        ref = self.system.lookup(paths.account(msg.account_id))
        if ref is not None:  # its copy is replaced before the answer: the next order sees the change
            try:
                await ref.ask(RiskChanged(msg.account_id, msg.overrides), timeout)
            except ActorStopped:
                pass  # stopping here: the next owner reads the row in on_start
        hub = self.system.lookup(paths.SWINGS)
        if msg.halt_moved and hub is not None:
            o = msg.overrides
            if not hub.try_tell(AccountHalted(msg.account_id, o.halted, o.halted_reason)):
                log.warning("account %d: swings hub full or stopped; its swings read the switch at their next "
                            "check", msg.account_id)

    async def swings_changed(self, account_id: int, timeout: float) -> None:
        """A swing of the account was registered: its owner (taken if need be) starts it."""
        await self.ask(account_id, SwingsChanged(account_id), timeout)

    # -- order events to sockets on every node -----------------------------------------------------
    def sessions_hub(self, local: Callable[[], ActorRef | None]) -> Callable[[], Any]:
        """What AccountDeps.sessions_hub returns in cluster mode: tells the local hub and publishes."""
        relay = _EventRelay(self, local)
        return lambda: relay

    async def _on_event(self, msg: Any) -> None:
        event = _event.decode(msg.data)
        if event.origin == self.node_id or self.system is None:
            return
        self.events_in += 1
        hub = self.system.lookup(paths.SESSIONS)
        if hub is not None:
            if not hub.try_tell(ToUser(event.user_id, OrderEvent(event.event, event.order))):
                log.warning("order event for user %d not delivered here (the sessions hub is full)", event.user_id)

    def view(self) -> dict[str, Any]:
        return {"owned_accounts": self.owned(), "taken": self.taken, "given_up": self.given_up,
                "forwarded": self.forwarded, "waited": self.waited, "needed_reads": self.needed_reads,
                "events_in": self.events_in, "events_out": self.events_out}


class _Pause:
    """The back-off of a request waiting for an account's next owner: 20 ms doubling to 250 ms,
    never past the request's deadline."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.delay = 0.02

    def left(self) -> float:
        return self.deadline - time.monotonic()

    async def wait(self, owner: AccountOwnership) -> None:
        owner.waited += 1
        await asyncio.sleep(max(0.0, min(self.delay, self.left())))
        self.delay = min(self.delay * 2, 0.25)


class _EventRelay:
    """Duck-types the session hub's ``tell`` for AccountActor: local sockets now, other nodes over NATS."""

    def __init__(self, owner: AccountOwnership, local: Callable[[], ActorRef | None]) -> None:
        self.owner = owner
        self.local = local
        self._tasks: set[asyncio.Task[None]] = set()

    def tell(self, msg: ToUser) -> None:
        hub = self.local()
        if hub is not None:
            hub.tell(msg)
        self._publish(msg)

    def try_tell(self, msg: ToUser) -> bool:
        hub = self.local()
        delivered = hub.try_tell(msg) if hub is not None else True
        self._publish(msg)
        return delivered

    def _publish(self, msg: ToUser) -> None:
        event = msg.msg
        if isinstance(event, OrderEvent):
            data = msgspec.json.encode(_Event(self.owner.node_id, msg.user_id, event.event, event.order))
            task = asyncio.get_running_loop().create_task(
                self.owner.node.publish(self.owner.node.subjects.user_events(), data))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self.owner.events_out += 1
