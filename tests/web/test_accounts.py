import msgspec
import pytest
from sqlalchemy import text

from storage.models import Base

ACCOUNT = {"account_number": "50123456-01", "api_key": "PSabcdefghijklmnop1234", "secret_key": "Zx9" * 60}


async def test_register_and_list_shows_only_masked_values(client, make_user, app_settings):
    _, headers = await make_user()
    resp = await client.post("/accounts/register", json=ACCOUNT, headers=headers)
    assert resp.status == 201
    body = await resp.json()
    assert body["message"] == "계좌 등록 성공" and isinstance(body["account_id"], int)
    resp = await client.get("/accounts", headers=headers)
    (account,) = (await resp.json())["accounts"]
    assert account["account_id"] == body["account_id"]
    assert account["broker"] == "paper" and account["paper_trading"] is False
    assert account["account_number"].endswith("5601") and "50123456" not in account["account_number"]
    assert account["api_key"].endswith("1234") and ACCOUNT["api_key"] not in account["api_key"]
    assert account["cash_balance"] == app_settings.paper_initial_cash
    assert account["created_at"].endswith("+09:00")
    text_body = await resp.text()
    assert ACCOUNT["secret_key"] not in text_body and "5012345601" not in text_body


async def test_no_plaintext_secret_or_number_in_any_stored_row(client, make_user, engine):
    _, headers = await make_user()
    assert (await client.post("/accounts/register", json=ACCOUNT, headers=headers)).status == 201
    dump = []
    async with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = await conn.execute(text(f"SELECT * FROM {table.name}"))
            dump.extend(str(value) for row in rows for value in row)
    blob = "\n".join(dump)
    for secret in ("5012345601", "50123456-01", ACCOUNT["api_key"], ACCOUNT["secret_key"]):
        assert secret not in blob


async def test_same_number_twice_for_one_user_is_409_but_another_user_may(client, make_user):
    _, alice = await make_user("alice@example.com")
    _, bob = await make_user("bob@example.com")
    assert (await client.post("/accounts/register", json=ACCOUNT, headers=alice)).status == 201
    same = {**ACCOUNT, "account_number": "5012345601"}  # the dash is optional: same account
    assert (await client.post("/accounts/register", json=same, headers=alice)).status == 409
    assert (await client.post("/accounts/register", json=ACCOUNT, headers=bob)).status == 201


async def test_users_never_see_each_others_accounts(client, make_user):
    _, alice = await make_user("alice@example.com")
    _, bob = await make_user("bob@example.com")
    await client.post("/accounts/register", json=ACCOUNT, headers=alice)
    assert (await (await client.get("/accounts", headers=bob)).json()) == {"accounts": []}


async def test_accounts_list_lowest_id_first(client, make_user):
    _, headers = await make_user()
    ids = []
    for n in ("11111111-01", "22222222-01", "33333333-01"):
        resp = await client.post("/accounts/register", json={**ACCOUNT, "account_number": n}, headers=headers)
        ids.append((await resp.json())["account_id"])
    listed = [a["account_id"] for a in (await (await client.get("/accounts", headers=headers)).json())["accounts"]]
    assert listed == sorted(ids)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"account_number": "1234-5678"}, "account_number"),
        ({"account_number": "123456789"}, "account_number"),
        ({"api_key": ""}, "api_key"),
        ({"secret_key": "   "}, "secret_key"),
        ({"broker": "binance"}, "broker"),
        ({"hts_id": "bad id!"}, "hts_id"),
        ({"paper_trading": True}, "paper_trading"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_bad_account_bodies_are_422_naming_the_field(client, make_user, change, field):
    _, headers = await make_user()
    resp = await client.post("/accounts/register", json={**ACCOUNT, **change}, headers=headers)
    assert resp.status == 422
    assert field in (await resp.json())["error"]["fields"]


async def test_missing_fields_are_named(client, make_user):
    _, headers = await make_user()
    resp = await client.post("/accounts/register", json={"account_number": "50123456-01"}, headers=headers)
    assert resp.status == 422
    fields = (await resp.json())["error"]["fields"]
    assert fields == {"api_key": "required", "secret_key": "required"}


async def test_kis_account_with_hts_id(aiohttp_client, app_settings, engine, make_user):
    from engine.brokers.kis.simulator import SimulatorConfig
    from tests.engine.brokers.kis.helpers import running_simulator
    from web.app import create_app

    async with running_simulator(SimulatorConfig(paper=True)) as sim:  # registration asks KIS (모의투자)
        settings = msgspec.structs.replace(app_settings, kis_paper_rest_url=sim.url, kis_timeout_s=2.0)
        client = await aiohttp_client(create_app(settings))
        await _kis_account_with_hts_id(client, make_user)
        await client.close()


async def _kis_account_with_hts_id(client, make_user):
    _, headers = await make_user()
    body = {**ACCOUNT, "broker": "kis", "paper_trading": True, "hts_id": "kimhts"}
    assert (await client.post("/accounts/register", json=body, headers=headers)).status == 201
    (account,) = (await (await client.get("/accounts", headers=headers)).json())["accounts"]
    assert account["broker"] == "kis" and account["paper_trading"] is True and account["hts_id"] == "kimhts"
    assert account["cash_balance"] == 0


async def test_accounts_need_a_token(client):
    assert (await client.get("/accounts")).status == 401
    assert (await client.post("/accounts/register", json=ACCOUNT)).status == 401
