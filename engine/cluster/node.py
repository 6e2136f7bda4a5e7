"""One node of the cluster: its NATS connection, the lease and node buckets, its request server.

::

    node = await ClusterNode.join(url, node_id="a", prefix="autotrader", ttl_s=6, creds="")
    node.serve(handler)               # handler(msg, timeout_s) -> result, for <prefix>.rpc.<node>
    result = await node.call("b", GetBalance(7), timeout_s=5)
    await node.leave()                # releases its leases, leaves the registry, drains

The node's registry entry (``NodeInfo``) is rewritten on every heartbeat with
its load; a node whose entry is gone (its TTL passed) is dead to the others.
``nats`` is imported only here and in the modules that need it at call time,
so a single-process server never loads it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from engine.runtime import AskTimeout

from engine.cluster.codec import Codec
from engine.cluster.errors import NodeUnreachable
from engine.cluster.lease import LeaseTable, heartbeat, nats_errors
from engine.cluster.subjects import Subjects, token

log = logging.getLogger(__name__)


class NodeInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    address: str  # the node's HTTP address (host:port), for operators
    started_ms: int
    load: int = 0  # owned accounts + upstream codes
    accounts: list[int] = []
    codes: list[str] = []


_info = msgspec.json.Decoder(NodeInfo)


def default_node_id() -> str:
    """``<host>-<pid>``, made a valid subject token (a dotted host name keeps its first label)."""
    host = token(socket.gethostname().split(".", 1)[0])[:48]
    return f"{host}-{os.getpid()}"


def rendezvous(key: str, nodes: list[str]) -> str | None:
    """The node ``key`` belongs to among ``nodes`` (highest random weight: stable as nodes come and go)."""
    if not nodes:
        return None
    return max(nodes, key=lambda n: hashlib.blake2b(f"{n}|{key}".encode(), digest_size=8).digest())


def least_loaded(key: str, loads: dict[str, int]) -> str | None:
    """The node of ``loads`` (node id -> owned accounts) with the fewest; among equals, the rendezvous
    hash of ``key`` decides, so every node that sees the same loads names the same node."""
    if not loads:
        return None
    low = min(loads.values())
    return rendezvous(key, [n for n, load in loads.items() if load == low])


async def _bucket(js: Any, name: str, ttl_s: float) -> Any:
    from nats.js.errors import BucketNotFoundError

    try:
        kv = await js.key_value(name)
    except BucketNotFoundError:
        return await js.create_key_value(bucket=name, ttl=ttl_s, history=1)
    existing = (await kv.status()).ttl
    if existing is not None and abs(existing - ttl_s) > 1e-3:  # every node must agree on when a lease lapses
        raise ClusterConfigError(
            f"bucket {name} has a TTL of {existing:g} s but AUTOTRADER_CLUSTER_LEASE_TTL_S is {ttl_s:g}: give every "
            f"node the same TTL (or delete the bucket while no node runs to change it)")
    return kv


class ClusterConfigError(ValueError):
    """This node's cluster settings contradict the running cluster's."""


class ClusterNode:
    def __init__(self, nc: Any, node_id: str, subjects: Subjects, leases: LeaseTable, nodes_kv: Any,
                 ttl_s: float, codec: Codec) -> None:
        self.nc = nc
        self.node_id = node_id
        self.subjects = subjects
        self.leases = leases
        self.nodes_kv = nodes_kv
        self.ttl_s = ttl_s
        self.codec = codec
        self.started_ms = int(time.time() * 1000)
        self.address = ""
        self.describe: Callable[[], NodeInfo] = lambda: NodeInfo(id=node_id, address=self.address,
                                                                 started_ms=self.started_ms)
        self.on_heartbeat: list[Callable[[], Awaitable[None]]] = []
        self._subs: list[Any] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self.calls_in = 0
        self.calls_out = 0
        self.call_failures = 0
        self.peers: dict[str, NodeInfo] = {}
        self.peers_read = 0  # how many times the registry was read (a placement's view is that fresh)
        self.leaving = False  # withdrawn from the registry: a clean stop is under way

    @classmethod
    async def join(cls, url: str, *, node_id: str, prefix: str, ttl_s: float, codec: Codec,
                   creds: str = "", connect_timeout_s: float = 5.0) -> ClusterNode:
        import nats

        options: dict[str, Any] = {"servers": [u.strip() for u in url.split(",") if u.strip()],
                                   "name": f"autotrader:{node_id}", "connect_timeout": connect_timeout_s,
                                   "max_reconnect_attempts": -1, "reconnect_time_wait": 0.5,
                                   "allow_reconnect": True,
                                   # leave() drains the subscriptions: a graceful stop waits this long at
                                   # most for their callbacks (nats-py's default is 30 s per connection)
                                   "drain_timeout": 5}
        if creds:
            options["user_credentials"] = creds
        nc = await nats.connect(**options)
        try:
            js = nc.jetstream()
            subjects = Subjects(prefix)
            leases_kv = await _bucket(js, subjects.leases_bucket, ttl_s)
            nodes_kv = await _bucket(js, subjects.nodes_bucket, ttl_s)
        except BaseException:
            await nc.close()
            raise
        node = cls(nc, node_id, subjects, LeaseTable(leases_kv, node_id, ttl_s), nodes_kv, ttl_s, codec)
        log.info("joined the cluster %r at %s as %s", prefix, nc.connected_url.netloc if nc.connected_url else url,
                 node_id)
        return node

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Announce the node and start its heartbeat (lease renewals, registry entry, hooks)."""
        await self.announce()
        self._heartbeat = asyncio.create_task(heartbeat(self.leases, self.ttl_s / 3, self._beat),
                                              name=f"cluster-heartbeat:{self.node_id}")

    async def _beat(self) -> None:
        if self.leaving:
            return
        await self.announce()
        await self.refresh_peers()
        for hook in self.on_heartbeat:
            await hook()

    async def announce(self) -> None:
        await self.nodes_kv.put(self.subjects.node_key(self.node_id), msgspec.json.encode(self.describe()))

    async def refresh_peers(self) -> dict[str, NodeInfo]:
        from nats.js.errors import KeyNotFoundError, NoKeysError

        peers: dict[str, NodeInfo] = {}
        try:
            keys = await self.nodes_kv.keys()
        except NoKeysError:
            keys = []
        for key in keys:
            try:
                entry = await self.nodes_kv.get(key)
            except KeyNotFoundError:
                continue
            if entry.value:
                info = _info.decode(entry.value)
                peers[info.id] = info
        if self.leaving:
            peers.pop(self.node_id, None)
        self.peers = peers
        self.peers_read += 1
        return peers

    async def withdraw(self) -> None:
        """Leave the registry now (a clean stop begins): no node places an account here any more.
        The leases stay renewed until they are released."""
        from nats.errors import Error as NatsError

        self.leaving = True
        self.peers.pop(self.node_id, None)
        try:
            await self.nodes_kv.delete(self.subjects.node_key(self.node_id))
        except (NatsError, TimeoutError, OSError) as exc:
            log.warning("registry entry not removed (it expires by itself): %r", exc)

    async def drain_calls(self, timeout_s: float) -> None:
        """Wait (at most ``timeout_s``) for the calls this node is answering: their answers go out."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)

    async def leave(self) -> None:
        """Stop the heartbeat, release every lease, leave the registry, close the connection."""
        from nats.errors import Error as NatsError

        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        await self.leases.release_all()
        if not self.leaving:
            await self.withdraw()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.nc.drain()
        except (NatsError, TimeoutError, OSError):
            await self.nc.close()

    # -- request/reply ------------------------------------------------------------------------
    async def serve(self, handler: Callable[[Any, float], Awaitable[Any]]) -> None:
        """Answer calls on this node's subject with ``handler(msg, timeout_s)``, each in its own task."""

        async def on_msg(msg: Any) -> None:
            task = asyncio.create_task(self._answer(handler, msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._subs.append(await self.nc.subscribe(self.subjects.rpc(self.node_id), cb=on_msg))
        await self.nc.flush()

    async def _answer(self, handler: Callable[[Any, float], Awaitable[Any]], msg: Any) -> None:
        self.calls_in += 1
        try:
            call = self.codec.open_call(msg.data)
            request = self.codec.body(call)
            if call.wait_for_room:
                result = await handler(request, call.timeout_s)
            else:
                result = await handler(request, call.timeout_s, wait_for_room=False)
            data = self.codec.answer(result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the caller re-raises it, as an in-process ask does
            data = self.codec.failure(exc)
        try:
            await msg.respond(data)
        except Exception as exc:  # the caller gave up (timeout) or the connection dropped
            log.warning("answer not sent: %r", exc)

    async def call(self, node_id: str, msg: Any, timeout_s: float, wait_for_room: bool = True) -> Any:
        """Ask ``node_id`` ``msg``; its result, its error re-raised, TimeoutError, or NodeUnreachable."""
        from nats.errors import NoRespondersError
        from nats.errors import TimeoutError as NatsTimeout

        self.calls_out += 1
        try:
            async with nats_errors(f"call {node_id}", timeouts=False):
                reply = await self.nc.request(self.subjects.rpc(node_id), self.codec.call(msg, timeout_s, wait_for_room),
                                              timeout=timeout_s + 0.5)
        except NoRespondersError:
            self.call_failures += 1
            raise NodeUnreachable(f"node {node_id} does not answer") from None
        except NatsTimeout:
            self.call_failures += 1
            raise AskTimeout(f"node {node_id}", type(msg).__name__, timeout_s) from None
        return self.codec.open_answer(reply.data)

    # -- publish/subscribe ----------------------------------------------------------------------
    async def publish(self, subject: str, data: bytes) -> None:
        await self.nc.publish(subject, data)

    async def subscribe(self, subject: str, cb: Callable[[Any], Awaitable[None]]) -> Any:
        sub = await self.nc.subscribe(subject, cb=cb)
        self._subs.append(sub)
        await self.nc.flush()  # the server has it when this returns: nothing published after is missed
        return sub

    def live_nodes(self) -> list[str]:
        return sorted(self.peers)

    def loads(self) -> dict[str, int]:
        """Each live node's owned accounts, as the registry last said (the same view on every node)."""
        return {n: len(info.accounts) for n, info in self.peers.items()}

    def view(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "connected": bool(self.nc.is_connected), "calls_in": self.calls_in,
                "calls_out": self.calls_out, "call_failures": self.call_failures,
                "leases_held": len(self.leases.held), "leases_acquired": self.leases.acquired,
                "leases_lost": self.leases.lost}
