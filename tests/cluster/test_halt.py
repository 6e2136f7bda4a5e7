"""An account's kill switch reaches every node at once: halted through the node that does not own the
account, its swing (running on the owner) is ``halted`` before the answer is read, with no check in
between, and the owner's account actor refuses the next order; resumed the same way, the swing runs
again. Two apps in one process (one MariaDB, the real NATS server), KRX hours respected on the wall
clock: the swing's bar is 1D, so no check can fall inside the test."""

from __future__ import annotations

import pytest

from actors import paths
from actors.swing import GetSwing
from tests.cluster.helpers import two_nodes, user
from tests.web.orders_env import PAPER, register
from web.keys import CLUSTER, SYSTEM

pytestmark = pytest.mark.timeout(60)

SWING = {"stock_code": "005930", "unit_amount": 1_000_000, "bar_size": "1D"}
REASON = "stop everything"


@pytest.fixture
async def two(aiohttp_client, mariadb_url, tmp_path, prefix):
    async with two_nodes(aiohttp_client, mariadb_url, tmp_path, prefix, market_data="sim",
                         ignore_market_hours=False) as nodes:
        yield nodes


async def swing_on(owner, swing_id: int):
    """The running swing's own view, on the node that runs it (after everything there is handled)."""
    await owner.app[SYSTEM].idle()
    ref = owner.app[SYSTEM].lookup(paths.swing(swing_id))
    assert ref is not None
    return await ref.ask(GetSwing(), 5)


async def test_a_halt_on_one_node_halts_the_swing_on_the_other_at_once(two):
    a, b = two
    _, headers = await user(a, "halt@example.com")
    account_id = await register(a, headers, PAPER)
    resp = await a.post("/swing/register", json=SWING, headers=headers)
    assert resp.status == 201, await resp.text()
    swing_id = (await resp.json())["swing_id"]
    (owner,) = [c for c in (a, b) if account_id in c.app[CLUSTER].accounts.owned()]
    other = b if owner is a else a
    assert other.app[SYSTEM].lookup(paths.swing(swing_id)) is None  # the swing runs on the owner only
    view = await swing_on(owner, swing_id)
    assert view.status == "warming_up" and view.history_ready
    order = {"stock_code": "005930", "order_type": "buy", "quantity": 1, "price": 30_000}
    first = await other.post("/stocks/order", json=order, headers={**headers, "Idempotency-Key": "o1"})
    # the owner's actor has read the switch (off): the order rests, or KRX is closed at this wall time
    assert first.status in (201, 202) or (await first.json())["error"]["code"] == "market_closed"

    resp = await other.post(f"/accounts/{account_id}/halt", json={"reason": REASON}, headers=headers)
    assert resp.status == 200, await resp.text()
    view = await swing_on(owner, swing_id)
    why = f"the account is halted: {REASON}; no decision until it is resumed"
    assert (view.status, view.halted_reason) == ("halted", why)
    detail = await (await other.get(f"/swing/{swing_id}", headers=headers)).json()
    assert (detail["status"], detail["halted_reason"]) == ("halted", why)
    refused = await other.post("/stocks/order", json=order, headers={**headers, "Idempotency-Key": "o2"})
    assert refused.status == 422 and (await refused.json())["error"]["code"] == "account_halted"

    assert (await other.post(f"/accounts/{account_id}/resume", headers=headers)).status == 200
    view = await swing_on(owner, swing_id)
    assert (view.status, view.halted_reason) == ("warming_up", None)
    (row,) = [r for r in owner.app[SYSTEM].snapshot() if r["path"] == paths.swing(swing_id)]
    assert row["details"]["checks"] == 0  # no swing check ran: the broadcast did it all
