"""Replay on market time: the server's clock is the replayed market's. A 1D swing registered
while the replay is paused, after the replay of krx_daily_005930.csv from 2019-01-01 finishes,
has exactly the trades and fees of `autotrader backtest` on the same file and start."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import io
import json
from pathlib import Path

import msgspec
import pytest

from actors import paths
from actors.swing import GetSwing
from engine.market import krx
from engine.runtime.replay_clock import ReplayClock
from engine.strategy import backtest as bt
from storage import SwingRepo
from tests.web.orders_env import register
from web.app import create_app
from web.keys import CLOCK, SYSTEM

pytestmark = pytest.mark.timeout(300)

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
DAILY = DATA / "krx_daily_005930.csv"


def backtest_json(*argv: str) -> dict:
    parser = argparse.ArgumentParser()
    bt.add_arguments(parser)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert bt.run(parser.parse_args(list(argv))) == 0
    return json.loads(out.getvalue())


# The whole file from 2019 (5 years, about a minute) on SQLite; 2019 alone on MariaDB, to keep
# the suite's time: the same proof, fewer sessions.
END = {"sqlite": "", "mariadb": "2019-12-31"}


@pytest.fixture
def app_settings(db_settings, db_kind):
    return msgspec.structs.replace(db_settings, market_data="replay", replay_csv=str(DAILY),
                                   replay_start="2019-01-01", replay_end=END[db_kind], replay_speed="max",
                                   replay_paused=True, paper_initial_cash=100_000_000, shutdown_deadline_s=2.0)


@pytest.fixture
async def replay_client(aiohttp_client, app_settings, engine):
    return await aiohttp_client(create_app(app_settings))


async def until_history(app, swing_id: int) -> None:
    ref = app[SYSTEM].lookup(paths.swing(swing_id))
    await app[SYSTEM].idle()  # the history load is a piped task: idle waits for it and its message
    assert (await ref.ask(GetSwing(), 5)).history_ready, "the swing's history never arrived"


async def test_daily_swing_on_a_replay_trades_exactly_as_the_backtest(replay_client, make_user, session_factory,
                                                                     app_settings):
    client, app = replay_client, replay_client.app
    clock = app[CLOCK]
    assert isinstance(clock, ReplayClock) and clock.state == "paused"
    _, admin = await make_user("admin@example.com", role="admin")
    status = await (await client.get("/admin/replay", headers=admin)).json()
    assert status["state"] == "paused" and status["market_time"].startswith("2019-01-02T09:29")  # 10:00 open
    assert status["progress"] == 0
    _, user = await make_user()
    assert (await client.get("/admin/replay", headers=user)).status == 403
    await register(client, user)
    params = {"stock_code": "005930", "unit_amount": 5_000_000, "bar_size": "1D", "repeat": True}
    resp = await client.post("/swing/register", json=params, headers=user)
    assert resp.status == 201, await resp.text()
    swing_id = (await resp.json())["swing_id"]
    await until_history(app, swing_id)

    view = await (await client.get(f"/swing/{swing_id}", headers=user)).json()
    assert view["status"] == "warming_up" and view["scheduled_order"] is None

    assert (await client.post("/admin/replay/resume", headers=admin)).status == 200
    await asyncio.wait_for(clock.finished.wait(), 240)
    await clock.quiet()
    status = await (await client.get("/admin/replay", headers=admin)).json()
    assert status["state"] == "finished" and status["progress"] == 1.0
    end = app_settings.replay_end
    last_day = "2023-12-22" if not end else "2019-12-30"  # the file's / 2019's last session
    assert status["market_time"] == f"{last_day}T15:35:00+09:00"  # 5 minutes after the last close

    argv = ["--csv", str(DAILY), "--start", "2019-01-01", "--cash", "100000000", "--unit-amount", "5000000",
            "--repeat", "--json"] + (["--end", end] if end else [])
    want = [(t["time"][:10], t["side"], t["quantity"], t["price"], t["commission"], t["tax"])
            for t in backtest_json(*argv)["trades"]]
    orders = (await (await client.get("/stocks/orders?limit=1000", headers=user)).json())["orders"]
    got = [row[1:] for row in sorted(
        (f["time"], f["time"][:10], o["order_type"], f["quantity"], f["price"], f["commission"], f["tax"])
        for o in orders for f in o["fills"])]
    assert got == want and len(want) >= 4
    assert all(o["source"] == f"swing:{swing_id}" and o["status"] == "filled" for o in orders)
    # every fill is at the session's opening auction (09:00, 10:00 on late-opening days), decided the
    # session before (a scheduled order, sent at 08:30)
    assert {f["time"][11:16] for o in orders for f in o["fills"]} <= {"09:00", "10:00"}
    async with session_factory() as session:
        events = await SwingRepo(session).events(swing_id, limit=10_000)
    scheduled = [e for e in events if e.kind == "scheduled"]
    assert len(scheduled) == len(want) and all("sent at" in e.reason and "08:30" in e.reason for e in scheduled)
    # hand check of the first round trip (2019-01-14 buy, 2019-03-06 sell), 2019 rates:
    # buy 123 x 40,450 = 4,975,350: commission floor(0.015 %) = 746;
    # sell 123 x 44,000 = 5,412,000: commission 811, tax (before 2019-06-03) 0.15 % + 0.15 % rural
    # = 8,118 + 8,118 = 16,236
    assert want[0] == ("2019-01-14", "buy", 123, 40_450, 746, 0)
    assert want[1] == ("2019-03-06", "sell", 123, 44_000, 811, 16_236)


MINUTES = DATA / "krx_1m_005930_2025-06-16_to_18.csv"
# Short periods, so that 36 half-hour bars warm up (ADX needs 28); the 1H swing's 18 bars never
# define ADX: it proves the same holds, check for check.
INTRADAY = {"stock_code": "005930", "unit_amount": 5_000_000, "short_term": 1, "medium_term": 2, "long_term": 3,
            "rsi_threshold": 1, "adx_threshold": 0, "obv_threshold": 0, "repeat": True}


@pytest.fixture
def minute_settings(db_settings):
    # the file has no 15:00-15:30 prints: an order sent at 15:00 fills at the next day's first print
    return msgspec.structs.replace(db_settings, market_data="replay", replay_csv=str(MINUTES), replay_speed="max",
                                   replay_paused=True, paper_quote_timeout_s=86_400.0, shutdown_deadline_s=2.0)


async def test_half_hour_and_hour_swings_on_a_minute_replay_trade_as_the_backtest(
        aiohttp_client, minute_settings, engine, make_user, session_factory):
    client = await aiohttp_client(create_app(minute_settings))
    app, clock = client.app, client.app[CLOCK]
    _, admin = await make_user("admin@example.com", role="admin")
    _, user = await make_user()
    await register(client, user)
    ids = {}
    for size in ("30Min", "1H"):
        resp = await client.post("/swing/register", json={**INTRADAY, "bar_size": size}, headers=user)
        assert resp.status == 201, await resp.text()
        ids[size] = (await resp.json())["swing_id"]
        await until_history(app, ids[size])
    assert (await client.post("/admin/replay/resume", headers=admin)).status == 200
    await asyncio.wait_for(clock.finished.wait(), 120)
    await clock.quiet()

    orders = (await (await client.get("/stocks/orders?limit=1000", headers=user)).json())["orders"]
    for size, swing_id in ids.items():
        argv = ["--csv", str(MINUTES), "--bar-size", size, "--cash", "100000000", "--unit-amount", "5000000",
                "--repeat", "--json", "--short-term", "1", "--medium-term", "2", "--long-term", "3",
                "--rsi-threshold", "1", "--adx-threshold", "0", "--obv-threshold", "0"]
        doc = backtest_json(*argv)
        want = [(t["time"][:10], t["side"], t["quantity"], t["price"], t["commission"], t["tax"])
                for t in doc["trades"]]
        got = [row[1:] for row in sorted(
            (f["time"], f["time"][:10], o["order_type"], f["quantity"], f["price"], f["commission"], f["tax"])
            for o in orders if o["source"] == f"swing:{swing_id}" for f in o["fills"])]
        assert got == want, size
        async with session_factory() as session:
            events = await SwingRepo(session).events(swing_id, limit=10_000)
        checks = [e for e in sorted(events, key=lambda e: e.id) if e.kind == "check"]
        assert len(checks) == doc["metrics"]["bars"], size  # one check per closed bar, the last one included
    assert len([o for o in orders if o["source"] == f"swing:{ids['30Min']}"]) == 3
    # the half-hour swing's first buy: decided on the 12:00-12:30 bar of 06-18, filled by the
    # 12:30 bar's opening print, 84 x 59,250 = 4,977,000, commission floor(0.015 %) = 746
    first = min((f["time"], f["price"], f["quantity"], f["commission"]) for o in orders for f in o["fills"])
    assert first == ("2025-06-18T12:30:05+09:00", 59_250, 84, 746)


@pytest.fixture
def january(db_settings):
    return msgspec.structs.replace(db_settings, market_data="replay", replay_csv=str(DAILY),
                                   replay_start="2019-01-01", replay_end="2019-01-31", replay_speed="max",
                                   replay_paused=True, shutdown_deadline_s=2.0)


async def _scheduled_buy(client, make_user):
    """A 1D swing whose first decision (on 2019-01-11's close) is a buy scheduled for 01-14 08:30."""
    app, clock = client.app, client.app[CLOCK]
    _, admin = await make_user("admin@example.com", role="admin")
    _, user = await make_user()
    await register(client, user)
    resp = await client.post("/swing/register", json={"stock_code": "005930", "unit_amount": 5_000_000,
                                                     "bar_size": "1D", "repeat": True}, headers=user)
    swing_id = (await resp.json())["swing_id"]
    await until_history(app, swing_id)
    clock.pause_at(krx.kst_midnight_ms(dt.date(2019, 1, 12)))
    assert (await client.post("/admin/replay/resume", headers=admin)).status == 200
    await asyncio.wait_for(clock.paused.wait(), 60)
    view = await (await client.get(f"/swing/{swing_id}", headers=user)).json()
    assert view["scheduled_order"] == {
        "order_id": f"swing-{swing_id}-1", "side": "buy", "quantity": 123,  # 5,000,000 // 40,500 (01-11 close)
        "send_at": "2019-01-14T08:30:00+09:00", "decided_on_bar": "2019-01-11T09:00:00+09:00",
        "reason": view["scheduled_order"]["reason"]}
    assert view["pending_order"] == f"swing-{swing_id}-1"
    events = (await (await client.get(f"/swing/{swing_id}/events", headers=user)).json())["events"]
    assert events[0]["kind"] == "scheduled" and "sent at 2019-01-14T08:30:00+09:00" in events[0]["reason"]
    # stamped on the replay's market time (the 01-11 close's check), not on the wall clock
    assert events[0]["time"].startswith("2019-01-11T15:3") and events[0]["time"].endswith("+09:00"), events[0]
    orders = (await (await client.get("/stocks/orders", headers=user)).json())["orders"]
    assert orders == []  # nothing sent while KRX is closed
    return swing_id, admin, user


async def test_a_scheduled_order_survives_a_restart_and_is_sent_once(aiohttp_client, january, engine, make_user):
    client = await aiohttp_client(create_app(january))
    app, clock = client.app, client.app[CLOCK]
    swing_id, admin, user = await _scheduled_buy(client, make_user)
    ref = app[SYSTEM].lookup(paths.swing(swing_id))
    app[SYSTEM].inject_fault(paths.swing(swing_id), RuntimeError("drill"))  # crash: restarted from storage
    clock.pause_at(krx.kst_midnight_ms(dt.date(2019, 1, 12)) + 3_600_000)  # its back-off runs on market time
    assert (await client.post("/admin/replay/resume", headers=admin)).status == 200
    await asyncio.wait_for(clock.paused.wait(), 60)
    await app[SYSTEM].idle()
    assert app[SYSTEM].lookup(paths.swing(swing_id)) is not None
    assert (await app[SYSTEM].lookup(paths.swing(swing_id)).ask(GetSwing(), 5)).scheduled_for == (
        "2019-01-14T08:30:00+09:00")
    del ref
    assert (await client.post("/admin/replay/resume", headers=admin)).status == 200
    await asyncio.wait_for(clock.finished.wait(), 60)
    await clock.quiet()
    orders = (await (await client.get("/stocks/orders", headers=user)).json())["orders"]
    buys = [o for o in orders if o["client_order_id"] == f"swing-{swing_id}-1"]
    assert len(buys) == 1 and buys[0]["status"] == "filled"
    assert [(f["time"], f["quantity"], f["price"]) for f in buys[0]["fills"]] == [
        ("2019-01-14T09:00:00+09:00", 123, 40_450)]  # the 01-14 opening price
    events = (await (await client.get(f"/swing/{swing_id}/events", headers=user)).json())["events"]
    assert any(e["kind"] == "resumed" and "kept, not sent yet" in e["reason"] for e in events)


async def test_stopping_the_swing_cancels_its_scheduled_order(aiohttp_client, january, engine, make_user):
    client = await aiohttp_client(create_app(january))
    clock = client.app[CLOCK]
    swing_id, admin, user = await _scheduled_buy(client, make_user)
    resp = await client.delete(f"/swing/{swing_id}", headers=user)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["swing"]["scheduled_order"] is None
    assert (await client.post("/admin/replay/resume", headers=admin)).status == 200
    await asyncio.wait_for(clock.finished.wait(), 60)
    await clock.quiet()
    assert (await (await client.get("/stocks/orders", headers=user)).json())["orders"] == []
    events = (await (await client.get(f"/swing/{swing_id}/events", headers=user)).json())["events"]
    assert any(e["kind"] == "cancelled" and "scheduled order" in e["reason"] for e in events)
