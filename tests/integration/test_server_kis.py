"""The whole server against `autotrader kis-sim`, both as real processes on 127.0.0.1."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.integration.helpers import server_env, start_server

pytestmark = pytest.mark.timeout(120)


async def user_token(http: aiohttp.ClientSession, url: str) -> str:
    body = {"email": "kim@example.com", "password": "s3cret-pass"}
    async with http.post(f"{url}/users/register", json=body) as resp:
        assert resp.status == 201, await resp.text()
    async with http.post(f"{url}/users/login", json=body) as resp:
        assert resp.status == 200
        return (await resp.json())["access_token"]


async def test_live_stream_through_the_kis_adapter_and_a_graceful_sigterm(kis_sim, tmp_path):
    sim_url = kis_sim.url
    ws_url = sim_url.replace("http://", "ws://")
    server = await start_server(server_env(
        tmp_path, market_data="kis", kis_rest_url=sim_url, kis_ws_url=ws_url,
        kis_app_key="sim-app-key", kis_app_secret="sim-app-secret"))
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/ready") as resp:
                assert resp.status == 200
            token = await user_token(http, server.url)
            async with http.ws_connect(f"{server.url}/kis_socket") as ws:
                await ws.send_json({"type": "auth", "token": token, "strategy_type": "basic"})
                assert (await ws.receive_json(timeout=10))["message"] == "authenticated"
                for tr_id in ("H0STCNT0", "H0STASP0"):
                    await ws.send_json({"tr_type": "1", "tr_id": tr_id, "st_code": "005930"})
                seen: set[str] = set()
                while not {"trade", "quote"} <= seen:
                    msg = await ws.receive_json(timeout=10)
                    if msg["type"] in ("trade", "quote"):
                        assert msg["code"] == "005930"
                        seen.add(msg["type"])
                    elif msg["type"] == "error":
                        pytest.fail(f"error from the server: {msg}")
                headers = {"Authorization": f"Bearer {token}"}
                async with http.get(f"{server.url}/realtime/ohlc/005930?bar_size=1Min", headers=headers) as resp:
                    assert resp.status == 200
                    assert (await resp.json())["status"] == "success"

                async def read_to_close() -> aiohttp.WSMessage:
                    while (msg := await ws.receive(timeout=20)).type == aiohttp.WSMsgType.TEXT:
                        pass  # what was in flight before the shutdown still arrives
                    return msg

                reader = asyncio.ensure_future(read_to_close())  # a client that keeps reading
                code = await server.terminate()
                msg = await reader
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                assert ws.close_code == 1001
                assert code == 0
    finally:
        await server.terminate()


async def test_a_restart_within_the_minute_with_an_open_kis_order_listens(kis_sim, tmp_path, db_url):
    """Issue 12's first-day crash: KIS issues one token a minute, and a quick restart with an open order
    used to wait for a token longer than start-up allowed (exit 1, never listening)."""
    sim_url = kis_sim.url
    env = server_env(tmp_path, database_url=db_url, market_data="kis", kis_rest_url=sim_url,
                     kis_ws_url=sim_url.replace("http://", "ws://"), kis_app_key="sim-app-key",
                     kis_app_secret="sim-app-secret", ignore_market_hours="true", jwt_secret="r" * 40)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim_url}/oauth2/tokenP", json={  # our own look at the market, another key
                "grant_type": "client_credentials", "appkey": "probe-key", "appsecret": "probe-secret"}) as resp:
            probe = (await resp.json())["access_token"]
        headers = {"authorization": f"Bearer {probe}", "appkey": "probe-key", "appsecret": "probe-secret",
                   "tr_id": "FHKST01010100", "custtype": "P"}
        async with http.get(f"{sim_url}/uapi/domestic-stock/v1/quotations/inquire-price", headers=headers,
                            params={"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"}) as resp:
            lowest = int((await resp.json())["output"]["stck_llam"])  # a buy there rests
        first = await start_server(env)
        try:
            token = await user_token(http, first.url)
            auth = {"Authorization": f"Bearer {token}"}
            async with http.post(f"{first.url}/accounts/register", headers=auth, json={
                    "account_number": "50123456-01", "api_key": "sim-app-key", "secret_key": "sim-app-secret",
                    "broker": "kis"}) as resp:
                assert resp.status == 201, await resp.text()
            order = {"stock_code": "005930", "order_type": "buy", "quantity": 1, "price": lowest}
            async with http.post(f"{first.url}/stocks/order", headers=auth, json=order) as resp:
                assert resp.status == 201, await resp.text()
        finally:
            assert await first.terminate() == 0
        second = await start_server(env)  # within the minute: the stored token serves
        try:
            async with http.get(f"{second.url}/ready") as resp:
                body = await resp.json()
                assert resp.status == 200 and body["waiting_accounts"] == [], body
            async with http.post(f"{second.url}/stocks/order", headers=auth, json=order) as resp:
                assert resp.status == 201, await resp.text()
            async with http.get(f"{second.url}/stocks/orders", headers=auth) as resp:
                assert [o["status"] for o in (await resp.json())["orders"]] == ["accepted", "accepted"]
        finally:
            await second.terminate()
