"""``autotrader loadtest --nodes N``: N server processes of one cluster behind the same NATS.

Every node gets the same MariaDB (a fresh ``autotrader_load_<hex>`` database on
127.0.0.1:3306 unless ``--database-url`` names one; dropped afterwards), the
same secrets (made for the run), its own node id, port and data directory, and
a cluster prefix of its own, so a run never meets another one's subjects.
The nodes start one after the other (the first migrates the database).
"""

from __future__ import annotations

import asyncio
import secrets

from cryptography.fernet import Fernet

from benchmarks.loadtest.server import ServerProcess, nats_server_pid

MARIADB = "mysql+aiomysql://root@127.0.0.1:3306"


class Cluster:
    def __init__(self, nodes: int, settings: dict[str, str], nats_url: str, database_url: str = "") -> None:
        self.n = nodes
        self.settings = settings
        self.nats_url = nats_url
        self.database_url = database_url
        self._made_database = ""
        self.prefix = f"load{secrets.token_hex(4)}"
        self.servers: list[ServerProcess] = []
        self.nats_pid = nats_server_pid()

    @property
    def pids(self) -> list[int]:
        return [s.pid for s in self.servers]

    async def start(self) -> None:
        if not self.database_url:
            self._made_database = f"autotrader_load_{secrets.token_hex(4)}"
            await asyncio.get_running_loop().run_in_executor(None, _mariadb, f"CREATE DATABASE `{self._made_database}`")
            self.database_url = f"{MARIADB}/{self._made_database}"
        shared = {
            "AUTOTRADER_DATABASE_URL": self.database_url,
            "AUTOTRADER_CLUSTER_NATS_URL": self.nats_url,
            "AUTOTRADER_CLUSTER_PREFIX": self.prefix,
            "AUTOTRADER_JWT_SECRET": secrets.token_urlsafe(40),
            "AUTOTRADER_DATA_KEYS": Fernet.generate_key().decode("ascii"),
            "AUTOTRADER_HASH_KEY": secrets.token_urlsafe(24),
            **self.settings,
        }
        for i in range(self.n):
            server = ServerProcess({**shared, "AUTOTRADER_NODE_ID": f"n{i}"})
            self.servers.append(server)
            await server.start()

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.servers))
        if self._made_database:
            await asyncio.get_running_loop().run_in_executor(None, _mariadb,
                                                             f"DROP DATABASE IF EXISTS `{self._made_database}`")
        await _drop_buckets(self.nats_url, self.prefix)


def _mariadb(sql: str) -> None:
    import pymysql

    with pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", connect_timeout=5) as conn:
        with conn.cursor() as cursor:
            cursor.execute(sql)


async def _drop_buckets(url: str, prefix: str) -> None:
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for name in (f"{prefix}_leases", f"{prefix}_nodes"):
            try:
                await js.delete_key_value(name)
            except NotFoundError:
                pass
    finally:
        await nc.close()
