"""Leases in the JetStream KV bucket, on the real NATS server."""

from __future__ import annotations

import time

import pytest

from engine.cluster.node import rendezvous

pytestmark = pytest.mark.timeout(30)


async def test_one_holder_and_a_larger_token_after_it(nodes):
    a, b = nodes
    first = await a.leases.acquire("account.1")
    assert first is not None and first.token > 0
    assert await b.leases.acquire("account.1") is None  # held: nobody else gets it
    holder = await b.leases.holder("account.1")
    assert holder is not None and (holder.node, holder.token) == ("a", first.token)
    assert await a.leases.renew_all() == []
    await a.leases.release("account.1")
    second = await b.leases.acquire("account.1")
    assert second is not None and second.token > first.token  # fencing tokens only grow


async def test_a_renewal_after_somebody_else_wrote_loses_the_lease(nodes):
    a, b = nodes
    lost: list[str] = []
    a.leases.on_lost = lost.append
    assert await a.leases.acquire("code.005930") is not None
    await a.leases.kv.delete("code.005930")  # as the TTL does to a partitioned holder's key
    assert await b.leases.acquire("code.005930") is not None
    assert await a.leases.renew_all() == ["code.005930"]
    assert lost == ["code.005930"] and a.leases.valid("code.005930") is None


async def test_a_lease_is_distrusted_locally_once_its_time_passed(nodes):
    a, _ = nodes
    lease = await a.leases.acquire("account.9")
    assert a.leases.valid("account.9") is lease
    lease.valid_until = time.monotonic() - 0.001  # as after a pause longer than the TTL
    assert a.leases.valid("account.9") is None
    assert await a.leases.renew_all() == ["account.9"]  # not renewed blindly: dropped


async def test_registry_and_rendezvous(nodes):
    a, b = nodes
    await a.announce()
    await b.announce()
    peers = await a.refresh_peers()
    assert sorted(peers) == ["a", "b"]
    owners = {rendezvous(f"account.{i}", ["a", "b"]) for i in range(50)}
    assert owners == {"a", "b"}  # both get some
    assert rendezvous("account.7", ["a", "b"]) == rendezvous("account.7", ["b", "a"])
    assert rendezvous("x", []) is None


async def test_a_node_with_another_lease_ttl_is_refused(nodes, prefix):
    from engine.cluster.codec import Codec
    from engine.cluster.node import ClusterConfigError, ClusterNode
    from tests.cluster.helpers import NATS_URL

    with pytest.raises(ClusterConfigError, match="same TTL"):
        await ClusterNode.join(NATS_URL, node_id="c", prefix=prefix, ttl_s=9.0, codec=Codec([]))
