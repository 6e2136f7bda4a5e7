"""A SwingActor on the manual clock over a real 1-minute file makes exactly the
backtest's decisions, bar for bar, with real paper orders in between."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from engine.market.csv_bars import load_csv
from engine.strategy.backtest import backtest
from engine.strategy.swing import SwingParams
from storage import SwingRepo
from tests.web.orders_env import register
from tests.helpers import data_file
from tests.web.helpers import next_check, until_history

pytestmark = pytest.mark.timeout(180)

PARAMS = {"stock_code": "005930", "unit_amount": 5_000_000, "bar_size": "1Min", "short_term": 2,
          "medium_term": 5, "long_term": 10, "rsi_threshold": 10, "adx_threshold": 10, "obv_threshold": 0,
          "repeat": True}

FILE = data_file("krx_1m_005930_2025-06-13.csv")


@pytest.fixture
def app_settings(db_settings):
    return msgspec.structs.replace(db_settings, market_data="replay", replay_csv=str(FILE), replay_code="005930",
                                   replay_speed=1.0, ignore_market_hours=True, daily_loss_limit=0,
                                   paper_quote_timeout_s=30)  # replayed books come every 15 s


async def test_live_swing_equals_the_backtest_bar_for_bar(client, clock, make_user, session_factory):
    expected = backtest(load_csv(FILE), SwingParams(**PARAMS), cash=100_000_000)
    by_bar = {d.bar_start_ms: d for d in expected.decisions}
    by_bar_iso = {dt.datetime.fromtimestamp(b / 1000, dt.UTC).isoformat(): b for b in by_bar}
    _, headers = await make_user()
    await register(client, headers)
    swing_id = (await (await client.post("/swing/register", json=PARAMS, headers=headers)).json())["swing_id"]
    await until_history(client.server.app, swing_id)  # before the clock moves: the same seam on any machine
    for _ in range(len(expected.decisions) + 1):
        await next_check(client, clock, swing_id)
    async with session_factory() as session:
        events = await SwingRepo(session).events(swing_id, limit=10_000)
    checks = sorted((e for e in events if e.kind == "check"), key=lambda e: e.id)
    assert len(checks) == len(expected.decisions) - 1  # the last bar never closes: no trade follows it
    got = [(e.bar_start_ms, e.action, e.signal_before, e.signal_after, e.reason) for e in checks]
    want = [(b, by_bar[b].action, by_bar[b].signal_before, by_bar[b].signal_after, by_bar[b].reason)
            for b, *_ in got]
    assert got == want
    fills = sorted((e for e in events if e.kind == "fill"), key=lambda e: e.id)
    assert [(f.action, f.bar_start_ms) for f in fills] == [
        (t.side, by_bar_iso[t.decided_at]) for t in expected.trades]  # the same orders, from the same bars
    assert len(fills) >= 10
