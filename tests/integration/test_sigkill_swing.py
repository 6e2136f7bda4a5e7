"""A swing's transition cut by SIGKILL: the server is killed at each step of the swing's
order (the test-only fault hook, injected by ``tests/integration/fault_server.py``), then started again on the same
database. The swing resumes, its order is reconciled (never sent twice) and the SIGNAL
moves only if the order filled."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from sqlalchemy import func, select

from engine.settings import Settings
from storage import create_engine, create_session_factory, ensure_keys, upgrade
from storage.models import PaperOrderRow
from tests.integration.helpers import seed_paper_account, seed_swing_mid_buy, server_env, start_server

pytestmark = pytest.mark.timeout(180)


async def seed(settings: Settings, email: str) -> int:
    """A user, a paper account, and a swing whose first-stage buy was decided: intent written."""
    settings = ensure_keys(settings)
    engine = create_engine(settings)
    await upgrade(engine)
    try:
        async with create_session_factory(engine).begin() as session:
            user_id, account_id = await seed_paper_account(session, settings, email, "50123456-01")
            return await seed_swing_mid_buy(session, user_id, account_id)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("step, signal, shares, at_broker", [
    ("journal", 0, 0, 0),  # journalled, never sent: the broker never saw it
    ("send", 1, 7, 1),  # the broker took it once and filled it at acceptance: reconciled as filled
    ("fill", 1, 7, 1),  # filled once
])
async def test_sigkill_mid_swing_transition_then_restart(tmp_path, empty_db_url, step, signal, shares, at_broker):
    settings = Settings(data_dir=str(tmp_path / "data"), database_url=empty_db_url)
    email = f"swing-kill-{step}@example.com"
    swing_id = await seed(settings, email)
    env = server_env(tmp_path, database_url=empty_db_url, ignore_market_hours="true", sim_quotes_per_s="20")
    first = await start_server(env, kill_at=step)  # the swing re-places at start
    assert await asyncio.wait_for(first.proc.wait(), 60) == -9

    second = await start_server(env)
    try:
        async with aiohttp.ClientSession() as http:
            login = await http.post(f"{second.url}/users/login", json={"email": email, "password": "s3cret-pass"})
            auth = {"Authorization": f"Bearer {(await login.json())['access_token']}"}
            for _ in range(2000):  # each round trip awaits the server's answer; the fill needs a live quote
                view = await (await http.get(f"{second.url}/swing/{swing_id}", headers=auth)).json()
                if view["pending_order"] is None:
                    break
            assert view["pending_order"] is None
            assert view["signal_state"] == signal and view["shares"] == shares
            orders = (await (await http.get(f"{second.url}/stocks/orders", headers=auth)).json())["orders"]
        assert [o["client_order_id"] for o in orders] == [f"swing-{swing_id}-1"]  # journalled once
        engine = create_engine(ensure_keys(settings))
        try:
            async with create_session_factory(engine)() as session:
                broker_orders = await session.scalar(select(func.count()).select_from(PaperOrderRow)
                                                     .where(PaperOrderRow.account_id == view["account_id"]))
        finally:
            await engine.dispose()
        assert broker_orders == at_broker  # never a second time
    finally:
        await second.terminate()
