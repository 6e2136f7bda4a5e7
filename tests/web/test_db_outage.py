"""The database goes away and comes back (a loopback proxy in front of MariaDB, cut by the
test): requests get 503 with a clear error, the actors keep running, and the service
recovers without a restart."""

from __future__ import annotations

import msgspec
import pytest
from sqlalchemy.engine import make_url

from tests.tcp_proxy import TcpProxy
from web.app import create_app
from web.keys import SYSTEM


@pytest.fixture
async def proxied(aiohttp_client, app_settings, engine):
    if not app_settings.database_url.startswith("mysql"):
        pytest.skip("SQLite is a local file: the MariaDB leg cuts the database's network")
    url = make_url(app_settings.database_url)
    proxy = await TcpProxy(url.host, url.port or 3306).start()
    database_url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    client = await aiohttp_client(create_app(msgspec.structs.replace(app_settings, database_url=database_url)))
    yield client, proxy
    await proxy.close()


async def test_requests_get_503_while_the_database_is_away_then_work_again(proxied):
    client, proxy = proxied
    body = {"email": "kim@example.com", "password": "s3cret-pass"}
    assert (await client.post("/users/register", json=body)).status == 201
    actors_before = {row["path"] for row in client.server.app[SYSTEM].snapshot()}
    proxy.cut()
    resp = await client.post("/users/login", json=body)
    assert resp.status == 503
    error = (await resp.json())["error"]
    assert error["code"] == "database_unavailable" and "database" in error["message"]
    assert (await client.get("/health")).status == 200  # the process itself answers
    proxy.restore()
    resp = await client.post("/users/login", json=body)
    assert resp.status == 200
    assert {row["path"] for row in client.server.app[SYSTEM].snapshot()} == actors_before
    assert all(row["state"] == "running" for row in client.server.app[SYSTEM].snapshot())
