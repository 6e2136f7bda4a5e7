"""Cluster mode in the application: joining, wiring, ``GET /admin/cluster`` and the cluster's metrics.

Off unless ``AUTOTRADER_CLUSTER_NATS_URL`` is set: then :func:`context` (a
``cleanup_ctx`` between the database and the actors) joins the NATS cluster
and puts a :class:`Cluster` in ``app[CLUSTER]``; ``web/app.py`` hands its
fence to the order journal, its relay to the accounts' order events, and
calls :func:`attach` once the actors run. Token revocations (a logout, a
password change) are broadcast to every node by :class:`RevocationRelay`.
Nothing here is imported, and NATS is never loaded, by a single-process server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from actors.account_messages import (
    BalanceUnavailable, CancelOrder, GetBalance, ModifyOrder, OrderResult, PlaceOrder, Reconcile,
)
from actors.cluster_accounts import (
    AccountOwnership, AccountRiskChanged, OwnAccount, PlaceRemote, StopSwingAt, SwingsChanged,
)
from engine.brokers.base import BrokerBalance
from engine.cluster.codec import Codec
from engine.cluster.market_plane import ClusterMarketData
from engine.cluster.errors import ClusterUnavailable, FencedOut, NodeUnreachable, OwnerUnavailable
from engine.cluster.lease import nats_errors
from engine.cluster.node import ClusterNode, default_node_id
from engine.runtime import ActorStopped, ActorSystem, MailboxFull
from engine.settings import check_cluster
from storage import OrderRepo, SqlSwingStore
from storage.fences import claim
from web.auth import TOKEN_VERSIONS, TokenVersions, require_admin
from web.bodies import respond
from web.keys import CLOCK, CLUSTER, METRICS, SESSIONS, SETTINGS
from web.openapi import route
from web.realtime import StrategyDataInner, StrategyDataOf, strategy_snapshot

log = logging.getLogger(__name__)

WIRE_TYPES: list[type] = [PlaceRemote, PlaceOrder, CancelOrder, ModifyOrder, GetBalance, Reconcile, OrderResult,
                          BrokerBalance, BalanceUnavailable, OwnAccount, SwingsChanged, StopSwingAt, StrategyDataOf,
                          StrategyDataInner, AccountRiskChanged]
WIRE_ERRORS: list[type[BaseException]] = [FencedOut, NodeUnreachable, OwnerUnavailable, ClusterUnavailable,
                                          MailboxFull, ActorStopped]


class Revoked(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """A user's tokens older than ``version`` are revoked (sent by ``node`` after its commit)."""

    node: str
    user_id: int
    version: int


class RevocationRelay:
    """Token revocations to and from every node of the cluster, on ``<prefix>.auth.revoked``.

    A logout or password change here is published once its new version is committed; a message
    from another node puts that version into this node's :class:`~web.auth.TokenVersions` at once,
    so the old tokens are refused here too without waiting out ``token_cache_s``. A message that
    is lost (NATS down, this node reconnecting) leaves that window as the fallback: publishing
    never fails the logout itself."""

    def __init__(self, node: ClusterNode, versions: TokenVersions, monotonic: Any) -> None:
        self.node = node
        self.versions = versions
        self.monotonic = monotonic
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(Revoked).decode
        self.sent = 0
        self.received = 0
        self.lost = 0  # not published: the other nodes refuse the old tokens within token_cache_s

    async def start(self) -> None:
        await self.node.subscribe(self.node.subjects.revocations(), self._on_msg)
        self.versions.broadcast = self.publish

    def stop(self) -> None:
        if self.versions.broadcast == self.publish:
            self.versions.broadcast = None

    async def publish(self, user_id: int, version: int) -> None:
        data = self._encode(Revoked(self.node.node_id, user_id, version))
        try:
            async with nats_errors("revocation broadcast"):
                await self.node.publish(self.node.subjects.revocations(), data)
        except ClusterUnavailable as exc:
            self.lost += 1
            log.warning("revocation of user %d's tokens not broadcast (other nodes refuse them within "
                        "token_cache_s): %s", user_id, exc)
            return
        self.sent += 1

    async def _on_msg(self, msg: Any) -> None:
        try:
            revoked = self._decode(msg.data)
        except msgspec.DecodeError as exc:
            log.warning("bad revocation message on %s: %s", msg.subject, exc)
            return
        if revoked.node == self.node.node_id:  # this node kept it before publishing
            return
        self.received += 1
        self.versions.put(revoked.user_id, revoked.version, self.monotonic())

    def view(self) -> dict[str, int]:
        return {"revocations_sent": self.sent, "revocations_received": self.received,
                "revocations_lost": self.lost}


class Cluster:
    def __init__(self, node: ClusterNode, accounts: AccountOwnership,
                 revocations: RevocationRelay | None = None) -> None:
        self.node = node
        self.accounts = accounts
        self.revocations = revocations
        self.market: ClusterMarketData | None = None
        self.closing = False

    def market_data(self, local: Any) -> ClusterMarketData:
        """The node's source wrapped into the cluster's one market-data plane."""
        self.market = ClusterMarketData(local, self.node)
        return self.market

    async def everywhere(self, msg: Any, timeout: float) -> list[Any]:
        """``msg`` asked of every other live node at once; the answers of those that gave one."""
        others = [n for n in self.node.live_nodes() if n != self.node.node_id]
        answers = await asyncio.gather(*(self.node.call(n, msg, timeout) for n in others), return_exceptions=True)
        out = []
        for node_id, answer in zip(others, answers):
            if isinstance(answer, BaseException):
                log.warning("node %s did not answer %s: %r", node_id, type(msg).__name__, answer)
            else:
                out.append(answer)
        return out

    def account(self, account_id: int) -> _RoutedAccount:
        """What ``web.orders.account_actor`` returns in cluster mode: ``ask`` reaches the owner."""
        return _RoutedAccount(self.accounts, account_id)


class _RoutedAccount:
    def __init__(self, accounts: AccountOwnership, account_id: int) -> None:
        self.accounts = accounts
        self.account_id = account_id

    async def ask(self, msg: Any, timeout: float, *, wait_for_room: bool = True) -> Any:
        return await self.accounts.ask(self.account_id, msg, timeout, wait_for_room=wait_for_room)


def process_lease_name(settings: Any) -> str:
    """The database lease this process holds: one server per database (``process``), or in a
    cluster one per node id (``node:<id>``): many nodes share the database, never one id twice."""
    from storage.leases import PROCESS

    if not settings.cluster_nats_url:
        return PROCESS
    return f"node:{settings.node_id or default_node_id()}"[:64]


async def context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.cluster_nats_url:
        yield
        return
    check_cluster(settings)
    sessions = app[SESSIONS]
    node_id = settings.node_id or default_node_id()
    node = await ClusterNode.join(settings.cluster_nats_url, node_id=node_id, prefix=settings.cluster_prefix,
                                  ttl_s=settings.cluster_lease_ttl_s, codec=Codec(WIRE_TYPES, WIRE_ERRORS),
                                  creds=settings.cluster_nats_creds)
    node.address = f"{settings.host}:{settings.port}"
    store = SqlSwingStore(sessions, app[CLOCK].now_ms)

    async def claim_fence(account_id: int, token: int) -> bool:
        return await claim(sessions, account_id, token, node_id, int(time.time() * 1000))

    async def swings_of(account_id: int) -> list[tuple[int, str]]:
        return [(s.id, s.params.bar_size) for s in await store.live() if s.account_id == account_id]

    async def needed() -> set[int]:
        async with sessions() as session:
            accounts = set(await OrderRepo(session).accounts_with_open_orders())
        return accounts | {s.account_id for s in await store.live()}

    accounts = AccountOwnership(node, claim=claim_fence, swings_of=swings_of, needed=needed)

    async def strategy_part(msg: StrategyDataOf, timeout: float) -> StrategyDataInner:
        return await strategy_snapshot(app, msg.user_id)

    accounts.handlers[StrategyDataOf] = strategy_part
    revocations = RevocationRelay(node, app[TOKEN_VERSIONS], app[CLOCK].monotonic)
    try:
        await revocations.start()  # before any request: a revocation from now on is heard here
    except BaseException:
        await node.leave()
        raise
    cluster = app[CLUSTER] = Cluster(node, accounts, revocations)
    node.describe = lambda: _describe(cluster)
    try:
        yield
    finally:
        cluster.closing = True
        revocations.stop()
        await node.leave()


def _describe(cluster: Cluster) -> Any:
    from engine.cluster.node import NodeInfo

    node, owned = cluster.node, cluster.accounts.owned()
    codes = sorted(cluster.market.held) if cluster.market is not None else []
    return NodeInfo(id=node.node_id, address=node.address, started_ms=node.started_ms,
                    load=len(owned) + len(codes), accounts=owned, codes=codes)


async def attach(app: web.Application, system: ActorSystem) -> None:
    """Once the actors run (before the server listens): serve, heartbeat, take what hashes here."""
    cluster: Cluster = app[CLUSTER]  # type: ignore[assignment]
    await cluster.accounts.attach(system)
    await cluster.node.start()
    await cluster.node.refresh_peers()
    await cluster.accounts.sweep()


async def hand_over(app: web.Application) -> None:
    """Shutdown begins (the HTTP requests are done): nothing is taken here any more, and every owned
    account is handed to another node at once (see ``AccountOwnership.hand_over``); the code leases go
    when the source stops, the rest when the node leaves."""
    cluster = app.get(CLUSTER)
    if cluster is not None:
        cluster.closing = True
        cluster.node.on_heartbeat.clear()
        await cluster.accounts.hand_over(app[SETTINGS].shutdown_deadline_s)


# -- GET /admin/cluster -----------------------------------------------------------------------


class NodeView(msgspec.Struct, frozen=True):
    id: str
    address: str
    started: str  # ISO-8601 UTC
    load: int
    upstream_codes: list[str]
    owned_accounts: list[int]


class LeaseView(msgspec.Struct, frozen=True):
    key: str
    holder: str
    token: int
    revision: int


class ClusterView(msgspec.Struct, frozen=True):
    node_id: str
    prefix: str
    lease_ttl_s: float
    nodes: list[NodeView]
    leases: list[LeaseView]
    this_node: dict[str, Any]


async def admin_cluster(request: web.Request) -> web.Response:
    await require_admin(request)
    cluster = request.app.get(CLUSTER)
    if cluster is None:
        raise web.HTTPNotFound(reason="not in cluster mode (AUTOTRADER_CLUSTER_NATS_URL is not set)")
    node = cluster.node
    peers = await node.refresh_peers()
    nodes = [NodeView(p.id, p.address, _iso(p.started_ms), p.load, p.codes, p.accounts)
             for p in sorted(peers.values(), key=lambda p: p.id)]
    leases = [LeaseView(h.key, h.node, h.token, h.revision) for h in await node.leases.holders()]
    market = cluster.market.view() if cluster.market is not None else {}
    relay = cluster.revocations.view() if cluster.revocations is not None else {}
    return respond(ClusterView(node.node_id, node.subjects.prefix, node.ttl_s, nodes, leases,
                               {**node.view(), **cluster.accounts.view(), **market, **relay}))


def _iso(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat()


# -- metrics --------------------------------------------------------------------------------------


class _ClusterCollector(Collector):
    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        cluster = self.app.get(CLUSTER)
        if cluster is None:
            return
        node, accounts = cluster.node, cluster.accounts
        yield GaugeMetricFamily("autotrader_cluster_connected", "1 while this node's NATS connection is up",
                                value=1 if node.nc.is_connected else 0)
        yield GaugeMetricFamily("autotrader_cluster_nodes", "live nodes in the registry", value=len(node.peers))
        yield GaugeMetricFamily("autotrader_cluster_owned_accounts", "accounts this node owns",
                                value=len(accounts.owned()))
        yield GaugeMetricFamily("autotrader_cluster_leases_held", "leases this node holds",
                                value=len(node.leases.held))
        for name, doc, value in (
            ("autotrader_cluster_leases_acquired", "leases this node acquired", node.leases.acquired),
            ("autotrader_cluster_leases_lost", "leases this node lost", node.leases.lost),
            ("autotrader_cluster_calls_in", "requests from other nodes", node.calls_in),
            ("autotrader_cluster_calls_out", "requests to other nodes", node.calls_out),
            ("autotrader_cluster_call_failures", "requests to other nodes that failed", node.call_failures),
            ("autotrader_cluster_events_relayed", "order events published for other nodes", accounts.events_out),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        relay = cluster.revocations
        if relay is not None:
            for name, doc, value in (
                ("autotrader_cluster_revocations_sent", "token revocations broadcast to the other nodes",
                 relay.sent),
                ("autotrader_cluster_revocations_received", "token revocations heard from other nodes",
                 relay.received),
                ("autotrader_cluster_revocations_lost", "token revocations that could not be broadcast",
                 relay.lost),
            ):
                yield CounterMetricFamily(name, doc, value=value)
        market = cluster.market
        if market is not None:
            yield GaugeMetricFamily("autotrader_cluster_upstream_codes", "codes whose upstream this node holds",
                                    value=len(market.held))
            yield GaugeMetricFamily("autotrader_cluster_followed_codes", "codes this node gets from another node",
                                    value=len(market.follow))
            for name, doc, value in (
                ("autotrader_cluster_md_published", "market-data records published for other nodes",
                 market.published),
                ("autotrader_cluster_md_received", "market-data records received from other nodes", market.received),
                ("autotrader_cluster_md_takeovers", "codes taken over from a node that died or let go",
                 market.takeovers),
            ):
                yield CounterMetricFamily(name, doc, value=value)


def setup(app: web.Application) -> None:
    """The admin route and the metrics collector (both quiet outside cluster mode).
    ``web/app.py`` places :func:`context` among the cleanup contexts itself (order matters)."""
    route(app, "GET", "/admin/cluster", admin_cluster, summary="nodes, leases and holders (admin, cluster mode)",
          tag="admin", responses={200: ClusterView}, errors=(403, 404))
    if METRICS in app:
        app[METRICS].registry.register(_ClusterCollector(app))
