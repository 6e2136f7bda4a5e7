"""Helpers for the cluster tests (the fixtures stay in ``conftest``; test modules import from here,
never from conftest or one another): the NATS server's address, dropping a run's buckets, the
settings of one node, two nodes' test clients and a user with a token."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

NATS_URL = os.environ.get("AUTOTRADER_TEST_NATS_URL", "nats://127.0.0.1:4222")


async def drop_buckets(prefix: str) -> None:
    """Delete the lease and node buckets of the cluster ``prefix`` (absent ones are fine): what the
    cluster load test does after its run."""
    from benchmarks.loadtest.cluster import _drop_buckets

    await _drop_buckets(NATS_URL, prefix)


def node_settings(url: str, tmp_path, prefix: str, node_id: str, **extra):  # type: ignore[no-untyped-def]
    """The settings of node ``node_id`` of cluster ``prefix`` on the database ``url`` (3 s lease TTL)."""
    from engine.settings import Settings
    from tests.helpers import TEST_DATA_KEY

    return Settings(database_url=url, data_dir=str(tmp_path / node_id), jwt_secret="cluster-jwt-" + "x" * 32,
                    data_keys=TEST_DATA_KEY, hash_key="cluster-hash-key", bcrypt_cost=4,
                    shutdown_deadline_s=2.0, cluster_nats_url=NATS_URL, node_id=node_id, cluster_prefix=prefix,
                    cluster_lease_ttl_s=3.0, **extra)


@asynccontextmanager
async def two_nodes(aiohttp_client, url: str, tmp_path, prefix: str,  # type: ignore[no-untyped-def]
                    **extra) -> AsyncIterator[tuple]:
    """Test clients of nodes ``a`` and ``b`` of cluster ``prefix`` (each knowing the other), closed
    and their buckets dropped on exit."""
    from web.app import create_app
    from web.keys import CLUSTER

    a = await aiohttp_client(create_app(node_settings(url, tmp_path, prefix, "a", **extra)))
    b = await aiohttp_client(create_app(node_settings(url, tmp_path, prefix, "b", **extra)))
    for client in (a, b):
        await client.app[CLUSTER].node.refresh_peers()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()
        await drop_buckets(prefix)


async def user(client, email: str, role: str = "user"):  # type: ignore[no-untyped-def]
    """A user made in the cluster's database: ``(its id, the headers of a token for it)``."""
    from storage import UserRepo
    from web.auth import issue_token
    from web.keys import SESSIONS, SETTINGS

    async with client.app[SESSIONS].begin() as session:
        made = await UserRepo(session).create(email, "not-a-real-hash", role=role)  # type: ignore[arg-type]
    s = client.app[SETTINGS]
    return made.id, {"Authorization": f"Bearer {issue_token(made.id, s.jwt_secret, s.jwt_lifetime_s)}"}
