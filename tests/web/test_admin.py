async def test_admin_actors_needs_a_token(client):
    resp = await client.get("/admin/actors")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "missing_token"


async def test_admin_actors_is_forbidden_to_users(client, make_user):
    _, headers = await make_user("plain@example.com")
    resp = await client.get("/admin/actors", headers=headers)
    assert resp.status == 403


async def test_admin_sees_the_actor_tree_with_mailbox_figures(client, make_user):
    _, headers = await make_user("boss@example.com", role="admin")
    resp = await client.get("/admin/actors", headers=headers)
    assert resp.status == 200
    body = await resp.json()
    paths = [row["path"] for row in body["actors"]]
    assert {"/feeds", "/strategies", "/swings", "/accounts", "/sessions"} <= set(paths)
    row = body["actors"][0]
    for key in ("kind", "state", "mailbox_depth", "mailbox_limit", "handled", "rejected", "conflated", "restarts"):
        assert key in row
    assert body["totals"]["actors"] == len(body["actors"])


async def test_admin_sees_dead_letters_counted_on_their_addressee_with_their_sender(client, make_user):
    from actors.session_hub import SessionHub
    from engine.runtime import ChildSpec
    from web.keys import SYSTEM

    _, headers = await make_user("boss2@example.com", role="admin")
    system = client.server.app[SYSTEM]
    gone = system.spawn("/sessions/gone", SessionHub, ChildSpec(restart="temporary"))
    await system.stop("/sessions/gone")
    assert gone.try_tell(object()) is False  # the addressee stopped: a dead letter, not an error
    body = await (await client.get("/admin/actors", headers=headers)).json()
    assert body["totals"]["dead_letters"] >= 1
    assert {"target": "/sessions/gone", "sender": "-", "msg_type": "object", "reason": "stopped"} \
        in body["dead_letters"]
    hub = next(r for r in body["actors"] if r["path"] == "/sessions")
    assert hub["dead_letters"] == 0 and "unknown_dropped" in hub["details"]
