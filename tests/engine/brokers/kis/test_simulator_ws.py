"""The simulator's WebSocket side, driven by a bare aiohttp client."""

import asyncio
import json

import aiohttp
import pytest

from engine.brokers.kis.frames import split_frame
from engine.brokers.kis.simulator import SimulatorConfig


async def _approval(http, url, key="app1", secret="sec1"):
    async with http.post(f"{url}/oauth2/Approval", json={"grant_type": "client_credentials", "appkey": key, "secretkey": secret}) as r:
        return (await r.json())["approval_key"]


def _msg(approval, tr_type, tr_id, code):
    return json.dumps({
        "header": {"approval_key": approval, "custtype": "P", "tr_type": tr_type, "content-type": "utf-8"},
        "body": {"input": {"tr_id": tr_id, "tr_key": code}},
    })


async def _control(ws):
    """The next JSON control message (data frames are skipped)."""
    async with asyncio.timeout(5):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            if msg.data[0] == "{":
                return json.loads(msg.data)


async def test_acks_cap_and_unsubscribe(start_simulator):
    async with start_simulator(SimulatorConfig(max_subscriptions=2, rate=1.0)) as s, aiohttp.ClientSession() as http:
        approval = await _approval(http, s.url)
        async with http.ws_connect(s.ws_url) as ws:
            await ws.send_str(_msg(approval, "1", "H0STCNT0", "005930"))
            ack = await _control(ws)
            assert ack["header"] == {"tr_id": "H0STCNT0", "tr_key": "005930", "encrypt": "N"}
            assert ack["body"]["msg_cd"] == "OPSP0000" and len(ack["body"]["output"]["key"]) == 32
            assert len(ack["body"]["output"]["iv"]) == 16
            await ws.send_str(_msg(approval, "1", "H0STCNT0", "005930"))
            assert (await _control(ws))["body"]["msg_cd"] == "OPSP0002"
            await ws.send_str(_msg(approval, "1", "H0STASP0", "005930"))
            assert (await _control(ws))["body"]["msg_cd"] == "OPSP0000"
            await ws.send_str(_msg(approval, "1", "H0STCNT0", "000660"))
            body = (await _control(ws))["body"]
            assert (body["rt_cd"], body["msg_cd"], body["msg1"]) == ("1", "OPSP0008", "MAX SUBSCRIBE OVER")
            await ws.send_str(_msg(approval, "2", "H0STCNT0", "005930"))
            assert (await _control(ws))["body"]["msg_cd"] == "OPSP0001"
            await ws.send_str(_msg(approval, "2", "H0STCNT0", "005930"))
            assert (await _control(ws))["body"]["msg_cd"] == "OPSP0003"
            await ws.send_str(_msg("unknown", "1", "H0STCNT0", "005930"))
            assert (await _control(ws))["body"]["msg_cd"] == "OPSP0011"
            await ws.send_str(_msg(approval, "1", "H0STXXX0", "005930"))
            assert (await _control(ws))["body"]["msg_cd"] == "OPSP8991"
            await ws.send_str("not json")
            assert (await _control(ws))["body"]["msg_cd"] == "OPSP0007"


async def test_second_session_of_an_app_key_is_refused(start_simulator):
    async with start_simulator(SimulatorConfig(rate=1.0)) as s, aiohttp.ClientSession() as http:
        approval = await _approval(http, s.url)
        other = await _approval(http, s.url)  # another approval key of the same app key
        async with http.ws_connect(s.ws_url) as ws1, http.ws_connect(s.ws_url + "/x") as ws2:
            await ws1.send_str(_msg(approval, "1", "H0STCNT0", "005930"))
            assert (await _control(ws1))["body"]["msg_cd"] == "OPSP0000"
            await ws2.send_str(_msg(other, "1", "H0STCNT0", "005930"))
            assert (await _control(ws2))["body"]["msg_cd"] == "OPSP8996"
            async with asyncio.timeout(5):
                assert (await ws2.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


@pytest.mark.parametrize("widths_asked, expected", [
    ({}, {("H0STCNT0", 46), ("H0STASP0", 59)}),  # as KIS documents them
    ({"trade_fields": 47, "quote_fields": 62}, {("H0STCNT0", 47), ("H0STASP0", 62)}),  # as seen live
])
async def test_frames_are_batched_and_wide(start_simulator, widths_asked, expected):
    config = SimulatorConfig(rate=200.0, batch_prob=0.5, **widths_asked)
    async with start_simulator(config) as s, aiohttp.ClientSession() as http:
        approval = await _approval(http, s.url)
        async with http.ws_connect(s.ws_url) as ws:
            await ws.send_str(_msg(approval, "1", "H0STCNT0", "005930"))
            await ws.send_str(_msg(approval, "1", "H0STASP0", "005930"))
            widths, counts = set(), set()
            async with asyncio.timeout(10):
                while not ({2, 3, 4} & counts and 1 in counts and len(widths) == 2):
                    msg = await ws.receive()
                    if msg.data[0] != "0":
                        continue
                    f = split_frame(msg.data)
                    counts.add(f.count)
                    widths.add((f.tr_id, len(f.data.split("^")) // f.count))
            assert widths == expected


async def test_pingpong_sent_and_silence_disconnects(start_simulator):
    config = SimulatorConfig(rate=1.0, pingpong_interval_s=0.02, pingpong_timeout_s=0.1)
    async with start_simulator(config) as s, aiohttp.ClientSession() as http:
        async with http.ws_connect(s.ws_url) as ws:
            ping = await _control(ws)
            assert ping["header"]["tr_id"] == "PINGPONG" and len(ping["header"]["datetime"]) == 14
            await ws.send_str(json.dumps(ping))  # echoed: still connected at the next ping
            assert (await _control(ws))["header"]["tr_id"] == "PINGPONG"
            async with asyncio.timeout(5):  # not echoed: the server hangs up
                msg = await ws.receive()
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_a_pong_frame_answers_pingpong_like_the_text_echo(start_simulator):
    config = SimulatorConfig(rate=1.0, pingpong_interval_s=0.02, pingpong_timeout_s=0.1)
    async with start_simulator(config) as s, aiohttp.ClientSession() as http:
        async with http.ws_connect(s.ws_url, autoping=False) as ws:
            for _ in range(3):  # the official samples: await ws.pong(raw)
                ping = await _control(ws)
                assert ping["header"]["tr_id"] == "PINGPONG"
                await ws.pong(json.dumps(ping).encode())
            (session,) = s.sim.all_sessions
            assert session.pong_frames >= 2 and not ws.closed


@pytest.mark.parametrize("trade, quote", [("H0NXCNT0", "H0NXASP0"), ("H0UNCNT0", "H0UNASP0")])
async def test_nxt_and_integrated_feeds_are_served(start_simulator, trade, quote):
    async with start_simulator(SimulatorConfig(rate=100.0)) as s, aiohttp.ClientSession() as http:
        approval = await _approval(http, s.url)
        async with http.ws_connect(s.ws_url) as ws:
            await ws.send_str(_msg(approval, "1", trade, "005930"))
            await ws.send_str(_msg(approval, "1", quote, "005930"))
            seen = set()
            async with asyncio.timeout(10):
                while seen != {trade, quote}:
                    msg = await ws.receive()
                    if msg.data[0] == "0":
                        seen.add(split_frame(msg.data).tr_id)
