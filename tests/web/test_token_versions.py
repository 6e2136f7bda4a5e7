"""The in-process token-version cache: what it keeps, and waiting for a version to arrive."""

from __future__ import annotations

import asyncio

import pytest

from web.auth import TokenVersions

pytestmark = pytest.mark.timeout(10)


async def test_reached_returns_once_the_version_is_kept_and_never_for_an_older_one():
    versions = TokenVersions(2.0)
    versions.put(1, 3, 0.0)
    await versions.reached(1, 3)  # kept already: at once
    await versions.reached(1, 2)
    loop = asyncio.get_running_loop()
    waiting = asyncio.ensure_future(versions.reached(1, 5))  # the tasks start first (FIFO callbacks)
    other_user = asyncio.ensure_future(versions.reached(2, 1))
    seen: list[bool] = []
    loop.call_soon(versions.put, 1, 4, 1.0)
    loop.call_soon(lambda: seen.append(waiting.done()))
    loop.call_soon(versions.put, 1, 6, 1.0)
    await asyncio.wait_for(waiting, 1)
    assert seen == [False]  # 4 was not 5: only 6 woke it
    assert not other_user.done()
    other_user.cancel()
    with pytest.raises(asyncio.CancelledError):
        await other_user
    assert versions._waiters == {}  # a cancelled wait leaves nothing behind


def test_kept_versions_only_grow_and_expire():
    versions = TokenVersions(2.0)
    assert versions.put(1, 5, 0.0) == 5
    assert versions.put(1, 3, 1.0) == 5  # a read that lost the race with a revocation
    assert versions.get(1, 2.5) == 5
    assert versions.get(1, 3.0) is None  # 2 s after the last put
