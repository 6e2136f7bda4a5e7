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

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.runtime import ManualClock
from engine.settings import Settings
from tests.browser.helpers import SHOTS, slug
from tests.web.live_server import LiveServer

CHROMIUM = os.environ.get("AUTOTRADER_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 20_000


def _settings(data: Path) -> Settings:
    return Settings(data_dir=str(data), database_url=f"sqlite+aiosqlite:///{data / 'autotrader.db'}",
                    jwt_secret="browser-test-secret-" + "x" * 32, hash_key="browser-hash-key", bcrypt_cost=4,
                    restart_backoff_base_s=0.05, restart_max=3, restart_window_s=600, feed_grace_s=30.0,
                    shutdown_deadline_s=2.0, register_max_per_address=1000)  # every test registers from 127.0.0.1


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The live demo market on the wall clock, shared by the module's tests."""
    with LiveServer(_settings(tmp_path_factory.mktemp("browser-data"))) as live:
        yield live


@pytest.fixture
def manual_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of its own on a manual clock (from now): time, the demo market's ticks included, moves
    only when the test says (``helpers.advance``), so a test that needs the next minute does not wait it."""
    with LiveServer(_settings(tmp_path), clock=ManualClock(start_ms=time.time_ns() // 1_000_000)) as live:
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
            pg.screenshot(path=str(SHOTS / f"FAILED-{slug(request.node.name)}.png"), full_page=True)
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
