"""Security headers on every response; Cache-Control: no-store on answers, kept-but-revalidated for the
dashboard's files; X-Request-Id limited to a safe charset and length (it goes into every log line of the
request)."""

from __future__ import annotations

import re

import pytest

HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def _secure(resp) -> None:
    for name, value in HEADERS.items():
        assert resp.headers.get(name) == value, (resp.url, name)
    assert resp.headers.get("Cache-Control") == "no-store", resp.url


async def test_every_kind_of_response_carries_the_security_headers(client, make_user):
    _, headers = await make_user()
    for resp in (
        await client.get("/health"),
        await client.get("/no/such/path"),
        await client.get("/accounts"),  # 401
        await client.get("/accounts", headers=headers),
        await client.post("/users/login", data=b"{nope", headers={"Content-Type": "application/json"}),
        await client.put("/health"),  # 405
        await client.get("/openapi.json"),
    ):
        _secure(resp)
    ws = await client.ws_connect("/kis_socket")
    _secure(ws._response)
    await ws.close()


@pytest.mark.parametrize("given", ["abc def", "x\ty=forged", 'a"b', "a" * 65, "id=1 user=2", "ünï", ""])
async def test_an_unsafe_request_id_is_replaced(client, given):
    resp = await client.get("/health", headers={"X-Request-Id": given} if given else {})
    rid = resp.headers["X-Request-Id"]
    assert rid != given and re.fullmatch(r"[0-9a-f]{16}", rid)


@pytest.mark.parametrize("given", ["req-123", "3f2a.b_c:9", "a" * 64])
async def test_a_safe_request_id_is_kept(client, given):
    resp = await client.get("/health", headers={"X-Request-Id": given})
    assert resp.headers["X-Request-Id"] == given


@pytest.mark.parametrize("path", ["/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/js/app.js",
                                  "/static/css/app.css"])
async def test_the_dashboards_files_are_kept_and_revalidated_by_their_etag(client, path):
    first = await client.get(path)
    body = await first.read()
    assert first.status == 200 and body
    assert first.headers["Cache-Control"] == "public, no-cache"
    etag = first.headers["ETag"]
    again = await client.get(path, headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""  # the next visit downloads nothing
    assert again.headers["Cache-Control"] == "public, no-cache" and again.headers["ETag"] == etag
    for name, value in HEADERS.items():
        assert first.headers.get(name) == value


async def test_a_missing_static_file_and_every_answer_beside_the_files_stay_no_store(client, make_user):
    _, headers = await make_user()
    for resp in (await client.get("/static/js/no-such.js"), await client.get("/static/../web/app.py"),
                 await client.get("/accounts", headers=headers), await client.get("/openapi.json")):
        assert resp.headers["Cache-Control"] == "no-store", resp.url
    page = await client.get("/")
    assert page.headers["Cache-Control"] == "no-cache" and "ETag" in page.headers  # the page: always revalidated
