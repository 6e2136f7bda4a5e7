"""The broker's WebSocket drops or sends garbage: clients get status messages, the stream comes back."""

from __future__ import annotations

import msgspec
import pytest

from engine.brokers.kis import SIMULATOR, SimulatorConfig, create_simulator_app
from engine.runtime import WallClock
from tests.web.helpers import TRADES, connect, until
from web.app import create_app
from web.keys import SOURCE

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def kis_world(aiohttp_server, aiohttp_client, app_settings, engine):
    sim_server = await aiohttp_server(create_simulator_app(SimulatorConfig(rate=20, batch_prob=0.5)))
    base = f"http://127.0.0.1:{sim_server.port}"
    settings = msgspec.structs.replace(
        app_settings, market_data="kis", kis_rest_url=base, kis_ws_url=base.replace("http", "ws"),
        kis_app_key="sim-app-key", kis_app_secret="sim-app-secret",
        kis_reconnect_base_s=0.01, kis_reconnect_max_s=0.05)
    client = await aiohttp_client(create_app(settings, clock=WallClock()))
    return client, sim_server.app[SIMULATOR]


async def test_a_dropped_upstream_is_announced_and_recovers(kis_world, make_user):
    client, sim = kis_world
    _, headers = await make_user()
    ws = await connect(client, headers)
    await ws.send_json(TRADES)
    await until(ws, "ack")
    await until(ws, "trade")
    await sim.drop_all()
    statuses = await until(ws, "status", 2)
    assert [s["status"] for s in statuses] == ["reconnecting", "live"]
    trade = (await until(ws, "trade"))[0]  # re-subscribed by itself
    assert trade["code"] == "005930"


async def test_garbage_frames_are_counted_and_the_stream_goes_on(kis_world, make_user):
    client, sim = kis_world
    _, headers = await make_user()
    ws = await connect(client, headers)
    await ws.send_json(TRADES)
    await until(ws, "ack")
    await until(ws, "trade")
    await sim.send_garbage()
    await sim.send_garbage("1|H0STCNT0|001|%%%not-base64%%%")
    await sim.send_garbage("{not json")
    await until(ws, "trade", 3)
    source = client.server.app[SOURCE]
    assert sum(s.bad_frames for s in source.streams) >= 2
