"""Secrets never leave: every log line of a full order flow (paper and KIS, DEBUG level),
every response body, and the database are searched for the plaintext account number,
app key and secret."""

from __future__ import annotations

import logging

import msgspec
from sqlalchemy import text

from engine.brokers.kis.simulator import SimulatorConfig
from engine.runtime import WallClock
from storage.models import Base
from tests.engine.brokers.kis.broker_env import APP_KEY, APP_SECRET, HTS_ID
from tests.engine.brokers.kis.helpers import running_simulator
from tests.web.orders_env import register
from tests.web.helpers import common_price
from web.app import create_app
from web.logs import ContextFilter, JsonFormatter

PAPER = {"account_number": "77123456-01", "api_key": "PAPER-KEY-9f8e7d6c5b4a", "secret_key": "PAPER-SECRET-0a1b2c3d4e"}
KIS = {"account_number": "50123456-01", "api_key": APP_KEY, "secret_key": APP_SECRET, "broker": "kis",
       "hts_id": HTS_ID}
SECRETS = ("7712345601", "77123456-01", PAPER["api_key"], PAPER["secret_key"],
           "5012345601", "50123456-01", APP_KEY, APP_SECRET)


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.addFilter(ContextFilter())
        self.json = JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.lines.append(self.json.format(record))


def leaks(blob: str) -> list[str]:
    return [s for s in SECRETS if s in blob]


async def test_no_secret_in_logs_responses_or_rows(aiohttp_client, app_settings, engine, make_user):
    handler = Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    responses: list[str] = []
    try:
        async with running_simulator(SimulatorConfig(rest_rate_per_s=1000)) as sim:
            settings = msgspec.structs.replace(app_settings, kis_rest_url=sim.url, kis_ws_url=sim.ws_url,
                                               kis_rest_rate_per_s=1000.0, kis_timeout_s=2.0,
                                               market_data="sim", sim_quotes_per_s=20.0, ignore_market_hours=True)
            client = await aiohttp_client(create_app(settings, clock=WallClock()))
            _, headers = await make_user()
            await register(client, headers, PAPER)
            kis_id = await register(client, headers, KIS)
            code, price = common_price(sim)
            resp = await client.post("/stocks/order", headers=headers, json={
                "stock_code": code, "order_type": "buy", "quantity": 1, "price": price, "account_id": kis_id})
            responses.append(await resp.text())
            assert resp.status == 201, responses[-1]
            paper = await client.post("/stocks/order", headers=headers, json={
                "stock_code": "005930", "order_type": "buy", "quantity": 1})  # fills on the next live quote
            responses.append(await paper.text())
            assert paper.status == 201, responses[-1]
            bad = await client.post("/accounts/register", headers=headers, json={**PAPER, "hts_id": "bad id!"})
            responses.append(await bad.text())
            dup = await client.post("/accounts/register", headers=headers, json=PAPER)
            responses.append(await dup.text())
            for path in ("/accounts", "/stocks/orders", f"/accounts/balance?account_id={kis_id}",
                         "/accounts/balance"):
                responses.append(await (await client.get(path, headers=headers)).text())
            await client.close()
            sim.sim.orders.release()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert len(handler.lines) > 20  # the flow did log (how much depends on timing: quotes, retries)
    assert leaks("\n".join(handler.lines)) == []
    assert leaks("\n".join(responses)) == []
    dump = []
    async with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            dump.extend(str(v) for row in await conn.execute(text(f"SELECT * FROM {table.name}")) for v in row)
    assert leaks("\n".join(dump)) == []
