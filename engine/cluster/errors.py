"""The cluster's errors (the web layer answers every one with 503: try again shortly)::

    ClusterError
     ├── FencedOut          this node does not hold the account's lease (any more): nothing was written
     ├── NodeUnreachable    no node answers on that node's subject (it died or left)
     ├── OwnerUnavailable   the account's owner cannot be reached and its lease has not lapsed yet
     └── ClusterUnavailable NATS itself cannot be reached (or answers too slowly)

A timeout of a call to another node is :class:`engine.runtime.AskTimeout`, as in-process.
"""

from __future__ import annotations


class ClusterError(Exception):
    pass


class FencedOut(ClusterError):
    pass


class NodeUnreachable(ClusterError):
    pass


class OwnerUnavailable(ClusterError):
    pass


class ClusterUnavailable(ClusterError):
    pass
