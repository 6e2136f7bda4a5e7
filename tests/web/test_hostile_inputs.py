"""Every operation of /openapi.json against the input shapes that gave 500 in the attack run:
Unicode digits in ids and codes, ids at and past 2^63, JSON nested 1,000 deep (also without a
token, on /users/login). None may answer 500."""

from __future__ import annotations

import json

import pytest

HOSTILE_IDS = ["²", "①", "٠٠٥٩٣٠", "１２", "9223372036854775807", "9223372036854775808", "18446744073709551616",
               "99999999999999999999999", "-1", "0", "+1", " 1", "1_0", "1e3", "0x10", "١"]
HOSTILE_INTS = [2**63 - 1, 2**63, 2**64, 2**70, -(2**63) - 1, -1, 0]
HOSTILE_STRINGS = ["٠٠٥٩٣٠", "００５９３０", "①②③④⑤⑥", "5012345٦-01", "٥٠١٢٣٤٥٦-٠١", "²²²²²²", "\u0000", "x" * 5000]
DEEP = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000


@pytest.fixture
async def armed(client, make_user, session_factory):
    body = {"email": "fuzz@example.com", "password": "s3cret-pass"}
    assert (await client.post("/users/register", json=body)).status == 201
    token = (await (await client.post("/users/login", json=body)).json())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    resp = await client.post("/accounts/register", headers=headers, json={
        "account_number": "50123456-01", "api_key": "fuzz-key-1234", "secret_key": "fuzz-secret-5678"})
    assert resp.status == 201
    doc = await (await client.get("/openapi.json")).json()
    return client, headers, doc


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def _fill(path: str, value: str) -> str:
    out, _, rest = path.partition("{")
    while _:
        _, _, rest = rest.partition("}")
        out += value
        more, _, rest = rest.partition("{")
        out += more
    return out


def _body_schema(doc, op):
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return None
    ref = content["schema"].get("$ref", "")
    return doc["components"]["schemas"].get(ref.rsplit("/", 1)[-1], content["schema"])


def _kinds(prop) -> set[str]:
    kinds = {prop.get("type")} if isinstance(prop.get("type"), str) else set(prop.get("type") or [])
    for option in prop.get("anyOf", []):
        kinds |= _kinds(option)
    return kinds


async def test_no_hostile_shape_gets_a_500(armed):
    client, headers, doc = armed
    served: list[str] = []
    failures: list[str] = []

    async def call(method, url, **kw):
        resp = await client.request(method, url, headers={**headers, **kw.pop("headers", {})}, **kw)
        served.append(f"{method} {url}")
        if resp.status >= 500 and resp.status != 503:
            failures.append(f"{method} {url} {kw.get('data', b'')[-90:]!r}: {resp.status} {await resp.text()}")

    for method, path, op in _operations(doc):
        if path in ("/admin/actors", "/metrics", "/docs", "/openapi.json"):
            continue
        params = [p for p in op.get("parameters", []) if p["in"] == "query"]
        schema = _body_schema(doc, op)
        if "{" in path:
            for value in HOSTILE_IDS + HOSTILE_STRINGS[:6]:
                await call(method, _fill(path, value), **({"json": {}} if schema else {}))
        target = _fill(path, "1")
        for param in params:
            for value in HOSTILE_IDS + HOSTILE_STRINGS[:6]:
                await call(method, target, params={param["name"]: value})
        if schema is None:
            continue
        for deep in (DEEP, DEEP_OBJECT):
            await call(method, target, data=deep, headers={"Content-Type": "application/json"})
        for name, prop in schema.get("properties", {}).items():
            kinds = _kinds(prop)
            values = (HOSTILE_INTS if "integer" in kinds else []) + (HOSTILE_STRINGS if "string" in kinds else [])
            for value in values:
                base = {key: _example(p) for key, p in schema.get("properties", {}).items()
                        if key not in ("client_order_id",)}
                await call(method, target, data=json.dumps({**base, name: value}),
                           headers={"Content-Type": "application/json"})
    assert len(served) > 300
    assert not failures, "\n".join(failures[:30]) + f"\n({len(failures)} in all)"


def _example(prop):
    if prop.get("enum"):
        return prop["enum"][0]
    if "default" in prop and prop["default"] is not None:
        return prop["default"]
    kinds = _kinds(prop)
    if "integer" in kinds:
        return 1
    if "string" in kinds:
        return "005930"
    if "boolean" in kinds:
        return False
    return None


async def test_deep_json_without_a_token_is_400_not_500(client):
    for path in ("/users/login", "/users/register"):
        for deep in (DEEP, DEEP_OBJECT):
            resp = await client.post(path, data=deep, headers={"Content-Type": "application/json"})
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "bad_json"


async def test_deep_json_on_the_websocket_is_an_error_not_a_crash(armed):
    import asyncio

    client, headers, _ = armed
    token = headers["Authorization"].split()[1]
    deep = '{"type":"auth","token":"%s","strategy_type":"basic","params":{"a":%s}}' % (
        token, "[" * 1000 + "]" * 1000)
    ws = await client.ws_connect("/kis_socket")
    await ws.send_str(deep)
    msg = await asyncio.wait_for(ws.receive_json(), 5)
    assert msg["type"] == "error"
    await ws.close()
    ws = await client.ws_connect("/kis_socket")
    await ws.send_json({"type": "auth", "token": token, "strategy_type": "basic"})
    assert (await asyncio.wait_for(ws.receive_json(), 5))["type"] == "ack"
    await ws.send_str('{"type":"subscribe","codes":%s}' % ("[" * 1000 + "]" * 1000))
    msg = await asyncio.wait_for(ws.receive_json(), 5)
    assert msg["type"] == "error"
    await ws.send_json({"type": "ping"})
    assert not ws.closed
    await ws.close()
