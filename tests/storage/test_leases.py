"""The lease row: one holder; expired or dead holders are taken over; a holder that lost it hears so."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import timedelta

import pytest
from sqlalchemy import update

from storage import LeaseHeld, LeaseKeeper
from storage.leases import holder
from storage.models import Lease, utc_now


async def test_a_second_holder_is_refused_naming_the_first(session_factory):
    first = LeaseKeeper(session_factory, ttl_s=30, owner="host-a:1:aaaa")
    await first.acquire()
    second = LeaseKeeper(session_factory, ttl_s=30, owner="host-b:2:bbbb")
    with pytest.raises(LeaseHeld, match="held by host-a:1:aaaa"):
        await second.try_acquire()
    await first.release()
    await second.acquire()
    assert (await holder(session_factory))[0] == "host-b:2:bbbb"
    await second.release()
    assert await holder(session_factory) is None


async def test_an_expired_heartbeat_is_taken_over_and_the_old_holder_hears_it(session_factory):
    lost = asyncio.Event()
    first = LeaseKeeper(session_factory, ttl_s=0.3, owner="host-a:1:aaaa", on_lost=lost.set)
    await first.try_acquire()  # no heartbeat task: it goes stale
    async with session_factory.begin() as session:
        await session.execute(update(Lease).values(heartbeat_at=utc_now() - timedelta(seconds=5)))
    second = LeaseKeeper(session_factory, ttl_s=0.3, owner="host-b:2:bbbb")
    await second.try_acquire()
    assert await first.heartbeat() is False
    first._task = asyncio.create_task(first._beat())
    await asyncio.wait_for(lost.wait(), 5)


async def test_a_dead_process_on_this_host_is_taken_over_at_once(session_factory):
    proc = await asyncio.create_subprocess_exec("true")
    await proc.wait()  # a pid that no longer runs
    dead = LeaseKeeper(session_factory, ttl_s=300, owner=f"{socket.gethostname()}:{proc.pid}:dead")
    await dead.try_acquire()
    alive = LeaseKeeper(session_factory, ttl_s=300, owner=f"{socket.gethostname()}:{os.getppid()}:live")
    await alive.try_acquire()  # its heartbeat is fresh, but its process is gone
    assert (await holder(session_factory))[0].endswith(":live")
    other = LeaseKeeper(session_factory, ttl_s=300)
    with pytest.raises(LeaseHeld):  # the parent process runs: not taken over
        await other.try_acquire()


async def test_two_contenders_at_once_get_one_lease(session_factory):
    keepers = [LeaseKeeper(session_factory, ttl_s=30, owner=f"host-{i}:{i}:x") for i in range(8)]
    results = await asyncio.gather(*(k.try_acquire() for k in keepers), return_exceptions=True)
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, LeaseHeld) for r in results if r is not None)
