"""A logout on one node refuses the token on the other at once: the revocation is broadcast on NATS.

Two apps in one test process (one MariaDB, the real NATS server), both keeping a user's token
version for an hour (``token_cache_s=3600``): once node B has kept the old version, only the
broadcast can make it refuse the old token within the test. The test waits for the broadcast's
arrival (``TokenVersions.reached``), never for time.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.cluster.helpers import two_nodes, user
from web.auth import TOKEN_VERSIONS
from web.keys import CLUSTER

pytestmark = pytest.mark.timeout(60)
HOUR = 3600.0


@pytest.fixture
async def two(aiohttp_client, mariadb_url, tmp_path, prefix):
    async with two_nodes(aiohttp_client, mariadb_url, tmp_path, prefix, market_data="sim",
                         token_cache_s=HOUR) as nodes:
        yield nodes


async def test_a_logout_on_node_a_refuses_the_token_on_node_b_at_once(two):
    a, b = two
    user_id, headers = await user(a, "rev@example.com")
    assert (await b.get("/accounts", headers=headers)).status == 200  # B keeps version 0 for an hour
    versions_b = b.app[TOKEN_VERSIONS]
    reads = versions_b.reads

    assert (await a.post("/users/logout", headers=headers)).status == 200
    await asyncio.wait_for(versions_b.reached(user_id, 1), 10)  # the broadcast arrived on B

    resp = await b.get("/accounts", headers=headers)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_revoked"
    assert versions_b.reads == reads  # no database read on B: its hour-long cache was told
    assert (await a.get("/accounts", headers=headers)).status == 401  # and A refuses it too, of course
    relay_a, relay_b = a.app[CLUSTER].revocations, b.app[CLUSTER].revocations
    assert (relay_a.sent, relay_b.received, relay_a.received) == (1, 1, 0)  # A ignores its own message


async def test_a_lost_broadcast_leaves_the_cache_window(two):
    """The control: without the broadcast (here: A's relay stopped, as if the message were lost),
    B goes on accepting the old token for its window; then the window is the fallback."""
    a, b = two
    user_id, headers = await user(a, "lost@example.com")
    assert (await b.get("/accounts", headers=headers)).status == 200
    a.app[CLUSTER].revocations.stop()
    assert (await a.post("/users/logout", headers=headers)).status == 200
    assert (await a.get("/accounts", headers=headers)).status == 401  # refused where it was made
    assert (await b.get("/accounts", headers=headers)).status == 200  # B was not told: its hour stands
    assert b.app[CLUSTER].revocations.received == 0

    b.app[TOKEN_VERSIONS].ttl_s = 0.0  # the window passed: B reads the database again and refuses
    resp = await b.get("/accounts", headers=headers)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "token_revoked"


async def test_the_relay_between_two_bare_nodes_and_a_publish_that_cannot_go_out(nodes, prefix):
    """The relay alone, on two joined nodes: a revocation published on one is kept on the other;
    with the connection gone, publishing counts it lost and returns (a logout never fails on it)."""
    from engine.cluster.codec import Codec
    from engine.cluster.node import ClusterNode
    from tests.cluster.helpers import NATS_URL
    from web.auth import TokenVersions
    from web.cluster import RevocationRelay

    node_a, node_b = nodes
    clock = [0.0]
    versions_a, versions_b = TokenVersions(HOUR), TokenVersions(HOUR)
    relay_a = RevocationRelay(node_a, versions_a, lambda: clock[0])
    relay_b = RevocationRelay(node_b, versions_b, lambda: clock[0])
    await relay_a.start()
    await relay_b.start()
    assert versions_a.broadcast == relay_a.publish
    versions_b.put(7, 2, 0.0)
    await relay_a.publish(7, 5)
    await asyncio.wait_for(versions_b.reached(7, 5), 10)
    assert versions_b.get(7, 1.0) == 5 and relay_b.received == 1
    await relay_a.publish(7, 3)  # an older version (reordered, or a slow node) never lowers what is kept
    await relay_a.publish(8, 1)
    await asyncio.wait_for(versions_b.reached(8, 1), 10)  # in order after the one of version 3
    assert versions_b.get(7, 1.0) == 5
    relay_b.stop()
    assert versions_b.broadcast is None

    gone = await ClusterNode.join(NATS_URL, node_id="c", prefix=prefix, ttl_s=3.0, codec=Codec([]))
    relay_c = RevocationRelay(gone, TokenVersions(HOUR), lambda: clock[0])
    await gone.nc.close()
    await relay_c.publish(7, 6)
    assert (relay_c.sent, relay_c.lost) == (0, 1)
