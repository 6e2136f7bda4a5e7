"""Fuzz the /kis_socket protocol: whatever a client sends, it gets an ack or an error,
nothing crashes, and thousands of subscribe/unsubscribe flips leave nothing behind."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.helpers import connect
from web.keys import ROUTER, SOURCE, SYSTEM

EXAMPLES = 60

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
requests = st.fixed_dictionaries(
    {},
    optional={
        "tr_type": st.sampled_from(["1", "2", "0", 1, None, ""]),
        "tr_id": st.sampled_from(["H0STCNT0", "H0STASP0", "H0STCNI0", "PINGPONG", "", 5]),
        "st_code": st.sampled_from(["005930", "000660", "0001A0", "59", "ABCDEF", "", 5930]),
        "extra": json_values,
    },
)
messages = st.one_of(
    requests.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
)


@pytest.fixture
def app_settings(db_settings):
    return msgspec.structs.replace(db_settings, ws_rate_per_s=1e6, ws_rate_burst=1_000_000,
                                   ws_user_rate_per_s=1e6, ws_user_rate_burst=1_000_000,
                                   ws_max_message_bytes=4096)


async def test_every_message_gets_one_answer_and_nothing_crashes(client, make_user):
    _, headers = await make_user()
    ws = await connect(client, headers)
    sent: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(text=messages)
    def collect(text: str) -> None:
        sent.append(text)

    collect()
    for text in sent:
        await ws.send_str(text)
        answer = await ws.receive_json(timeout=5)
        assert answer["type"] in ("ack", "error"), (text, answer)
    tree = {row["path"]: row for row in client.server.app[SYSTEM].snapshot()}
    assert all(row["failed"] == 0 for row in tree.values()), [r for r in tree.values() if r["failed"]]


async def test_a_message_over_the_size_limit_closes_with_1009(client, make_user):
    _, headers = await make_user()
    ws = await connect(client, headers)
    await ws.send_str(json.dumps({"tr_type": "1", "tr_id": "H0STCNT0", "st_code": "x" * 5000}))
    msg = await ws.receive(timeout=5)
    assert ws.close_code == 1009, msg


async def test_thousands_of_flips_leave_no_feed_and_no_subscription(client, clock, make_user, app_settings):
    _, headers = await make_user()
    ws = await connect(client, headers)
    answers = []
    for _batch in range(10):  # 1,000 flips, read back as we go (a client that never reads is cut off)
        for i in range(100):
            code = ("005930", "000660")[i % 2]
            await ws.send_json({"tr_type": "1", "tr_id": "H0STCNT0", "st_code": code})
            await ws.send_json({"tr_type": "2", "tr_id": "H0STCNT0", "st_code": code})
        answers.extend([await ws.receive_json(timeout=5) for _ in range(200)])
    assert [a["message"] for a in answers] == ["subscribed", "unsubscribed"] * 1000
    await clock.advance(app_settings.feed_grace_s + 1)
    app = client.server.app
    assert app[ROUTER].feeds == {} and app[SOURCE].subscribed == {}
    assert [p for p in (r["path"] for r in app[SYSTEM].snapshot()) if p.startswith("/feeds/")] == []
