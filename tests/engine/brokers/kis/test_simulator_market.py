"""One market per code: the stream, inquire-price, the minute chart and the daily chart agree.

The simulator runs on a manual clock at 10:00 KST on Friday 2025-06-13 (a session).
"""

from __future__ import annotations

import json

import aiohttp
import pytest

from engine.brokers.kis.frames import parse_ticks, split_frame
from engine.brokers.kis.simulator import SimulatorConfig
from engine.market.krx import price_limits
from engine.runtime.clock import ManualClock
from tests.engine.brokers.kis.helpers import running_simulator

pytestmark = pytest.mark.timeout(60)
TEN_KST_20250613 = 1_749_776_400_000
QUOTES = "/uapi/domestic-stock/v1/quotations"


async def _approval(http, url):
    async with http.post(f"{url}/oauth2/Approval", json={"grant_type": "client_credentials", "appkey": "app1",
                                                         "secretkey": "sec1"}) as resp:
        return (await resp.json())["approval_key"]


def _msg(approval, tr_type, tr_id, code):
    return json.dumps({"header": {"approval_key": approval, "custtype": "P", "tr_type": tr_type,
                                  "content-type": "utf-8"}, "body": {"input": {"tr_id": tr_id, "tr_key": code}}})


async def _get(http, s, token, path, tr_id, **params):
    headers = {"authorization": f"Bearer {token}", "appkey": "app1", "appsecret": "sec1", "tr_id": tr_id,
               "custtype": "P"}
    async with http.get(f"{s.url}{path}", headers=headers, params=params) as resp:
        body = await resp.json()
    assert body["rt_cd"] == "0", body
    return body


async def _token(http, s):
    async with http.post(f"{s.url}/oauth2/tokenP", json={"grant_type": "client_credentials", "appkey": "app1",
                                                         "appsecret": "sec1"}) as resp:
        return (await resp.json())["access_token"]


async def _charts(http, s, token, hour="153000"):
    price = (await _get(http, s, token, f"{QUOTES}/inquire-price", "FHKST01010100",
                        FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD="005930"))["output"]
    minutes = await _get(http, s, token, f"{QUOTES}/inquire-time-itemchartprice", "FHKST03010200",
                         FID_ETC_CLS_CODE="", FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD="005930",
                         FID_INPUT_HOUR_1=hour, FID_PW_DATA_INCU_YN="N")
    daily = await _get(http, s, token, f"{QUOTES}/inquire-daily-itemchartprice", "FHKST03010100",
                       FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD="005930", FID_INPUT_DATE_1="00000101",
                       FID_INPUT_DATE_2="20250613", FID_PERIOD_DIV_CODE="D", FID_ORG_ADJ_PRC="0")
    return price, minutes, daily


async def test_stream_price_minute_and_daily_charts_are_one_series():
    clock = ManualClock(TEN_KST_20250613)
    async with running_simulator(SimulatorConfig(rate=200.0), clock) as s, aiohttp.ClientSession() as http:
        approval = await _approval(http, s.url)
        prints = []
        async with http.ws_connect(s.ws_url) as ws:
            await ws.send_str(_msg(approval, "1", "H0STCNT0", "005930"))
            while len(prints) < 20:  # market time moves a second; the trades of that second arrive
                await clock.advance(1.0)
                msg = await ws.receive(timeout=5)
                if msg.data[0] == "0":
                    frame = split_frame(msg.data)
                    prints += [t.price for t in parse_ticks(frame.data, frame.count)]
            s.sim.stalled = True  # no more prints while we look (the clock stands too)
        token = await _token(http, s)
        price, minutes, daily = await _charts(http, s, token)
        now = int(price["stck_prpr"])
        assert len(price) == 82  # KIS's whole output
        assert now == prints[-1] == int(minutes["output1"]["stck_prpr"]) == int(daily["output1"]["stck_prpr"])
        newest = minutes["output2"][0]
        assert newest["stck_cntg_hour"] == "100000" and int(newest["stck_prpr"]) == now
        today, yesterday = daily["output2"][0], daily["output2"][1]
        assert today["stck_bsop_date"] == "20250613" and int(today["stck_clpr"]) == now
        assert int(today["stck_lwpr"]) <= min(prints) and max(prints) <= int(today["stck_hgpr"])
        base = int(yesterday["stck_clpr"])  # the previous session's close is today's base price
        assert base == int(price["stck_sdpr"]) == int(minutes["output1"]["stck_prdy_clpr"])
        assert (int(price["stck_llam"]), int(price["stck_mxpr"])) == price_limits(base)
        assert len(daily["output2"]) == 100  # 00000101: from the beginning, 100 rows a call
        assert {"stck_prdy_oprc", "hts_avls", "lstn_stcn", "per"} <= set(daily["output1"])
        assert yesterday["stck_bsop_date"] == "20250612" and int(today["stck_oprc"]) == int(
            (await _get(http, s, token, f"{QUOTES}/inquire-time-itemchartprice", "FHKST03010200",
                        FID_ETC_CLS_CODE="", FID_COND_MRKT_DIV_CODE="J", FID_INPUT_ISCD="005930",
                        FID_INPUT_HOUR_1="090000", FID_PW_DATA_INCU_YN="N"))["output2"][0]["stck_oprc"])


async def test_minute_bars_only_inside_the_session_and_the_price_stands_after_the_close():
    clock = ManualClock(TEN_KST_20250613)
    config = SimulatorConfig(rate=1.0, token_ttl_s=7 * 86_400)
    async with running_simulator(config, clock) as s, aiohttp.ClientSession() as http:
        token = await _token(http, s)
        _, minutes, _ = await _charts(http, s, token, hour="100000")
        assert minutes["output2"][-1]["stck_cntg_hour"] == "093100"  # 30 rows back from 10:00
        await clock.advance(7 * 3600)  # 17:00 KST: after the close
        price, minutes, daily = await _charts(http, s, token, hour="170000")
        assert minutes["output2"][0]["stck_cntg_hour"] == "152900"  # the session's last minute
        close = int(minutes["output2"][0]["stck_prpr"])
        assert int(price["stck_prpr"]) == close == int(daily["output2"][0]["stck_clpr"])
        record = s.sim.market.trade_record("005930", s.sim.orders.now()).split("^")
        assert int(record[2]) == close  # prints after the close do not move it
        await clock.advance(86_400)  # Saturday: no session, no minute bars
        _, minutes, _ = await _charts(http, s, token, hour="120000")
        assert minutes["output2"] == []


async def test_a_restart_continues_the_walk_without_a_state_file():
    clock = ManualClock(TEN_KST_20250613 + 3600_000)  # 11:00 KST
    async with running_simulator(SimulatorConfig(rate=1.0), clock) as s:
        before = s.sim.market.state("005930")
        price, bars, volume = before.price, dict(before.bars), before.cum_vol
        tape, _ = s.sim.market.trade_records("005930", s.sim.orders.now(), 46, ("20250613", 10 * 60 + 59, 0))
        chart = s.sim.market.minute_bars("005930", "20250613")  # with the minute under way (its first step)
        assert min(bars) == 9 * 60 and max(bars) == 10 * 60 + 59 and volume == sum(b[4] for b in chart.values())
    async with running_simulator(SimulatorConfig(rate=1.0), clock) as s:  # a new process at the same moment
        after = s.sim.market.state("005930")
        assert (after.price, after.bars, after.cum_vol) == (price, bars, volume)  # not replayed, not reset
        again, _ = s.sim.market.trade_records("005930", s.sim.orders.now(), 46, ("20250613", 10 * 60 + 59, 0))
        assert [r.split("^")[1:3] for r in again] == [r.split("^")[1:3] for r in tape]  # the same trades
    await clock.advance(30 * 60)
    async with running_simulator(SimulatorConfig(rate=1.0), clock) as s:  # restarted at 11:30
        later = s.sim.market.state("005930")
        assert {m: b for m, b in later.bars.items() if m < 11 * 60} == bars  # the morning as it was
        assert later.bars[11 * 60][0] == bars[10 * 60 + 59][3]  # 11:00 opens at 10:59's close


async def test_a_moved_price_survives_a_restart_with_the_state_file(tmp_path):
    state = str(tmp_path / "walk.json")
    clock = ManualClock(TEN_KST_20250613 + 3600_000)
    config = SimulatorConfig(rate=1.0, state_file=state)
    async with running_simulator(config, clock) as s:
        moved = s.sim.market.state("005930").prev_close + 1_000  # a test hook moved it (on the grid)
        s.sim.orders.set_price("005930", moved)
        await clock.advance(90)
        before = s.sim.market.state("005930")
        price, bars = before.price, dict(before.bars)
        assert bars[11 * 60][0] == moved
    async with running_simulator(config, clock) as s:
        after = s.sim.market.state("005930")
        assert after.price == price and after.bars == bars
    async with running_simulator(SimulatorConfig(rate=1.0), clock) as s:  # without the file: the seeded walk
        assert s.sim.market.state("005930").bars[11 * 60][0] != moved


async def test_holiday_inquiry_follows_the_krx_calendar():
    async with running_simulator(SimulatorConfig(), ManualClock(TEN_KST_20250613)) as s, \
            aiohttp.ClientSession() as http:
        token = await _token(http, s)
        body = await _get(http, s, token, f"{QUOTES}/chk-holiday", "CTCA0903R", BASS_DT="20250604",
                          CTX_AREA_NK="", CTX_AREA_FK="")
        opens = {row["bass_dt"]: row["opnd_yn"] for row in body["output"]}
        assert opens["20250604"] == "Y" and opens["20250605"] == "Y"
        assert opens["20250606"] == "N"  # 현충일 (Memorial Day)
        assert opens["20250607"] == opens["20250608"] == "N" and opens["20250609"] == "Y"
