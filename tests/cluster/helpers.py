"""Helpers for the cluster tests (the fixtures stay in ``conftest``; test modules import from here,
never from conftest or one another): the NATS server's address, dropping a run's buckets, and the
settings of one node."""

from __future__ import annotations

import os

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
