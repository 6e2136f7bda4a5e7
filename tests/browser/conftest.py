"""The dashboard in a real browser: Playwright for Python driving the system Chromium headless.

- One live server per module (tests/web/live_server.py) on a fresh SQLite file, the
  around-the-clock simulated market, fast bcrypt. Chromium is Debian's
  ``/usr/bin/chromium`` (``./scripts/test`` installs it when absent); Playwright
  never downloads a browser. Missing Chromium fails the tests, it never skips them.
- Every page records JavaScript errors (uncaught exceptions, ``console.error``,
  CSP refusals); a test fails if its page logged any. Chromium's own "Failed to
  load resource" lines for HTTP error statuses are not JavaScript errors: the
  tests provoke 4xx answers on purpose and check what the page shows.
- Screenshots go to ``out/screenshots/`` (git-ignored): one per page a test
  visits (``shot``), and one of the page when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.settings import Settings
from tests.web.live_server import LiveServer

CHROMIUM = os.environ.get("AUTOTRADER_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[2] / "out" / "screenshots"
TIMEOUT_MS = 20_000
PASSWORD = "s3cret-pass"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("browser-data")
    settings = Settings(data_dir=str(data), database_url=f"sqlite+aiosqlite:///{data / 'autotrader.db'}",
                        jwt_secret="browser-test-secret-" + "x" * 32, hash_key="browser-hash-key", bcrypt_cost=4,
                        restart_backoff_base_s=0.05, restart_max=3, restart_window_s=600, feed_grace_s=30.0, shutdown_deadline_s=2.0,
                        register_max_per_address=1000)  # every test registers from 127.0.0.1
    with LiveServer(settings) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/test installs Debian's chromium (apt-get install chromium)",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


class Recorder:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def console(self, msg) -> None:  # type: ignore[no-untyped-def]
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(f"console.error: {msg.text}")

    def page_error(self, exc) -> None:  # type: ignore[no-untyped-def]
        self.errors.append(f"uncaught: {exc}")


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    size = getattr(request, "param", {"width": 1280, "height": 800})
    context = browser.new_context(viewport=size, locale="ko-KR", timezone_id="UTC")
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    rec = Recorder()
    pg.on("console", rec.console)
    pg.on("pageerror", rec.page_error)
    pg.recorder = rec  # type: ignore[attr-defined]
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        SHOTS.mkdir(parents=True, exist_ok=True)
        try:
            pg.screenshot(path=str(SHOTS / f"FAILED-{_slug(request.node.name)}.png"), full_page=True)
        except Exception as exc:  # the page may be gone with the failure; the report has the cause
            print(f"no failure screenshot: {exc}")
    context.close()
    assert not rec.errors, "the page logged JavaScript errors:\n" + "\n".join(rec.errors)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


def _slug(name: str) -> str:
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
