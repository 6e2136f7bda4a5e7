import msgspec
import pytest
from sqlalchemy.engine import make_url

from tests.tcp_proxy import TcpProxy
from web.app import create_app
from web.keys import SYSTEM


async def test_health_answers_with_the_version(client):
    resp = await client.get("/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok" and body["version"]
    assert resp.headers["X-Request-Id"]


async def test_ready_when_database_and_actors_answer(client):
    resp = await client.get("/ready")
    assert resp.status == 200
    assert await resp.json() == {"status": "ready", "checks": {"database": "ok", "database_write": "ok",
                                                               "lease": "ok", "actors": "ok", "accounts": "ok"},
                                 "waiting_accounts": []}


async def test_ready_is_503_while_the_database_takes_no_write(client, engine):
    """Another connection holds the write lock (SQLite) / the lease row (MariaDB): reads answer, writes
    wait; /ready must not say ready."""
    async with engine.connect() as other:
        if engine.dialect.name == "sqlite":
            await other.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            await other.exec_driver_sql("BEGIN")
            await other.exec_driver_sql("SELECT * FROM leases FOR UPDATE")
        resp = await client.get("/ready")
        await other.rollback()
    assert resp.status == 503
    fields = (await resp.json())["error"]["fields"]
    assert list(fields) == ["database_write"] and "write" in fields["database_write"]
    assert (await client.get("/ready")).status == 200


async def test_ready_is_503_when_another_process_took_the_lease(client, engine):
    await client.get("/ready")
    async with engine.begin() as conn:
        mine = (await conn.exec_driver_sql("SELECT owner FROM leases")).scalar_one()
        await conn.exec_driver_sql("UPDATE leases SET owner = 'elsewhere:1:x'")
    resp = await client.get("/ready")
    assert resp.status == 503
    assert list((await resp.json())["error"]["fields"]) == ["lease"]
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f"UPDATE leases SET owner = '{mine}'")


async def test_ready_is_503_naming_the_database_when_it_goes_away_then_recovers(aiohttp_client, app_settings,
                                                                                engine):
    """MariaDB behind a loopback proxy the test cuts: /ready names the database, then recovers."""
    if not app_settings.database_url.startswith("mysql"):
        pytest.skip("SQLite is a file: it cannot be cut off over the network (the MariaDB leg covers this)")
    url = make_url(app_settings.database_url)
    proxy = await TcpProxy(url.host, url.port or 3306).start()
    try:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        client = await aiohttp_client(create_app(msgspec.structs.replace(app_settings, database_url=proxied)))
        assert (await client.get("/ready")).status == 200
        proxy.cut()
        resp = await client.get("/ready")
        assert resp.status == 503
        body = await resp.json()
        assert body["error"]["code"] == "not_ready"
        assert list(body["error"]["fields"]) == ["database"]
        proxy.restore()
        assert (await client.get("/ready")).status == 200
    finally:
        await proxy.close()


async def test_ready_is_503_naming_the_actor_system_while_it_shuts_down(client):
    system = client.server.app[SYSTEM]
    system.shutting_down = True
    try:
        resp = await client.get("/ready")
        assert resp.status == 503
        assert list((await resp.json())["error"]["fields"]) == ["actors"]
    finally:
        system.shutting_down = False


async def test_unknown_route_uses_the_error_contract(client):
    resp = await client.get("/nope")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
