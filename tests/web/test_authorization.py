"""Every operation that names one of your resources answers 404 to anybody else; admin
operations are 403 for users and 401 without a token. The operations come from
/openapi.json, so a new endpoint is covered (or this test fails) from day one."""

from __future__ import annotations

import re

import msgspec
import pytest

from tests.web.orders_env import register, order
from tests.web.helpers import DEMO

ID_PARAMS = {"account_id", "order_id", "swing_id"}
QUERY_IDS = {("GET", "/accounts/balance"), ("GET", "/stocks/orders")}
BODIES = {"PUT": {"max_order_value": 1}, "POST": {}}


@pytest.fixture
def app_settings(db_settings):
    return msgspec.structs.replace(db_settings, market_data="sim", ignore_market_hours=True)


async def alice_owns(client, clock, make_user):
    _, alice = await make_user("alice@example.com")
    account_id = await register(client, alice)
    status, placed = await order(client, clock, alice, {"stock_code": "005930", "order_type": "buy", "quantity": 1})
    assert status == 201, placed
    swing = await (await client.post("/swing/register", json=DEMO, headers=alice)).json()
    return {"account_id": account_id, "order_id": placed["order_id"], "swing_id": swing["swing_id"]}


async def test_other_users_ids_are_404_everywhere(client, clock, make_user):
    ids = await alice_owns(client, clock, make_user)
    _, bob = await make_user("bob@example.com")
    await register(client, bob, {"account_number": "99999999-01", "api_key": "bob-key-1", "secret_key": "bob-s-1"})
    doc = await (await client.get("/openapi.json")).json()
    checked = []
    for path, item in doc["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            method = method.upper()
            if names & ID_PARAMS:
                url = re.sub(r"{(\w+)}", lambda m: str(ids[m.group(1)]), path)
                body = BODIES.get(method) if "requestBody" in op else None
                resp = await client.request(method, url, json=body, headers=bob)
                assert resp.status == 404, (method, url, resp.status, await resp.text())
                checked.append((method, path))
            elif (method, path) in QUERY_IDS:
                resp = await client.get(f"{path}?account_id={ids['account_id']}", headers=bob)
                assert resp.status == 404, (path, resp.status, await resp.text())
                checked.append((method, path))
    resp = await client.post("/stocks/order", headers=bob, json={
        "stock_code": "005930", "order_type": "buy", "quantity": 1, "account_id": ids["account_id"]})
    assert resp.status == 404
    resp = await client.post("/swing/register", headers=bob, json={**DEMO, "account_id": ids["account_id"]})
    assert resp.status == 404
    assert len(checked) >= 10, checked


async def test_admin_operations_are_403_for_users_and_401_without_a_token(client, make_user):
    _, user = await make_user("plain@example.com")
    doc = await (await client.get("/openapi.json")).json()
    admin_ops = [(m.upper(), p) for p, item in doc["paths"].items() for m, op in item.items()
                 if "admin" in op["tags"]]
    assert len(admin_ops) >= 2
    for method, path in admin_ops:
        assert (await client.request(method, path, headers=user)).status == 403, path
        assert (await client.request(method, path)).status == 401, path
