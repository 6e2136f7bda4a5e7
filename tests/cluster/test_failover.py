"""Three real server processes on loopback ports, one MariaDB, the real NATS server.

- A user logs in on node A, orders through node B, reads through node C; node A is SIGKILLed
  in the middle of the order (after the paper broker filled it, before the journal heard of
  the fill). Within 10 s another node owns the account, reconciles the journal from the broker
  as after a restart, and the order is there once, filled, with the balance equal to its fill;
  a client on C keeps its code (reconnecting, then live) whose upstream A held.
- The owner of a swing's account is SIGKILLed in the middle of the swing's transition: the
  swing continues on another node, its order sent once.
- A rolling restart of all three loses nothing and asks nobody to log in again."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import msgspec
import pytest

from tests.cluster.helpers import NATS_URL, drop_buckets
from tests.helpers import TEST_DATA_KEY
from tests.integration.helpers import seed_paper_account, seed_swing_mid_buy, server_env, start_server

pytestmark = pytest.mark.timeout(180)

BUY = {"stock_code": "005930", "order_type": "buy", "quantity": 10}  # market order


async def taken_over(prefix: str, key: str, dead: str) -> tuple[str, float]:
    """Await (a KV watch, no polling) the lease ``key`` being written by a node other than ``dead``."""
    import nats

    nc = await nats.connect(NATS_URL)
    try:
        kv = await nc.jetstream().key_value(f"{prefix}_leases")
        watcher = await kv.watch(key)
        async for entry in watcher:
            if entry is not None and entry.value and msgspec.json.decode(entry.value)["node"] != dead:
                return msgspec.json.decode(entry.value)["node"], time.monotonic()
        raise AssertionError("watch ended")
    finally:
        await nc.close()


async def watch_trades(http, url: str, token: str):
    ws = await http.ws_connect(f"{url}/kis_socket")
    await ws.send_json({"type": "auth", "token": token, "strategy_type": "basic"})
    assert (await ws.receive_json(timeout=5))["type"] == "ack"
    await ws.send_json({"tr_type": "1", "tr_id": "H0STCNT0", "st_code": "005930"})
    await until(ws, "ack")
    return ws


async def until(ws, kind: str) -> dict:
    """The next message of ``type`` ``kind`` (others skipped), within 10 s."""
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive_json()
            if msg.get("type") == kind:
                return msg


async def test_sigkill_the_owner_mid_order_the_account_continues_elsewhere(tmp_path, mariadb_url, prefix):
    def env(node: str, **extra: str) -> dict[str, str]:
        return server_env(tmp_path / node, database_url=mariadb_url, ignore_market_hours="true",
                          sim_quotes_per_s="20", jwt_secret="k" * 40, data_keys=TEST_DATA_KEY,
                          hash_key="cluster-hash", cluster_nats_url=NATS_URL, node_id=node, cluster_prefix=prefix,
                          cluster_lease_ttl_s="3", order_timeout_s="5", **extra)

    a = await start_server(env("a"), kill_at="fill")
    b = c = None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            creds = {"email": "fail@example.com", "password": "s3cret-pass"}
            assert (await http.post(f"{a.url}/users/register", json=creds)).status == 201
            token = (await (await http.post(f"{a.url}/users/login", json=creds)).json())["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            reg = await http.post(f"{a.url}/accounts/register", headers=auth, json={
                "account_number": "50123456-01", "api_key": "fail-key-1", "secret_key": "fail-secret-1"})
            account_id = (await reg.json())["account_id"]
            assert (await http.get(f"{a.url}/accounts/balance", headers=auth)).status == 200  # A owns it now
            ws_a = await watch_trades(http, a.url, token)  # A holds 005930's upstream
            b = await start_server(env("b"))
            c = await start_server(env("c"))
            ws_c = await watch_trades(http, c.url, token)  # C gets 005930 from A over NATS
            assert (await until(ws_c, "trade"))["code"] == "005930"
            watch = asyncio.ensure_future(taken_over(prefix, f"account.{account_id}", dead="a"))
            order = await http.post(f"{b.url}/stocks/order", headers={**auth, "Idempotency-Key": "k1"}, json=BUY)
            # the owner dies with the order, after the broker took it: B heard "accepted" (201) or, when
            # its ask timed out, the journal's "pending" (202); never an error that hides the order
            assert order.status in (201, 202), await order.text()
            assert await a.proc.wait() == -9  # SIGKILLed at the fill step
            killed = time.monotonic()
            # C's client is told the upstream is reconnecting, then live, and trades flow again
            assert (await until(ws_c, "status"))["status"] == "reconnecting"
            assert (await until(ws_c, "status"))["status"] == "live"
            assert (await until(ws_c, "trade"))["code"] == "005930"
            assert time.monotonic() - killed < 10
            del ws_a
            new_owner, at = await asyncio.wait_for(watch, 15)
            assert new_owner in ("b", "c") and at - killed < 10  # owned elsewhere within 10 s
            # the same order again, through B: the new owner's journal answers it, nothing is sent again
            again = await http.post(f"{b.url}/stocks/order", headers={**auth, "Idempotency-Key": "k1"}, json=BUY)
            assert again.status == 201, await again.text()
            orders = (await (await http.get(f"{c.url}/stocks/orders", headers=auth)).json())["orders"]
            assert [(o["client_order_id"], o["status"], o["filled_quantity"]) for o in orders] == [("k1", "filled", 10)]
            assert (await again.json())["order_id"] == orders[0]["order_id"]
            balance = await (await http.get(f"{c.url}/accounts/balance", headers=auth)).json()
            (held,) = balance["stock_balance"]
            assert held["quantity"] == 10  # the balance equals the one fill
            fill = orders[0]["fills"][0]
            spent = 10 * fill["price"] + fill["commission"]
            assert balance["cash_balance"] == 100_000_000 - spent  # hand computation: qty x price + fee
    finally:
        for proc in (b, c, a):
            if proc is not None:
                await proc.terminate()
        await drop_buckets(prefix)


async def test_a_rolling_restart_loses_nothing_and_nobody_logs_in_again(tmp_path, mariadb_url, prefix):
    def env(node: str) -> dict[str, str]:
        return server_env(tmp_path / node, database_url=mariadb_url, ignore_market_hours="true",
                          sim_quotes_per_s="20", jwt_secret="k" * 40, data_keys=TEST_DATA_KEY,
                          hash_key="cluster-hash", cluster_nats_url=NATS_URL, node_id=node, cluster_prefix=prefix,
                          cluster_lease_ttl_s="3", order_timeout_s="10")

    nodes = {n: await start_server(env(n)) for n in ("a", "b", "c")}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            creds = {"email": "roll@example.com", "password": "s3cret-pass"}
            assert (await http.post(f"{nodes['a'].url}/users/register", json=creds)).status == 201
            token = (await (await http.post(f"{nodes['a'].url}/users/login", json=creds)).json())["access_token"]
            auth = {"Authorization": f"Bearer {token}"}  # the one login of the whole test
            await http.post(f"{nodes['a'].url}/accounts/register", headers=auth, json={
                "account_number": "50123456-02", "api_key": "roll-key-1", "secret_key": "roll-secret-1"})
            placed = []
            for i, name in enumerate(("a", "b", "c")):
                via = nodes[("b", "c", "a")[i]]  # a node that stays up meanwhile
                key = f"r{i}"
                resp = await http.post(f"{via.url}/stocks/order", headers={**auth, "Idempotency-Key": key},
                                       json={**BUY, "quantity": 1})
                assert resp.status == 201, await resp.text()
                placed.append(key)
                assert await nodes[name].terminate() == 0  # a clean stop: its leases are released at once
                nodes[name] = await start_server(env(name))  # back, same id, same secrets
                assert (await http.get(f"{nodes[name].url}/accounts/balance", headers=auth)).status == 200
            orders = (await (await http.get(f"{nodes['b'].url}/stocks/orders", headers=auth)).json())["orders"]
            assert sorted(o["client_order_id"] for o in orders) == placed  # none lost, none twice
            assert all(o["status"] == "filled" for o in orders)
            balance = await (await http.get(f"{nodes['c'].url}/accounts/balance", headers=auth)).json()
            assert sum(s["quantity"] for s in balance["stock_balance"]) == 3  # equal to the fills
    finally:
        for proc in nodes.values():
            await proc.terminate()
        await drop_buckets(prefix)


async def _seed_account(settings, email: str) -> tuple[int, int]:
    from storage import create_engine, create_session_factory

    engine = create_engine(settings)
    try:
        async with create_session_factory(engine).begin() as session:
            return await seed_paper_account(session, settings, email, "50123456-03")
    finally:
        await engine.dispose()


async def _seed_swing_mid_transition(settings, user_id: int, account_id: int) -> int:
    """A swing whose first-stage buy was decided (intent written), as a SIGKILL leaves it."""
    from storage import create_engine, create_session_factory

    engine = create_engine(settings)
    try:
        async with create_session_factory(engine).begin() as session:
            return await seed_swing_mid_buy(session, user_id, account_id)
    finally:
        await engine.dispose()


async def test_sigkill_the_owner_mid_swing_the_swing_continues_elsewhere(tmp_path, mariadb_url, prefix):
    from sqlalchemy import func, select

    from engine.cluster.node import rendezvous
    from engine.settings import Settings
    from storage import create_engine, create_session_factory
    from storage.models import PaperOrderRow

    settings = Settings(data_dir=str(tmp_path / "seed"), database_url=mariadb_url, jwt_secret="k" * 40,
                        data_keys=TEST_DATA_KEY, hash_key="cluster-hash")
    email = "swing-fail@example.com"
    user_id, account_id = await _seed_account(settings, email)
    key = f"account.{account_id}"
    doomed = next(n for n in (f"a{i}" for i in range(100)) if rendezvous(key, [n, "b", "c"]) == n)

    def env(node: str, **extra: str) -> dict[str, str]:
        return server_env(tmp_path / node, database_url=mariadb_url, ignore_market_hours="true",
                          sim_quotes_per_s="20", jwt_secret="k" * 40, data_keys=TEST_DATA_KEY,
                          hash_key="cluster-hash", cluster_nats_url=NATS_URL, node_id=node, cluster_prefix=prefix,
                          cluster_lease_ttl_s="3", **extra)

    b = await start_server(env("b"))
    c = await start_server(env("c"))
    a = await start_server(env(doomed), kill_at="fill")
    try:
        watch = asyncio.ensure_future(taken_over(prefix, key, dead=doomed))
        swing_id = await _seed_swing_mid_transition(settings, user_id, account_id)  # the sweep gives it to `doomed`
        assert await asyncio.wait_for(a.proc.wait(), 30) == -9  # killed after the broker filled the swing's order
        killed = time.monotonic()
        new_owner, at = await asyncio.wait_for(watch, 15)
        assert new_owner in ("b", "c") and at - killed < 10
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            login = await http.post(f"{c.url}/users/login", json={"email": email, "password": "s3cret-pass"})
            auth = {"Authorization": f"Bearer {(await login.json())['access_token']}"}
            for _ in range(2000):  # each round trip awaits the server's answer
                view = await (await http.get(f"{c.url}/swing/{swing_id}", headers=auth)).json()
                if view["pending_order"] is None:
                    break
            assert view["pending_order"] is None
            assert view["signal_state"] == 1 and view["shares"] == 7  # the fill the dead node got, once
            orders = (await (await http.get(f"{b.url}/stocks/orders", headers=auth)).json())["orders"]
        assert [o["client_order_id"] for o in orders] == [f"swing-{swing_id}-1"]  # journalled once
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                at_broker = await session.scalar(select(func.count()).select_from(PaperOrderRow)
                                                 .where(PaperOrderRow.account_id == account_id))
        finally:
            await engine.dispose()
        assert at_broker == 1  # sent once, by the node that died
    finally:
        for proc in (b, c, a):
            await proc.terminate()
        await drop_buckets(prefix)
