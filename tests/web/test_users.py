import jwt
import pytest

from web.auth import issue_token

GOOD = {"email": "kim@example.com", "password": "s3cret-pass"}


async def register(client, body=GOOD):
    return await client.post("/users/register", json=body)


async def test_register_then_login_gives_a_working_bearer_token(client):
    resp = await register(client)
    assert resp.status == 201
    assert await resp.json() == {"message": "회원가입 성공"}
    resp = await client.post("/users/login", json=GOOD)
    assert resp.status == 200
    body = await resp.json()
    assert body["token_type"] == "Bearer" and body["access_token"]
    resp = await client.get("/accounts", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert resp.status == 200


async def test_taken_email_is_409_case_insensitively(client):
    await register(client)
    resp = await register(client, {**GOOD, "email": "KIM@example.com"})
    assert resp.status == 409
    assert (await resp.json())["error"]["fields"] == {"email": "already registered"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-email", "password": "s3cret-pass"}, "email"),
        ({"email": "a@b", "password": "s3cret-pass"}, "email"),
        ({"email": "kim@example.com", "password": "short1"}, "password"),
        ({"email": "kim@example.com", "password": "aaaaaaaaaaaa"}, "password"),
        ({"email": "kim@example.com", "password": "x1" * 37}, "password"),  # 74 bytes > 72
        ({"email": "kim@example.com"}, "password"),
        ({"email": "kim@example.com", "password": 12345678}, "password"),
        ({"email": "kim@example.com", "password": "s3cret-pass", "admin": True}, "admin"),
    ],
)
async def test_bad_registrations_are_422_naming_the_field(client, body, field):
    resp = await register(client, body)
    assert resp.status == 422
    assert field in (await resp.json())["error"]["fields"]


async def test_malformed_json_is_400(client):
    resp = await client.post("/users/register", data=b"{nope", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "bad_json"


async def test_unknown_email_and_wrong_password_get_the_same_401(client):
    await register(client)
    wrong = await client.post("/users/login", json={**GOOD, "password": "wrong-pass1"})
    unknown = await client.post("/users/login", json={**GOOD, "email": "nobody@example.com"})
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json()


async def test_repeated_failures_are_throttled_until_the_window_passes(client, clock, app_settings):
    await register(client)
    for _ in range(app_settings.login_max_failures):
        assert (await client.post("/users/login", json={**GOOD, "password": "wrong-pass1"})).status == 401
    resp = await client.post("/users/login", json=GOOD)  # even the right password waits
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1
    await clock.advance(app_settings.login_lockout_s + 1)
    assert (await client.post("/users/login", json=GOOD)).status == 200


@pytest.mark.parametrize("kind", ["expired", "tampered", "none", "other_key", "garbage"])
async def test_bad_tokens_are_401(client, make_user, app_settings, kind):
    user_id, headers = await make_user()
    token = headers["Authorization"].split()[1]
    if kind == "expired":
        token = issue_token(user_id, app_settings.jwt_secret, 60, now=1_000_000)
    elif kind == "tampered":
        head, payload, sig = token.split(".")
        token = ".".join([head, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), sig])
    elif kind == "none":
        token = jwt.encode({"sub": str(user_id), "iat": 1, "exp": 4_000_000_000}, None, algorithm="none")
    elif kind == "other_key":
        token = issue_token(user_id, "another-secret-" + "y" * 32, 3600)
    else:
        token = "abc.def"
    resp = await client.get("/accounts", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] in {"token_expired", "invalid_token"}
