"""Two nodes in one test process (two apps, one MariaDB, the real NATS server): an account is
owned by exactly one of them, requests on the other reach it, its order events reach sockets on
both, and a node that lost the lease cannot journal (so cannot send) an order."""

from __future__ import annotations

import asyncio

import pytest

from actors import paths
from actors.account import PlaceOrder
from actors.account_hub import AccountRef
from engine.cluster.errors import FencedOut
from tests.cluster.helpers import NATS_URL, two_nodes, user
from tests.web.orders_env import PAPER, register
from web.keys import CLUSTER, SETTINGS, SYSTEM

pytestmark = pytest.mark.timeout(60)

LIMIT_BUY = {"stock_code": "005930", "order_type": "buy", "quantity": 2, "price": 30_000}


@pytest.fixture
async def two(aiohttp_client, mariadb_url, tmp_path, prefix):
    async with two_nodes(aiohttp_client, mariadb_url, tmp_path, prefix, market_data="sim") as nodes:
        yield nodes


async def socket(client, headers):
    ws = await client.ws_connect("/kis_socket")
    await ws.send_json({"type": "auth", "token": headers["Authorization"].split()[1], "strategy_type": "basic"})
    assert (await ws.receive_json(timeout=5))["type"] == "ack"
    return ws


async def wiretap(prefix: str):
    """Every message of the cluster's subjects and of its key-value buckets, as NATS carries it."""
    import nats

    nc = await nats.connect(NATS_URL)
    seen: list[bytes] = []

    async def keep(msg) -> None:
        seen.append(msg.subject.encode() + b" " + msg.data)

    for subject in (f"{prefix}.>", f"$KV.{prefix}_leases.>", f"$KV.{prefix}_nodes.>"):
        await nc.subscribe(subject, cb=keep)
    await nc.flush()
    return nc, seen


async def test_one_owner_requests_from_any_node_and_events_on_every_node(two, prefix):
    a, b = two
    tap, seen = await wiretap(prefix)
    user_id, headers = await user(a, "ann@example.com")
    account_id = await register(a, headers, PAPER)
    ws_a, ws_b = await socket(a, headers), await socket(b, headers)
    resp = await b.post("/stocks/order", json=LIMIT_BUY, headers={**headers, "Idempotency-Key": "c1"})
    assert resp.status == 201, await resp.text()
    owners = [c for c in (a, b) if account_id in c.app[CLUSTER].accounts.owned()]
    assert len(owners) == 1  # exactly one node runs the account
    owner, other = owners[0], ({a, b} - {owners[0]}).pop()
    assert other.app[SYSTEM].lookup(paths.account(account_id)) is None  # no actor on the other node
    for ws in (ws_a, ws_b):  # the owner's own socket and the other node's, by NATS
        event = await ws.receive_json(timeout=5)
        assert (event["type"], event["event"], event["order"]["client_order_id"]) == ("order", "accepted", "c1")
    again = await other.post("/stocks/order", json=LIMIT_BUY, headers={**headers, "Idempotency-Key": "c1"})
    assert again.status == 201 and (await again.json())["order_id"] == (await resp.json())["order_id"]
    balance = await other.get("/accounts/balance", headers=headers)  # GetBalance over NATS too
    assert balance.status == 200, await balance.text()
    _, admin = await user(a, "root@example.com", role="admin")
    view = await (await other.get("/admin/cluster", headers=admin)).json()
    assert sorted(n["id"] for n in view["nodes"]) == ["a", "b"]
    (lease,) = [l for l in view["leases"] if l["key"] == f"account.{account_id}"]
    assert lease["holder"] == owner.app[CLUSTER].node.node_id and lease["token"] > 0
    metrics = await (await owner.get("/metrics", headers=admin)).text()
    assert "autotrader_cluster_owned_accounts 1.0" in metrics
    orders = await (await a.get("/stocks/orders", headers=headers)).json()
    assert [o["client_order_id"] for o in orders["orders"]] == ["c1"]  # journalled once
    await ws_a.close()
    await ws_b.close()
    await tap.flush()
    await tap.close()
    wire = b"\n".join(seen)
    assert b".rpc." in wire and b"accepted" in wire  # the tap heard the calls and the events
    digits = PAPER["account_number"].replace("-", "").encode()
    for secret in (PAPER["account_number"].encode(), digits, PAPER["api_key"].encode(), PAPER["secret_key"].encode(),
                   headers["Authorization"].split()[1].encode(), a.app[SETTINGS].jwt_secret.encode()):
        assert secret not in wire  # no secret and no broker account number ever crosses NATS


async def test_a_node_that_lost_its_lease_cannot_journal_an_order(two):
    a, b = two
    _, headers = await user(a, "bob@example.com")
    account_id = await register(a, headers, PAPER)
    resp = await a.post("/stocks/order", json=LIMIT_BUY, headers={**headers, "Idempotency-Key": "p1"})
    assert resp.status == 201, await resp.text()
    owner = next(c for c in (a, b) if account_id in c.app[CLUSTER].accounts.owned())
    other = ({a, b} - {owner}).pop()
    stale = await owner.app[SYSTEM].ref(paths.ACCOUNTS).ask(AccountRef(account_id), 5)  # the owner's actor
    old_token = owner.app[CLUSTER].accounts.token(account_id)
    # The owner is partitioned: it renews nothing, its key lapses (removed here, as the TTL does)...
    owner.app[CLUSTER].node.on_heartbeat.clear()
    owner.app[CLUSTER].node._heartbeat.cancel()
    await owner.app[CLUSTER].node.leases.kv.delete(f"account.{account_id}")
    # ...and the other node takes the account (as its sweep does with an orphan) with a larger token.
    assert await other.app[CLUSTER].accounts.take(account_id)
    moved = await other.post("/stocks/order", json={**LIMIT_BUY, "quantity": 1},
                             headers={**headers, "Idempotency-Key": "p2"})
    assert moved.status == 201, await moved.text()
    assert other.app[CLUSTER].accounts.token(account_id) > old_token
    # The partitioned node still believes its lease (its local time has not run out): the journal refuses.
    assert owner.app[CLUSTER].accounts.token(account_id) == old_token
    with pytest.raises(FencedOut):
        await stale.ask(PlaceOrder(account_id=account_id, code="005930", side="buy", quantity=1, price=30_000,
                                   client_order_id="p3"), 5)
    orders = await (await other.get("/stocks/orders", headers=headers)).json()
    assert sorted(o["client_order_id"] for o in orders["orders"]) == ["p1", "p2"]  # p3 never journalled


SWING = {"stock_code": "005380", "unit_amount": 1_000_000, "bar_size": "1Min", "short_term": 1,
         "medium_term": 3, "long_term": 5, "rsi_threshold": 1, "adx_threshold": 0, "obv_threshold": 0}


async def test_a_swing_runs_where_its_account_is_owned_and_moves_with_it(two):
    a, b = two
    _, headers = await user(a, "sue@example.com")
    account_id = await register(a, headers, PAPER)
    for client in (a, b):  # registered and then stopped through either node
        resp = await client.post("/swing/register", json=SWING, headers=headers)
        assert resp.status == 201, await resp.text()
    swing_ids = [s["swing_id"] for s in (await (await a.get("/swing/status", headers=headers)).json())["swings"]]
    assert len(swing_ids) == 2
    owner = next(c for c in (a, b) if account_id in c.app[CLUSTER].accounts.owned())
    other = ({a, b} - {owner}).pop()
    for swing_id in swing_ids:  # both run on the owner, none on the other node
        assert owner.app[SYSTEM].lookup(paths.swing(swing_id)) is not None
        assert other.app[SYSTEM].lookup(paths.swing(swing_id)) is None
    # the owner loses the account (its renewal finds the key rewritten): its swings stop there...
    await owner.app[CLUSTER].node.leases.kv.delete(f"account.{account_id}")
    assert await other.app[CLUSTER].accounts.take(account_id)  # ...and start where it is taken
    await owner.app[CLUSTER].node.leases.renew_all()
    for swing_id in swing_ids:
        assert other.app[SYSTEM].lookup(paths.swing(swing_id)) is not None
    stopped = await owner.delete(f"/swing/{swing_ids[0]}", headers=headers)  # asked where it no longer runs
    assert stopped.status == 200, await stopped.text()
    assert (await stopped.json())["swing"]["status"] == "stopped"


async def test_without_nats_a_request_for_an_account_it_does_not_own_is_503(two):
    a, b = two
    _, headers = await user(a, "nat@example.com")
    await register(a, headers, PAPER)
    await b.app[CLUSTER].node.nc.close()  # b loses NATS (and owns nothing)
    resp = await b.post("/stocks/order", json=LIMIT_BUY, headers={**headers, "Idempotency-Key": "n1"})
    assert resp.status == 503, await resp.text()
    assert (await resp.json())["error"]["code"] == "cluster_unavailable"


async def test_strategy_data_gathers_the_users_strategies_from_every_node(two):
    a, b = two
    _, headers = await user(a, "sam@example.com")
    ws = await socket(a, headers)  # a realtime strategy lives with its socket, on node a
    await ws.send_json({"tr_type": "1", "tr_id": "H0STCNT0", "st_code": "005930"})
    async with asyncio.timeout(10):
        while (await ws.receive_json())["type"] != "trade":
            pass  # a trade reached the socket: the strategy's feed has it
    body = await (await b.get("/realtime/strategy-data", headers=headers)).json()  # asked on node b
    (strategy,) = body["data"]["active_strategies"]
    assert strategy["strategy_type"] == "basic" and strategy["codes"] == ["005930"]
    assert body["data"]["contract_data"]["005930"]["price"] > 0
    await ws.close()
