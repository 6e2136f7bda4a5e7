"""Leases: one holder per name in the ``leases`` table, kept alive by heartbeats.

``process`` is the lease a server takes at start-up: one server per database,
so two never restore and run the same swings on the same account (the cluster
mode will hand out a lease per account the same way). A lease is free when it
has no row, when its heartbeat is older than its holder's TTL (``ttl_ms``), or when its holder is a
process on this host that no longer runs (a SIGKILLed server's row is taken
over at once, without waiting out the TTL). Taking it over is a compare-and-set
on (owner, heartbeat), so two contenders never both win.

Owners are ``host:pid:random``; instants are the holder's UTC wall clock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from storage.db import is_unique_violation
from storage.errors import StorageError
from storage.models import Lease, utc_now

log = logging.getLogger(__name__)

PROCESS = "process"


class LeaseHeld(StorageError):
    """Another live process holds the lease; the message names it."""

    def __init__(self, name: str, owner: str, heartbeat_age_s: float) -> None:
        super().__init__(f"the {name!r} lease on this database is held by {owner} "
                         f"(last heartbeat {heartbeat_age_s:.0f} s ago): another server runs on this database; "
                         "stop it, or start with --wait to take over when it stops")
        self.owner = owner


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _dead_local(owner: str) -> bool:
    """True when ``owner`` names a process on this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isascii() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # runs, under another user
        return False
    return False


class LeaseKeeper:
    """Acquire a lease, heartbeat it in a task, release it; ``on_lost`` runs if it is taken away."""

    def __init__(self, sessions: async_sessionmaker, name: str = PROCESS, *, ttl_s: float = 30.0,
                 owner: str | None = None, on_lost: Callable[[], None] | None = None) -> None:
        self.sessions = sessions
        self.name = name
        self.ttl_s = ttl_s
        self.owner = owner or new_owner()
        self.on_lost = on_lost
        self._task: asyncio.Task[None] | None = None

    @property
    def _ttl_ms(self) -> int:
        return max(1, round(self.ttl_s * 1000))

    @property
    def heartbeat_s(self) -> float:
        return max(0.05, self.ttl_s / 3)

    async def try_acquire(self) -> None:
        """Take the lease now or raise :class:`LeaseHeld`."""
        now = utc_now()
        async with self.sessions.begin() as session:
            row = await session.scalar(select(Lease).where(Lease.name == self.name).with_for_update())
            if row is None:
                session.add(Lease(name=self.name, owner=self.owner, acquired_at=now, heartbeat_at=now,
                                  ttl_ms=self._ttl_ms))
                try:
                    await session.flush()
                except IntegrityError as error:
                    if is_unique_violation(error):
                        raise LeaseHeld(self.name, "a process that started at the same moment", 0.0) from None
                    raise
                log.info("took the %r lease as %s", self.name, self.owner)
                return
            age = (now - row.heartbeat_at).total_seconds()
            if row.owner != self.owner and age < row.ttl_ms / 1000 and not _dead_local(row.owner):
                raise LeaseHeld(self.name, row.owner, max(0.0, age))
            previous, beat = row.owner, row.heartbeat_at
            result = await session.execute(
                update(Lease).where(Lease.name == self.name, Lease.owner == previous, Lease.heartbeat_at == beat)
                .values(owner=self.owner, acquired_at=now, heartbeat_at=now, ttl_ms=self._ttl_ms))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise LeaseHeld(self.name, "a process that took it over at the same moment", 0.0)
        if previous != self.owner:
            log.warning("took over the %r lease from %s (heartbeat %.0f s old or its process is gone)",
                        self.name, previous, age)

    async def acquire(self, wait: bool = False) -> None:
        """Take the lease; with ``wait``, retry every heartbeat until it is free."""
        announced = False
        while True:
            try:
                await self.try_acquire()
                break
            except LeaseHeld as exc:
                if not wait:
                    raise
                if not announced:
                    log.warning("waiting: %s", exc)
                    announced = True
                await asyncio.sleep(self.heartbeat_s)
        self._task = asyncio.create_task(self._beat(), name=f"lease-{self.name}")

    async def heartbeat(self) -> bool:
        """Renew; False when another process holds the lease now."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(Lease).where(Lease.name == self.name, Lease.owner == self.owner)
                .values(heartbeat_at=utc_now()))
            return result.rowcount == 1  # type: ignore[attr-defined]

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                held = await self.heartbeat()
            except Exception as exc:  # the database is away: keep trying; the TTL decides
                log.warning("lease %r heartbeat failed: %s", self.name, type(exc).__name__)
                continue
            if not held:
                log.critical("lost the %r lease: another process took it over; stopping", self.name)
                if self.on_lost is not None:
                    self.on_lost()
                return

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        try:
            async with self.sessions.begin() as session:
                await session.execute(delete(Lease).where(Lease.name == self.name, Lease.owner == self.owner))
        except Exception as exc:  # the TTL frees it anyway
            log.warning("could not release the %r lease: %s", self.name, type(exc).__name__)


async def holder(sessions: async_sessionmaker, name: str = PROCESS) -> tuple[str, datetime] | None:
    async with sessions() as session:
        row = await session.scalar(select(Lease).where(Lease.name == name))
    return None if row is None else (row.owner, row.heartbeat_at)


__all__ = ["PROCESS", "LeaseHeld", "LeaseKeeper", "holder", "new_owner"]
