"""Shared fixtures: every database test runs on SQLite and on MariaDB.

Request any of ``db_settings``, ``engine`` or ``session_factory`` (or
``db_url`` / ``empty_db_url``) and the test runs twice, ids ending in
``[sqlite]`` and ``[mariadb]``; it is also marked ``sqlite`` or ``mariadb``, so
``pytest -m sqlite`` runs only the quick leg locally (CI runs both).

- Per test session, each database is created fresh (a temp file; a MariaDB
  database ``autotrader_test_<hex>``), migrated to head once, and dropped at
  the end.
- Per test, ``engine`` empties every table first (DELETE, children before
  parents) and is disposed afterwards; ids are not reset, so never assume them.
- MariaDB is ``AUTOTRADER_TEST_MARIADB_URL`` or ``mysql+aiomysql://root@127.0.0.1:3306``.
  If it is unreachable the MariaDB leg FAILS with the reason; it never skips.
- The terminal summary says how many tests ran on each database.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from engine.settings import Settings
from storage.db import create_engine, create_session_factory, upgrade
from storage.models import Base
from tests.helpers import MARIADB_SERVER_URL, TEST_DATA_KEY, MariaDB

DB_KINDS = ("sqlite", "mariadb")

_legs: Counter[tuple[str, str]] = Counter()  # (kind, outcome) -> tests


def pytest_configure(config: pytest.Config) -> None:
    for kind in DB_KINDS:
        config.addinivalue_line("markers", f"{kind}: the {kind} leg of the database fixtures")


# Tests that start several server processes on NATS run one after another on one pytest-xdist
# worker (scripts/test runs ``-n 2 --dist loadgroup``): their lease TTLs are seconds of wall time.
_ONE_WORKER = ("tests/cluster/test_failover.py", "tests/benchmarks/test_loadtest.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        kind = _kind_of(item)
        if kind is not None:
            item.add_marker(getattr(pytest.mark, kind))
        if item.nodeid.startswith(_ONE_WORKER):
            item.add_marker(pytest.mark.xdist_group("server-processes"))


def _kind_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None or "db_kind" not in callspec.params:
        return None
    return callspec.params["db_kind"]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count each leg's outcomes where the reports arrive (the controller under pytest-xdist)."""
    kind = next((k for k in DB_KINDS if k in report.keywords), None)
    if kind is not None and (report.when == "call" or (report.when == "setup" and not report.passed)):
        _legs[(kind, report.outcome if report.when == "call" else f"{report.outcome} in setup")] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _legs:
        return
    terminalreporter.section("database legs")
    for kind in DB_KINDS:
        outcomes = {outcome: n for (k, outcome), n in _legs.items() if k == kind}
        total = sum(outcomes.values())
        detail = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
        terminalreporter.write_line(f"{kind}: {total} tests ({detail or 'none'})")


# -- databases ----------------------------------------------------------------


@pytest.fixture(scope="session", params=DB_KINDS)
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.param


def _fresh_database(kind: str, directory: Path, request: pytest.FixtureRequest) -> str:
    """A new empty database of ``kind``, dropped when ``request``'s scope ends."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{directory / 'autotrader_test.db'}"
    server = MariaDB(MARIADB_SERVER_URL)
    url = server.create()
    request.addfinalizer(lambda: server.drop(url))
    return url


@pytest.fixture(scope="session")
def db_url(db_kind: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """A database of this leg, migrated to head once per test session."""
    url = _fresh_database(db_kind, tmp_path_factory.mktemp(f"db-{db_kind}"), request)
    asyncio.run(upgrade(url))  # sync fixture: no loop runs here yet
    return url


@pytest.fixture
def empty_db_url(db_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A brand-new, never-migrated database of this leg, dropped after the test."""
    return _fresh_database(db_kind, tmp_path, request)


@pytest.fixture
def db_settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings for this leg's database, with fixed keys and a fast bcrypt cost."""
    return Settings(
        database_url=db_url,
        data_dir=str(tmp_path / "data"),
        jwt_secret="test-jwt-secret-" + "x" * 32,
        data_keys=TEST_DATA_KEY,
        hash_key="test-hash-key",
        bcrypt_cost=4,
    )


@pytest.fixture
async def engine(db_settings: Settings) -> AsyncIterator[AsyncEngine]:
    """This leg's engine, every table emptied before the test, disposed after it."""
    eng = create_engine(db_settings)
    async with eng.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(delete(table))
    yield eng
    await eng.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return create_session_factory(engine)

