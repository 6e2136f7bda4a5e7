"""Per-user socket limits: sockets, subscriptions and distinct codes (feeds) across all of a user's sockets.

Each limit is probed at its boundary: exactly at the limit is fine, one more is refused with an error
naming the limit, and an unsubscribe or a closed socket gives the room back. On market time: a Tuesday
inside the regular session.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import msgspec
import pytest

from actors import paths
from actors.session_hub import CountClaims, CountSessions
from engine.runtime import ManualClock
from tests.web.helpers import connect, sessions_gone
from web.keys import SYSTEM


@pytest.fixture
def clock():
    # Tuesday 2026-12-01, 10:00 KST: the regular session is open.
    return ManualClock(start_ms=int(dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC).timestamp() * 1000))


@pytest.fixture
def app_settings(app_settings):
    return msgspec.structs.replace(app_settings, market_data="sim", ignore_market_hours=False,
                                   ws_max_connections_per_user=3, ws_max_subscriptions=4,
                                   ws_max_subscriptions_per_user=5, ws_max_feeds_per_user=3)


def sub(code: str, tr_id: str = "H0STCNT0", tr_type: str = "1") -> dict[str, str]:
    return {"tr_type": tr_type, "tr_id": tr_id, "st_code": code}


async def answer(ws, request: dict[str, str]) -> dict:
    """Send one request and return its ack or error (trades and books in between skipped)."""
    await ws.send_json(request)
    while True:
        msg = await ws.receive_json(timeout=5)
        if msg["type"] in ("ack", "error"):
            return msg


async def connect_one(client, headers) -> tuple[object, str]:
    """A socket and its session's path (to wait for that one session's stop after a close)."""
    system = client.app[SYSTEM]
    before = set(system.children(paths.SESSIONS))
    ws = await connect(client, headers)
    await system.idle()
    (path,) = set(system.children(paths.SESSIONS)) - before
    return ws, path


async def closed(client, ws, path: str) -> None:
    """Close a socket; return once its session stopped and what it said on its way out is handled."""
    await ws.close()
    await client.app[SYSTEM].wait_stopped([path])
    await client.app[SYSTEM].idle()


async def claims(client, user_id: int) -> tuple[int, int]:
    return await client.app[SYSTEM].ref(paths.SESSIONS).ask(CountClaims(user_id), 5)


async def test_subscriptions_count_across_a_users_sockets(client, make_user):
    alice_id, alice = await make_user("alice@example.com")
    (a, a_path), b = await connect_one(client, alice), await connect(client, alice)
    for ws, request in ((a, sub("005930")), (a, sub("005930", "H0STASP0")), (a, sub("000660")),
                        (b, sub("000660", "H0STASP0")), (b, sub("035420"))):  # 5 of 5, 3 codes of 3
        assert (await answer(ws, request))["message"] == "subscribed"
    assert await claims(client, alice_id) == (5, 3)
    refused = await answer(b, sub("035420", "H0STASP0"))  # a sixth: b holds only 2 of its own 4
    assert refused["type"] == "error" and refused["code"] == "max_subscriptions"
    assert "AUTOTRADER_WS_MAX_SUBSCRIPTIONS_PER_USER" in refused["message"]

    assert (await answer(a, sub("005930", "H0STASP0", "2")))["message"] == "unsubscribed"
    assert (await answer(b, sub("035420", "H0STASP0")))["message"] == "subscribed"  # the room came back
    assert (await answer(b, sub("005930", "H0STASP0")))["code"] == "max_subscriptions"

    await closed(client, a, a_path)  # a's three subscriptions go with it
    assert await claims(client, alice_id) == (3, 2)
    assert (await answer(b, sub("005930", "H0STASP0")))["message"] == "subscribed"
    await b.close()
    await sessions_gone(client.app, alice_id)
    assert await claims(client, alice_id) == (0, 0)


async def test_distinct_codes_are_limited_per_user_and_not_for_others(client, make_user):
    alice_id, alice = await make_user("alice@example.com")
    _, bob = await make_user("bob@example.com")
    a, b = await connect(client, alice), await connect(client, alice)
    for ws, code in ((a, "005930"), (a, "000660"), (b, "035420")):  # 3 codes of 3
        assert (await answer(ws, sub(code)))["message"] == "subscribed"
    assert (await answer(b, sub("005930", "H0STASP0")))["message"] == "subscribed"  # a code already held
    refused = await answer(b, sub("051910"))
    assert refused["type"] == "error" and refused["code"] == "max_feeds"
    assert "AUTOTRADER_WS_MAX_FEEDS_PER_USER" in refused["message"]
    assert await claims(client, alice_id) == (4, 3)

    other = await connect(client, bob)  # bob's room is his own
    for code in ("051910", "005380", "068270"):
        assert (await answer(other, sub(code)))["message"] == "subscribed"

    assert (await answer(b, sub("035420", tr_type="2")))["message"] == "unsubscribed"  # 035420 no longer held
    assert (await answer(b, sub("051910")))["message"] == "subscribed"
    for ws in (a, b, other):
        await ws.close()


async def test_a_refused_subscribe_answers_each_request_and_leaves_the_socket_open(client, make_user):
    _, alice = await make_user()
    ws = await connect(client, alice)
    for code in ("005930", "000660", "035420"):
        await ws.send_json(sub(code))
    await ws.send_json(sub("051910"))  # over the feeds limit
    await ws.send_json(sub("051910"))  # the same again, while the first waits on the hub
    answers = [await ws.receive_json(timeout=5) for _ in range(5)]
    assert sorted(m.get("st_code", m.get("code")) for m in answers) == [  # one answer per request
        "000660", "005930", "035420", "max_feeds", "max_feeds"]
    assert (await answer(ws, sub("005930", "H0STASP0")))["message"] == "subscribed"
    await ws.close()


async def test_sockets_per_user_exactly_at_the_limit_and_one_more(client, make_user):
    alice_id, alice = await make_user()
    socks = [await connect(client, alice) for _ in range(2)]
    last, last_path = await connect_one(client, alice)  # 3 of 3
    extra = await client.ws_connect("/kis_socket")
    await extra.send_json({"type": "auth", "token": alice["Authorization"].split()[1]})
    error = await extra.receive_json(timeout=5)
    assert error["code"] == "max_connections" and "AUTOTRADER_WS_MAX_CONNECTIONS_PER_USER" in error["message"]
    await extra.receive(timeout=5)
    assert extra.close_code == 1008

    await closed(client, last, last_path)
    socks.append(await connect(client, alice))  # the closed one's slot is free again
    for ws in socks:
        await ws.close()


async def test_parallel_logins_cannot_overshoot_the_socket_limit(client, make_user):
    alice_id, alice = await make_user()
    token = alice["Authorization"].split()[1]

    async def login():
        ws = await client.ws_connect("/kis_socket")
        await ws.send_json({"type": "auth", "token": token})
        return ws, await ws.receive_json(timeout=5)

    results = await asyncio.gather(*(login() for _ in range(6)))
    answers = sorted(msg.get("code", msg.get("message")) for _, msg in results)
    assert answers == ["authenticated"] * 3 + ["max_connections"] * 3
    assert await client.app[SYSTEM].ref(paths.SESSIONS).ask(CountSessions(alice_id), 5) == 3
    for ws, _ in results:
        await ws.close()


async def test_one_message_bucket_is_shared_by_all_of_a_users_sockets(aiohttp_client, app_settings, engine, clock,
                                                                      make_user):
    from web.app import create_app

    settings = msgspec.structs.replace(app_settings, ws_user_rate_per_s=1.0, ws_user_rate_burst=3)
    client = await aiohttp_client(create_app(settings, clock=clock))
    _, alice = await make_user("alice@example.com")
    _, bob = await make_user("bob@example.com")
    a, b, other = await connect(client, alice), await connect(client, alice), await connect(client, bob)
    not_held = sub("005930", tr_type="2")  # answered not_subscribed: the cheapest message there is
    codes = [(await answer(ws, not_held))["code"] for ws in (a, b, a, b)]
    assert codes == ["not_subscribed"] * 3 + ["user_rate_limited"]  # 3 for alice, whichever socket
    assert (await answer(other, not_held))["code"] == "not_subscribed"  # bob's bucket is his own
    await clock.advance(1.0)  # one more token for alice
    assert [(await answer(ws, not_held))["code"] for ws in (b, a)] == ["not_subscribed", "user_rate_limited"]
    for ws in (a, b, other):
        await ws.close()
