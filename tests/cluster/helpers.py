"""Helpers of the cluster tests (test modules import from here, never from conftest): the NATS
server's address, dropping a test's buckets, one node's settings."""

from __future__ import annotations

import os

NATS_URL = os.environ.get("AUTOTRADER_TEST_NATS_URL", "nats://127.0.0.1:4222")


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


def node_settings(url: str, tmp_path, prefix: str, node_id: str, **extra):
    from engine.settings import Settings
    from tests.helpers import TEST_DATA_KEY

    return Settings(database_url=url, data_dir=str(tmp_path / node_id), jwt_secret="cluster-jwt-" + "x" * 32,
                    data_keys=TEST_DATA_KEY, hash_key="cluster-hash-key", bcrypt_cost=4,
                    shutdown_deadline_s=2.0, cluster_nats_url=NATS_URL, node_id=node_id, cluster_prefix=prefix,
                    cluster_lease_ttl_s=3.0, **extra)
