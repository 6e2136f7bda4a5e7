"""Cluster tests run against the real NATS server (127.0.0.1:4222, started by scripts/test)
and, where a database is needed, MariaDB (cluster mode refuses SQLite). Every test gets its
own cluster prefix, so its subjects and buckets never meet another run's. Shared helpers are in
``tests/cluster/helpers.py``."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from engine.cluster.codec import Codec
from engine.cluster.node import ClusterNode
from tests.cluster.helpers import NATS_URL, drop_buckets


@pytest.fixture
def prefix() -> str:
    return f"t{secrets.token_hex(5)}"


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
