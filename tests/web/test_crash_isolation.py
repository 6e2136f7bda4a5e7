"""An actor that crashes again and again is restarted with back-off inside its budget, then
stopped and shown as faulted in /admin/actors; other users' actors are unaffected."""

from __future__ import annotations

import msgspec
import pytest

from tests.web.helpers import TRADES, connect, until
from web.keys import SYSTEM


class Poison(msgspec.Struct, frozen=True):
    """No actor handles this: it crashes whoever receives it."""


@pytest.fixture
def app_settings(db_settings):
    return msgspec.structs.replace(db_settings, restart_max=3, restart_window_s=600, restart_backoff_base_s=1.0,
                                   restart_backoff_max_s=4.0)


async def test_repeated_crashes_are_contained(client, clock, make_user):
    alice_id, alice = await make_user("alice@example.com")
    bob_id, bob = await make_user("bob@example.com", role="admin")
    ws_a = await connect(client, alice, strategy="rsi")
    ws_b = await connect(client, bob, strategy="rsi")
    for ws in (ws_a, ws_b):
        await ws.send_json(TRADES)
        await until(ws, "ack")
    system = client.server.app[SYSTEM]
    victim = system.ref(f"/strategies/{alice_id}/rsi")
    for expected_restarts in range(1, 4):
        victim.tell(Poison())
        await clock.advance(0.01)
        assert system.cell_info(victim.path)["state"] == "restarting"
        await clock.advance(2.0 ** (expected_restarts - 1))  # back-off: 1 s, 2 s, 4 s
        assert system.cell_info(victim.path)["restarts"] == expected_restarts
    victim.tell(Poison())  # the budget (3 in 600 s) is spent: stopped for good
    await clock.advance(0.01)
    tree = {row["path"]: row for row in (await (await client.get("/admin/actors", headers=bob)).json())["actors"]}
    row = tree[f"/strategies/{alice_id}/rsi"]
    assert row["state"] == "faulted" and row["restarts"] == 3 and "Poison" in row["last_error"]
    other = tree[f"/strategies/{bob_id}/rsi"]
    assert other["state"] == "running" and other["restarts"] == 0 and other["failed"] == 0
    await clock.advance(2)
    assert (await until(ws_b, "trade"))[0]["code"] == "005930"  # bob's stream never stopped
