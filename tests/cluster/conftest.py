"""Cluster tests run against the real NATS server (127.0.0.1:4222, started by scripts/test)
and, where a database is needed, MariaDB (cluster mode refuses SQLite). Every test gets its
own cluster prefix, so its subjects and buckets never meet another run's."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

import pytest

from engine.cluster.codec import Codec
from engine.cluster.node import ClusterNode

NATS_URL = os.environ.get("AUTOTRADER_TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.fixture
def prefix() -> str:
    return f"t{secrets.token_hex(5)}"


async def drop_buckets(prefix: str) -> None:
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    for name in (f"{prefix}_leases", f"{prefix}_nodes"):
        try:
            await js.delete_key_value(name)
        except NotFoundError:
            pass
    await nc.close()


@pytest.fixture
async def nodes(prefix: str) -> AsyncIterator[list[ClusterNode]]:
    """Two joined nodes ("a", "b") with a 3 s lease TTL; left and buckets dropped afterwards."""
    made = [await ClusterNode.join(NATS_URL, node_id=n, prefix=prefix, ttl_s=3.0, codec=Codec([]))
            for n in ("a", "b")]
    yield made
    for node in made:
        await asyncio.wait_for(node.leave(), 10)
    await drop_buckets(prefix)


@pytest.fixture(scope="module")
def mariadb_url(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """A fresh MariaDB database, migrated, dropped after the module (cluster mode refuses SQLite)."""
    from storage.db import upgrade
    from tests.helpers import MARIADB_SERVER_URL, MariaDB

    server = MariaDB(MARIADB_SERVER_URL)
    url = server.create()
    request.addfinalizer(lambda: server.drop(url))
    asyncio.run(upgrade(url))
    return url


def node_settings(url: str, tmp_path, prefix: str, node_id: str, **extra):
    from engine.settings import Settings
    from tests.helpers import TEST_DATA_KEY

    return Settings(database_url=url, data_dir=str(tmp_path / node_id), jwt_secret="cluster-jwt-" + "x" * 32,
                    data_keys=TEST_DATA_KEY, hash_key="cluster-hash-key", bcrypt_cost=4,
                    shutdown_deadline_s=2.0, cluster_nats_url=NATS_URL, node_id=node_id, cluster_prefix=prefix,
                    cluster_lease_ttl_s=3.0, **extra)
