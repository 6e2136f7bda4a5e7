"""Fencing in the database: the token of each account's owner, checked by every journal write.

:func:`claim` records a new owner's token (only ever upwards); :func:`check`
runs inside a journal write's own transaction and locks the account's row
(``SELECT ... FOR UPDATE``), so a claim waits for a write in flight and every
write after a claim sees it. A write whose token is not the recorded one
raises :class:`~engine.cluster.fencing.FencedOut` and its transaction is rolled
back: the order never reaches ``pending``, so it is never sent.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from engine.cluster.fencing import Fence, FencedOut
from storage.db import is_unique_violation, retry_transaction
from storage.models import AccountFenceRow


@retry_transaction
async def claim(sessions: async_sessionmaker, account_id: int, token: int, node_id: str, now_ms: int) -> bool:
    """Record ``token`` as the account's fence; False if a larger one is there already."""
    async with sessions.begin() as session:
        moved = await session.execute(
            update(AccountFenceRow).where(AccountFenceRow.account_id == account_id,
                                          AccountFenceRow.token <= token)
            .values(token=token, node_id=node_id[:64], claimed_ms=now_ms))
        if moved.rowcount:
            return True
        if await session.get(AccountFenceRow, account_id) is not None:
            return False  # a newer owner claimed it
        session.add(AccountFenceRow(account_id=account_id, token=token, node_id=node_id[:64], claimed_ms=now_ms))
        try:
            await session.flush()
        except IntegrityError as error:
            if is_unique_violation(error):
                return False  # claimed at the same moment by another node: retry from the lease
            raise
        return True


async def check(session: AsyncSession, fence: Fence, account_id: int) -> None:
    """Raise FencedOut unless this node's valid token for the account is the recorded one."""
    token = fence.token(account_id)
    _held(fence, account_id, token)
    recorded = await session.scalar(_RECORDED.where(AccountFenceRow.account_id == account_id))
    _current(fence, account_id, token, recorded)


def check_token(conn: Connection, fence: Fence, account_id: int, token: int | None) -> None:
    """:func:`check` inside a synchronous Core transaction (``storage.db.transaction``), for the
    ``token`` read beforehand on the event loop."""
    _held(fence, account_id, token)
    recorded = conn.execute(_RECORDED.where(AccountFenceRow.account_id == account_id)).scalar()
    _current(fence, account_id, token, recorded)


_RECORDED = select(AccountFenceRow.token).with_for_update()


def _held(fence: Fence, account_id: int, token: int | None) -> None:
    if token is None:
        raise FencedOut(f"node {fence.node_id} does not hold account {account_id}'s lease")


def _current(fence: Fence, account_id: int, token: int | None, recorded: int | None) -> None:
    if recorded != token:
        raise FencedOut(f"account {account_id}: token {token} of node {fence.node_id} is stale "
                        f"(the owner's is {recorded})")


async def tokens(sessions: async_sessionmaker) -> dict[int, tuple[int, str]]:
    """Every recorded fence: account id -> (token, node id)."""
    async with sessions() as session:
        rows = await session.execute(select(AccountFenceRow.account_id, AccountFenceRow.token,
                                            AccountFenceRow.node_id))
        return {a: (t, n) for a, t, n in rows}
