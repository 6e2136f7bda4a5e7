"""The server process is SIGKILLed at each named step of a REST order (the test-only
fault hook, injected by ``tests/integration/fault_server.py``), then started again on the same database: the order
is reconciled, never sent twice, and the balance matches its fills."""

from __future__ import annotations

import aiohttp
import pytest

from tests.integration.helpers import server_env, start_server

pytestmark = pytest.mark.timeout(180)

BUY = {"stock_code": "005930", "order_type": "buy", "quantity": 10}


@pytest.mark.parametrize("step, status, held", [
    ("journal", "rejected", 0),  # journalled, never sent: reconciled as not sent
    ("send", "filled", 10),  # the paper broker took it and filled it against the book at acceptance
    ("fill", "filled", 10),  # filled in the ledger: the journal learns the fill at start-up
])
async def test_sigkill_mid_order_then_restart(tmp_path, empty_db_url, step, status, held):
    env = server_env(tmp_path, database_url=empty_db_url, ignore_market_hours="true", sim_quotes_per_s="20",
                     jwt_secret="k" * 40)
    first = await start_server(env, kill_at=step)
    async with aiohttp.ClientSession() as http:
        creds = {"email": f"kill-{step}@example.com", "password": "s3cret-pass"}
        await http.post(f"{first.url}/users/register", json=creds)
        token = (await (await http.post(f"{first.url}/users/login", json=creds)).json())["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        await http.post(f"{first.url}/accounts/register", headers=auth, json={
            "account_number": "50123456-01", "api_key": "kill-key-1", "secret_key": "kill-secret-1"})
        with pytest.raises(aiohttp.ClientError):
            await http.post(f"{first.url}/stocks/order", headers={**auth, "Idempotency-Key": "k1"}, json=BUY)
    assert await first.proc.wait() == -9  # SIGKILL: nothing ran after the step

    second = await start_server(env)  # reconciles before it listens
    try:
        async with aiohttp.ClientSession() as http:
            (order,) = (await (await http.get(f"{second.url}/stocks/orders", headers=auth)).json())["orders"]
            assert order["client_order_id"] == "k1" and order["status"] == status
            again = await http.post(f"{second.url}/stocks/order", headers={**auth, "Idempotency-Key": "k1"},
                                    json=BUY)
            answer = await again.json()
            if status == "filled":  # the same key answers with the first order, never a second one
                assert (again.status, answer["order_id"]) == (201, order["order_id"])
            else:  # the first order's final answer again
                assert again.status == 422 and answer["error"]["code"] == status
                assert answer["error"]["message"].startswith(f"order {order['order_id']} {status}")
            orders = (await (await http.get(f"{second.url}/stocks/orders", headers=auth)).json())["orders"]
            assert len(orders) == 1  # never sent twice
            balance = await (await http.get(f"{second.url}/accounts/balance", headers=auth)).json()
            assert sum(s["quantity"] for s in balance["stock_balance"]) == held
    finally:
        await second.terminate()
