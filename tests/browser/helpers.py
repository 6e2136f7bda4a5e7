"""Helpers for the browser tests (the fixtures stay in ``conftest``; test modules import from here,
never from conftest or one another): screenshots, plain REST set-up calls, a user with a paper
account, signing in through the login form, and moving a manual server clock."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

from tests.web.live_server import LiveServer

SHOTS = Path(__file__).resolve().parents[2] / "out" / "screenshots"
PASSWORD = "s3cret-pass"


def slug(name: str) -> str:
    """``name`` made safe for a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def rest(server: LiveServer, method: str, path: str, body: dict | None = None,
         token: str | None = None) -> tuple[int, dict]:
    """A plain HTTP call to the live server (set-up steps the browser does not need to show)."""
    req = urllib.request.Request(server.url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def user_with_account(server: LiveServer, email: str) -> str:
    """Register ``email`` with a paper account through the API; returns its token."""
    assert rest(server, "POST", "/users/register", {"email": email, "password": PASSWORD})[0] == 201
    status, body = rest(server, "POST", "/users/login", {"email": email, "password": PASSWORD})
    assert status == 200
    token = body["access_token"]
    number = f"{50000000 + abs(hash(email)) % 40000000}-01"
    status, body = rest(server, "POST", "/accounts/register",
                        {"account_number": number, "api_key": "paper-key", "secret_key": "paper-secret"}, token)
    assert status == 201, body
    return token


def sign_in(page, server: LiveServer, email: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(server.url + "/#/login")
    form = page.locator("#login-form")
    form.get_by_label(re.compile("이메일|Email")).fill(email)
    form.get_by_label(re.compile("비밀번호|Password")).fill(PASSWORD)
    form.get_by_role("button", name=re.compile("로그인|Sign in")).click()
    expect(page.locator("#logout")).to_be_visible()


def advance(server: LiveServer, seconds: float) -> None:
    """Move the manual clock of ``server`` (see the ``manual_server`` fixture) ``seconds`` forward, firing
    every timer due on the way, then wait until the server's actors are idle."""
    from web.keys import CLOCK, SYSTEM

    async def step(app) -> None:  # type: ignore[no-untyped-def]
        left = seconds
        while left > 0:  # a second at a time, idle between: the database keeps up as it does in real time
            await app[CLOCK].advance(min(1.0, left))
            await app[SYSTEM].idle()
            left -= 1.0

    server.call(step, timeout=60)
