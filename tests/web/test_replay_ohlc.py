"""Replay a real 1-minute file through the whole server: OHLC gives the file back exactly."""

from __future__ import annotations

import csv
import datetime as dt

import msgspec
import pytest

from tests.web.helpers import TRADES, connect, until
from tests.helpers import data_file

FILE = data_file("krx_1m_005930_2025-06-13.csv")


@pytest.fixture
def app_settings(db_settings):
    return msgspec.structs.replace(db_settings, market_data="replay", replay_csv=str(FILE), replay_code="005930",
                                   replay_speed=600.0)


def file_rows() -> list[dict]:
    with FILE.open() as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        start = dt.datetime.fromisoformat(r["Datetime"]).astimezone(dt.timezone(dt.timedelta(hours=9)))
        out.append({"time": start.isoformat(), "open": int(r["Open"]), "high": int(r["High"]),
                    "low": int(r["Low"]), "close": int(r["Close"]), "volume": int(r["Volume"])})
    return out


async def test_replayed_file_comes_back_exactly_as_1min_ohlc(client, clock, make_user):
    _, headers = await make_user()
    ws = await connect(client, headers)
    await ws.send_json(TRADES)
    await until(ws, "ack")
    expected = file_rows()
    await clock.advance(len(expected) * 60 / 600.0 + 5)  # the whole file at 600x
    resp = await client.get("/realtime/ohlc/005930?bar_size=1Min&limit=2000", headers=headers)
    got = (await resp.json())["data"]
    assert got == expected
    hourly = (await (await client.get("/realtime/ohlc/005930?bar_size=1H", headers=headers)).json())["data"]
    assert [h["time"][11:16] for h in hourly] == ["09:00", "10:00", "11:00", "12:00", "13:00", "14:00"]
    assert sum(h["volume"] for h in hourly) == sum(r["volume"] for r in expected)
    await ws.close()
