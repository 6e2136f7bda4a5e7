"""One realised P&L (engine.pnl) on market time: a 1D swing replayed over November 2019 on a paper
account books exactly the backtest's figure for its round trip, the paper ledger's fills say the same,
the holdings show the code's market, and the daily loss limit refuses buys on that very figure."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import io
import json

import msgspec
import pytest
from sqlalchemy import func, select

from actors import paths
from actors.swing import GetSwing
from engine.market import krx
from engine.strategy import backtest as bt
from storage.models import FillRow
from tests.helpers import data_file
from tests.web.orders_env import register
from web.app import create_app
from web.keys import CLOCK, SYSTEM

pytestmark = pytest.mark.timeout(240)

DAILY = data_file("krx_daily_005930.csv")
ARGV = ["--csv", str(DAILY), "--start", "2019-11-01", "--end", "2019-11-29", "--cash", "100000000",
        "--unit-amount", "5000000", "--repeat", "--json"]


@pytest.fixture
def app_settings(db_settings):
    return msgspec.structs.replace(db_settings, market_data="replay", replay_csv=str(DAILY),
                                   replay_start="2019-11-01", replay_end="2019-11-29", replay_speed="max",
                                   replay_paused=True, paper_initial_cash=100_000_000, shutdown_deadline_s=2.0)


def backtest_trades() -> list[dict]:
    parser = argparse.ArgumentParser()
    bt.add_arguments(parser)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bt.run(parser.parse_args(ARGV)) == 0
    return json.loads(out.getvalue())["trades"]


async def run_until(client, admin, day: dt.date, hour: int, minute: int) -> None:
    """Resume the replay and let it run to ``day`` ``hour``:``minute`` KST, everything handled."""
    app = client.app
    app[CLOCK].pause_at(krx.kst_midnight_ms(day) + (hour * 60 + minute) * 60_000)
    assert (await client.post("/admin/replay/resume", headers=admin)).status == 200
    await asyncio.wait_for(app[CLOCK].paused.wait(), 120)
    await app[SYSTEM].idle()


async def ledger_realised(session_factory, account_id: int) -> int:
    async with session_factory() as session:
        return await session.scalar(select(func.coalesce(func.sum(FillRow.realized_pnl), 0)).where(
            FillRow.account_id == account_id))


async def test_swing_ledger_backtest_and_loss_limit_share_one_realised_pnl(aiohttp_client, app_settings, engine,
                                                                         make_user, session_factory):
    client = await aiohttp_client(create_app(app_settings))
    app = client.app
    _, admin = await make_user("admin@example.com", role="admin")
    _, user = await make_user()
    account = await register(client, user)
    resp = await client.post("/swing/register", json={"stock_code": "005930", "unit_amount": 5_000_000,
                                                     "bar_size": "1D", "repeat": True}, headers=user)
    assert resp.status == 201, await resp.text()
    swing_id = (await resp.json())["swing_id"]
    await app[SYSTEM].idle()
    assert (await app[SYSTEM].lookup(paths.swing(swing_id)).ask(GetSwing(), 5))["history_ready"]

    # The third buy fills at 2019-11-28's opening auction: 95 x 51,900 = 4,930,500, commission
    # floor(0.015 %) = 739. The holding shows its market (a replay's file: KOSPI).
    await run_until(client, admin, dt.date(2019, 11, 28), 9, 5)
    balance = await (await client.get("/accounts/balance", headers=user)).json()
    [held] = balance["stock_balance"]
    assert (held["stock_code"], held["quantity"], held["average_price"], held["market"]) == (
        "005930", 95, 51_900, "KOSPI")

    # ... and is sold at 2019-11-29's open: 95 x 51,200 = 4,864,000, commission 729, tax of a sale
    # settled 2019-12-03 (KOSPI 0.10 % + 0.15 % rural) 4,864 + 7,296 = 12,160. Realised, the cash
    # round trip: 4,864,000 - 729 - 12,160 - (4,930,500 + 739) = -80,128 (the old swing figure,
    # (51,200 - 51,900) x 95 = -66,500, left out every fee).
    await run_until(client, admin, dt.date(2019, 11, 29), 9, 5)
    loss = 4_864_000 - 729 - 4_864 - 7_296 - (4_930_500 + 739)
    assert loss == -80_128
    trades = backtest_trades()
    assert [(t["time"][:10], t["side"], t["quantity"], t["price"], t["commission"], t["tax"]) for t in trades] == [
        ("2019-11-28", "buy", 95, 51_900, 739, 0), ("2019-11-29", "sell", 95, 51_200, 729, 12_160)]
    assert trades[1]["pnl"] == loss  # the backtest
    swing = await (await client.get(f"/swing/{swing_id}", headers=user)).json()
    assert swing["realized_pnl"] == loss  # the swing
    assert await ledger_realised(session_factory, account) == loss  # the paper ledger's fills

    # The daily loss limit counts today's realised P&L, the same figure: a limit of 80,129 lets a buy
    # through (a limit far below the market: it rests), 80,128 is reached and refuses the next one.
    buy = {"stock_code": "005930", "order_type": "buy", "quantity": 1, "price": 40_000}
    resp = await client.put(f"/accounts/{account}/risk", json={"daily_loss_limit": 80_129}, headers=user)
    assert resp.status == 200, await resp.text()
    resp = await client.post("/stocks/order", json=buy, headers=user)
    assert resp.status in (201, 202), await resp.text()
    resp = await client.put(f"/accounts/{account}/risk", json={"daily_loss_limit": 80_128}, headers=user)
    assert resp.status == 200, await resp.text()
    resp = await client.post("/stocks/order", json={**buy, "price": 40_050}, headers=user)
    error = (await resp.json())["error"]
    assert resp.status == 422 and error["code"] == "daily_loss_limit"
    assert "today's realised loss 80128 KRW" in error["message"]

    assert (await client.post("/admin/replay/resume", headers=admin)).status == 200
    await asyncio.wait_for(app[CLOCK].finished.wait(), 120)
    await app[CLOCK].quiet()
