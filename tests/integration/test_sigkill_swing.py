"""A swing's transition cut by SIGKILL: the server is killed at each step of the swing's
order (the test-only fault hook, injected by ``tests/integration/fault_server.py``), then started again on the same
database. The swing resumes, its order is reconciled (never sent twice) and the SIGNAL
moves only if the order filled."""

from __future__ import annotations

import asyncio

import aiohttp
import msgspec
import pytest
from sqlalchemy import func, select

from engine.settings import Settings
from engine.strategy.swing import SwingParams
from engine.swings import Intent
from storage import (
    AccountRepo,
    Crypto,
    PasswordHasher,
    SwingRepo,
    UserRepo,
    create_engine,
    create_session_factory,
    ensure_keys,
    upgrade,
)
from storage.models import PaperOrderRow
from tests.integration.helpers import SWING_PARAMS, server_env, start_server

pytestmark = pytest.mark.timeout(180)




async def seed(settings: Settings, email: str) -> int:
    """A user, a paper account, and a swing whose first-stage buy was decided: intent written."""
    settings = ensure_keys(settings)
    engine = create_engine(settings)
    await upgrade(engine)
    try:
        async with create_session_factory(engine).begin() as session:
            user = await UserRepo(session).create(email, await PasswordHasher(4).hash("s3cret-pass"))
            account = await AccountRepo(session, Crypto.from_settings(settings)).create(
                user.id, broker="paper", account_number="50123456-01", app_key="k-1", app_secret="s-1",
                paper_initial_cash=100_000_000)
            swing = await SwingRepo(session).create(
                user_id=user.id, account_id=account.id, stock_code="005930",
                params=SwingParams(**SWING_PARAMS, account_id=account.id), status="active")
            await SwingRepo(session).save(swing.id, msgspec.structs.replace(
                swing.state(), order_seq=1, intent_order_id=f"swing-{swing.id}-1", intent=Intent(
                    status="active", action="buy", quantity_rule="unit_amount", quantity=7, price=100_000,
                    signal_before=0, signal_after=1, trigger="first_stage_buy", reason="seeded", bar_start_ms=0,
                    indicators={})))
            return swing.id
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
