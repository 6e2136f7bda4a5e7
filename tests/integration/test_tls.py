"""HTTPS/WSS on the way in; verified certificates on the way out."""

from __future__ import annotations

import ssl

import aiohttp
import msgspec
import pytest
from aiohttp import web

from engine.brokers.kis import KisMarketData, KisTransportError, create_simulator_app
from engine.runtime import WallClock
from engine.settings import Settings
from tests.integration.helpers import server_env, start
from tests.tls_certs import make_certs

pytestmark = pytest.mark.timeout(120)

PRICE = "/uapi/domestic-stock/v1/quotations/inquire-price"
QUERY = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"}


async def test_serve_https_and_wss_with_a_certificate(tmp_path):
    ca, cert, key = make_certs(tmp_path)
    server = await start(["serve", "--host", "127.0.0.1", "--port", "0", "--certfile", str(cert),
                          "--keyfile", str(key)], server_env(tmp_path), r"listening on (https://\S+)")
    try:
        trusted = ssl.create_default_context(cafile=str(ca))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}/health", ssl=trusted) as resp:
                assert resp.status == 200
            async with http.ws_connect(f"{server.url.replace('https', 'wss')}/kis_socket", ssl=trusted) as ws:
                await ws.send_json({"type": "auth", "token": "nope"})
                assert (await ws.receive_json(timeout=10))["type"] == "error"
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await http.get(f"{server.url}/health")  # the system store does not know our CA
    finally:
        await server.terminate()


async def test_outbound_https_verifies_certificates(tmp_path):
    ca, cert, key = make_certs(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    runner = web.AppRunner(create_simulator_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    base = Settings(market_data="kis", kis_rest_url=f"https://127.0.0.1:{port}", kis_ws_url="ws://127.0.0.1:1",
                    kis_app_key="k", kis_app_secret="s", kis_timeout_s=5)
    try:
        untrusting = KisMarketData(base, WallClock())
        with pytest.raises(KisTransportError) as failure:
            await untrusting.rest.get(PRICE, "FHKST01010100", QUERY)
        assert "certificate" in repr(failure.value.__cause__ or failure.value).lower()
        await untrusting.stop()
        trusting = KisMarketData(msgspec.structs.replace(base, ca_file=str(ca)), WallClock())
        body = await trusting.rest.get(PRICE, "FHKST01010100", QUERY)
        assert int(body.body["output"]["stck_prpr"]) > 0
        await trusting.stop()
    finally:
        await runner.cleanup()
