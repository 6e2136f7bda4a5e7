"""Fencing tokens: what makes a lost lease harmless.

A lease's token is the JetStream revision at which it was acquired: the key
value store numbers every write of the bucket in one increasing sequence, so a
later owner always has a larger token. The new owner first records its token
in the database (``storage.fences``); every order-journal write then checks,
in its own transaction, that the token it carries is still the recorded one.
A node that lost its lease (paused, partitioned) writes with an older token and
is refused before anything reaches a broker.
"""

from __future__ import annotations

from typing import Protocol

from engine.cluster.errors import FencedOut

__all__ = ["Fence", "FencedOut"]


class Fence(Protocol):
    def token(self, account_id: int) -> int | None:
        """The valid lease token this node holds for the account, or None."""

    @property
    def node_id(self) -> str: ...
