"""Every NATS subject and JetStream bucket name of the cluster, built here and nowhere else.

A cluster is named by its prefix (``AUTOTRADER_CLUSTER_PREFIX``, default
``autotrader``), so several clusters (or test runs) share one NATS server
without hearing each other. Subjects carry only what routing needs: node ids,
internal account and user ids, stock codes. Never a secret, never a broker
account number::

    <prefix>.rpc.<node>                      requests to one node (request/reply)
    <prefix>.events.user                     order events for users' sockets (every node listens)
    <prefix>.auth.revoked                    token revocations: user id, new version (every node listens)
    <prefix>.md.<venue>.trade.<code>         trades of a code, from its upstream holder
    <prefix>.md.<venue>.quote.<code>         order books
    <prefix>.md.<venue>.bar.<SIZE>.<code>    closed bars
    <prefix>.md.<venue>.status.<code>        the holder's upstream status of a code

Buckets (JetStream key-value, TTL = the lease TTL): ``<prefix>_leases`` (keys
``account.<id>``, ``code.<code>``) and ``<prefix>_nodes`` (one key per live node).
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"[^A-Za-z0-9_-]")


def token(text: str) -> str:
    """``text`` made safe as one subject token and one KV key part."""
    return _TOKEN.sub("_", text) or "_"


class Subjects:
    def __init__(self, prefix: str) -> None:
        if not prefix or _TOKEN.search(prefix):
            raise ValueError(f"cluster prefix {prefix!r}: letters, digits, '_' and '-' only")
        self.prefix = prefix

    # -- request/reply and events -------------------------------------------------------
    def rpc(self, node_id: str) -> str:
        return f"{self.prefix}.rpc.{token(node_id)}"

    def user_events(self) -> str:
        return f"{self.prefix}.events.user"

    def revocations(self) -> str:
        return f"{self.prefix}.auth.revoked"

    # -- market data ------------------------------------------------------------------------
    def md(self, venue: str, kind: str, code: str) -> str:
        """``kind``: trade, quote or status."""
        return f"{self.prefix}.md.{token(venue)}.{kind}.{token(code)}"

    def md_bar(self, venue: str, size: str, code: str) -> str:
        return f"{self.prefix}.md.{token(venue)}.bar.{token(size)}.{token(code)}"

    def md_code(self, venue: str, code: str) -> str:
        """Every market-data subject of one code (a wildcard)."""
        return f"{self.prefix}.md.{token(venue)}.*.{token(code)}"

    # -- buckets and keys ---------------------------------------------------------------------
    @property
    def leases_bucket(self) -> str:
        return f"{self.prefix}_leases"

    @property
    def nodes_bucket(self) -> str:
        return f"{self.prefix}_nodes"

    @staticmethod
    def account_key(account_id: int) -> str:
        return f"account.{account_id}"

    @staticmethod
    def code_key(code: str) -> str:
        return f"code.{token(code)}"

    @staticmethod
    def node_key(node_id: str) -> str:
        return token(node_id)
