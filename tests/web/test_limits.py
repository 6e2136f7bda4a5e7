"""Limits with clear errors: request body size, WebSocket message rate."""

from __future__ import annotations

import msgspec
import pytest

from tests.web.helpers import connect


@pytest.fixture
def app_settings(db_settings):
    return msgspec.structs.replace(db_settings, max_body_bytes=2048, ws_rate_per_s=1.0, ws_rate_burst=3)


async def test_a_body_over_the_limit_is_413_in_the_error_shape(client):
    resp = await client.post("/users/register", data=b"{" + b" " * 4096 + b"}",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "too_large"


async def test_messages_over_the_rate_get_an_error_each(client, make_user):
    _, headers = await make_user()
    ws = await connect(client, headers)
    for _ in range(5):  # burst 3, then refused; the manual clock does not refill the bucket
        await ws.send_json({"tr_type": "2", "tr_id": "H0STCNT0", "st_code": "005930"})
    answers = [(await ws.receive_json(timeout=5))["code"] for _ in range(5)]
    assert answers == ["not_subscribed"] * 3 + ["rate_limited"] * 2
