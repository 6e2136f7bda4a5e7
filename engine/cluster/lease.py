"""Leases in a JetStream key-value bucket: one holder per key, a TTL, renewed by heartbeat.

The bucket's TTL (``max_age``) is the lease TTL: a key nobody renews vanishes
after it, and ``create`` (write only if absent) lets exactly one node take it.
The holder renews with ``update(last=revision)``: if anybody else wrote the key
meanwhile, the update fails and the lease is lost. A lease is trusted locally
only until ``ttl - margin`` after the start of its last good renewal (the
monotonic clock), so a paused process that wakes up distrusts its leases before
its first heartbeat even runs.

``token`` is the revision of the acquisition (see :mod:`engine.cluster.fencing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from engine.cluster.errors import ClusterUnavailable

log = logging.getLogger(__name__)


class LeaseValue(msgspec.Struct, frozen=True):
    node: str
    token: int  # 0 in the create; the acquisition revision in every renewal
    acquired_ms: int


class Lease(msgspec.Struct, kw_only=True):
    key: str
    token: int
    revision: int
    valid_until: float  # time.monotonic()
    acquired_ms: int


class Holder(msgspec.Struct, frozen=True):
    key: str
    node: str
    token: int
    revision: int


_value = msgspec.json.Decoder(LeaseValue)


class LeaseTable:
    """This node's leases in one bucket."""

    def __init__(self, kv: Any, node_id: str, ttl_s: float,
                 on_lost: Callable[[str], None] | None = None) -> None:
        self.kv = kv
        self.node_id = node_id
        self.ttl_s = ttl_s
        self.margin_s = max(0.2, ttl_s * 0.2)
        self.on_lost = on_lost
        self.held: dict[str, Lease] = {}
        self.acquired = 0
        self.lost = 0
        self.renewals = 0

    def valid(self, key: str) -> Lease | None:
        lease = self.held.get(key)
        if lease is None or time.monotonic() >= lease.valid_until:
            return None
        return lease

    async def acquire(self, key: str) -> Lease | None:
        """Take ``key`` if nobody holds it; None if somebody does."""
        from nats.js.errors import KeyWrongLastSequenceError

        if (lease := self.valid(key)) is not None:
            return lease
        async with nats_errors("acquire " + key):
            return await self._acquire(key, KeyWrongLastSequenceError)

    async def _acquire(self, key: str, KeyWrongLastSequenceError: type[Exception]) -> Lease | None:
        started = time.monotonic()
        now_ms = int(time.time() * 1000)
        try:
            revision = await self.kv.create(key, msgspec.json.encode(LeaseValue(self.node_id, 0, now_ms)))
        except KeyWrongLastSequenceError:
            return None
        # the token is written into the value too, so an operator sees it in /admin/cluster
        try:
            latest = await self.kv.update(key, msgspec.json.encode(LeaseValue(self.node_id, revision, now_ms)),
                                          last=revision)
        except KeyWrongLastSequenceError:
            return None
        lease = Lease(key=key, token=revision, revision=latest, valid_until=started + self.ttl_s - self.margin_s,
                      acquired_ms=now_ms)
        self.held[key] = lease
        self.acquired += 1
        log.info("lease %s acquired (token %d)", key, revision)
        return lease

    async def renew_all(self) -> list[str]:
        """Renew every held lease; returns the keys lost (already dropped and reported)."""
        lost = []
        for key, lease in list(self.held.items()):
            if not await self._renew(lease):
                lost.append(key)
        return lost

    async def _renew(self, lease: Lease) -> bool:
        from nats.errors import Error as NatsError
        from nats.js.errors import KeyWrongLastSequenceError

        started = time.monotonic()
        if started >= lease.valid_until:
            self._drop(lease.key, "expired before its renewal")
            return False
        try:
            lease.revision = await self.kv.update(
                lease.key, msgspec.json.encode(LeaseValue(self.node_id, lease.token, lease.acquired_ms)),
                last=lease.revision)
        except KeyWrongLastSequenceError:
            self._drop(lease.key, "taken by another node")
            return False
        except (NatsError, TimeoutError, OSError) as exc:  # unreachable: keep it until it is no longer valid
            log.warning("lease %s not renewed: %r", lease.key, exc)
            return True
        lease.valid_until = started + self.ttl_s - self.margin_s
        self.renewals += 1
        return True

    def _drop(self, key: str, why: str) -> None:
        if self.held.pop(key, None) is None:
            return
        self.lost += 1
        log.warning("lease %s lost: %s", key, why)
        if self.on_lost is not None:
            self.on_lost(key)

    async def release(self, key: str) -> None:
        """Give ``key`` up at once (a clean stop: another node need not wait for the TTL)."""
        from nats.errors import Error as NatsError

        lease = self.held.pop(key, None)
        if lease is None:
            return
        try:
            await self.kv.delete(key, last=lease.revision)
        except (NatsError, TimeoutError, OSError) as exc:
            log.warning("lease %s not released (it expires by itself): %r", key, exc)

    async def release_all(self) -> None:
        for key in list(self.held):
            await self.release(key)

    async def holder(self, key: str) -> Holder | None:
        from nats.js.errors import KeyNotFoundError

        try:
            async with nats_errors("read " + key):
                entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        value = _value.decode(entry.value)
        return Holder(key, value.node, value.token or entry.revision, entry.revision)

    async def keys(self, prefix: str = "") -> set[str]:
        """The keys of every live lease starting with ``prefix`` (one request: no values read)."""
        from nats.js.errors import NoKeysError

        try:
            async with nats_errors("list leases"):
                keys = await self.kv.keys()
        except NoKeysError:
            return set()
        return {key for key in keys if key.startswith(prefix)}

    async def holders(self, prefix: str = "") -> list[Holder]:
        """Every live lease (optionally of keys starting with ``prefix``)."""
        from nats.js.errors import NoKeysError

        try:
            async with nats_errors("list leases"):
                keys = await self.kv.keys()
        except NoKeysError:
            return []
        out = []
        for key in sorted(keys):
            if key.startswith(prefix):
                holder = await self.holder(key)
                if holder is not None:
                    out.append(holder)
        return out


@contextlib.asynccontextmanager
async def nats_errors(what: str, timeouts: bool = True) -> AsyncIterator[None]:
    """NATS unreachable (or, with ``timeouts``, too slow) becomes ClusterUnavailable; the bucket's own
    answers (key exists, wrong revision) pass through."""
    from nats import errors as e

    down: tuple[type[BaseException], ...] = (
        e.ConnectionClosedError, e.ConnectionReconnectingError, e.ConnectionDrainingError, e.NoServersError,
        e.OutboundBufferLimitError, e.StaleConnectionError, OSError)
    try:
        yield
    except TimeoutError as exc:  # first: it is an OSError too (nats.errors.TimeoutError is one as well)
        if not timeouts:
            raise
        raise ClusterUnavailable(f"NATS unavailable ({what}): {exc!r}") from None
    except down as exc:
        raise ClusterUnavailable(f"NATS unavailable ({what}): {exc!r}") from None


async def heartbeat(table: LeaseTable, interval_s: float, also: Callable[[], Any] | None = None) -> None:
    """Renew ``table`` every ``interval_s`` until cancelled. ``also()`` (awaitable: the registry, the
    sweep) runs beside it in its own task, so a slow round of it never delays a renewal."""
    loop = asyncio.get_running_loop()
    extra: asyncio.Task[None] | None = None

    async def guarded() -> None:
        try:
            await also()  # type: ignore[misc]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("cluster heartbeat step failed")

    try:
        while True:
            started = loop.time()
            try:  # a failed round is logged and the next one runs: leases lapse only by their own time
                await table.renew_all()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("lease renewal round failed")
            if also is not None and (extra is None or extra.done()):
                extra = asyncio.create_task(guarded())
            await asyncio.sleep(max(0.0, interval_s - (loop.time() - started)))
    finally:
        if extra is not None and not extra.done():
            extra.cancel()
            await asyncio.gather(extra, return_exceptions=True)
