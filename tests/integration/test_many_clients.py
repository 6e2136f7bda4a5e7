"""1,000 WebSocket clients connecting at once to the real server: every one is served,
memory stays bounded, and a client already streaming keeps streaming."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.integration.helpers import server_env, start_server

pytestmark = pytest.mark.timeout(240)

CLIENTS = 1000


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_a_thousand_clients_at_once(tmp_path):
    # one user holds them all: its per-user socket, subscription and message limits are lifted for this test
    server = await start_server(server_env(tmp_path, ws_auth_timeout_s="60",
                                           ws_max_connections_per_user=str(CLIENTS + 10),
                                           ws_max_subscriptions_per_user=str(CLIENTS + 10),
                                           ws_user_rate_burst=str(CLIENTS * 2 + 10)))
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            creds = {"email": "many@example.com", "password": "s3cret-pass"}
            await http.post(f"{server.url}/users/register", json=creds)
            token = (await (await http.post(f"{server.url}/users/login", json=creds)).json())["access_token"]
            hello = {"type": "auth", "token": token, "strategy_type": "basic"}
            probe = await http.ws_connect(f"{server.url}/kis_socket")
            await probe.send_json(hello)
            await probe.receive_json(timeout=30)
            await probe.send_json({"tr_type": "1", "tr_id": "H0STCNT0", "st_code": "005930"})
            before = rss_kb(server.proc.pid)

            async def one(i: int) -> aiohttp.ClientWebSocketResponse:
                ws = await http.ws_connect(f"{server.url}/kis_socket")
                await ws.send_json(hello)
                assert (await ws.receive_json(timeout=60))["message"] == "authenticated"
                await ws.send_json({"tr_type": "1", "tr_id": "H0STCNT0", "st_code": f"{i % 50:06d}"})
                return ws

            clients = await asyncio.gather(*(one(i) for i in range(CLIENTS)))
            acks = await asyncio.gather(*(ws.receive_json(timeout=60) for ws in clients))
            assert all(a["type"] == "ack" and a["message"] == "subscribed" for a in acks)
            after = rss_kb(server.proc.pid)
            per_client_kb = (after - before) / CLIENTS
            assert per_client_kb < 200, f"{per_client_kb:.0f} KB per client"
            got = 0
            while got < 3:  # the first client still streams while a thousand arrived
                msg = await probe.receive_json(timeout=30)
                got += msg["type"] == "trade"
            await asyncio.gather(*(ws.close() for ws in clients))
            await probe.close()
    finally:
        assert await server.terminate() == 0
