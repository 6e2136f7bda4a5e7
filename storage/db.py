"""The database: engine, session factory, readiness ping and migrations.

``AUTOTRADER_DATABASE_URL`` picks the database (``Settings.effective_database_url``):

- ``sqlite+aiosqlite:///<path>`` (the embedded default, under the data folder):
  the folder is created if missing; every connection turns foreign keys on,
  uses WAL and waits up to 5 s on a locked database.
- ``mysql+aiomysql://user:pass@host:port/db`` (MySQL or MariaDB): ``utf8mb4``,
  ``pool_recycle`` from settings, ``pool_pre_ping``.

One engine per process, built by the app's start-up and disposed at shutdown;
one session per task from :func:`create_session_factory`. The order path's writes
(the journal's insert and acceptance, the paper ledger) are synchronous Core bodies
run by :func:`transaction`: on SQLite whole in one call to the engine's writer
thread, group-committed (:mod:`storage.sqlite_writer`). The schema lives in
Alembic migrations (``storage/migrations``) applied by :func:`upgrade` through
the async engine (Alembic's "connection sharing with asyncio" recipe): the
server's start and ``autotrader db upgrade`` both call it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from engine.settings import Settings
from storage.errors import DatabaseUnavailable
from storage.keys import make_private_dir
from storage.sqlite_writer import SqliteWriter

log = logging.getLogger(__name__)
T = TypeVar("T")

_HERE = Path(__file__).resolve().parent
MYSQL_CONNECT_TIMEOUT_S = 10
SQLITE_BUSY_TIMEOUT_MS = 5000
MIGRATION_CONNECT_TIMEOUT_S = 15.0


def create_engine(settings: Settings) -> AsyncEngine:
    """The process's engine for ``settings.effective_database_url``."""
    return _engine_for_url(settings.effective_database_url, settings.db_pool_recycle_s)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker:
    """Sessions whose objects stay readable after commit (no lazy I/O)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _engine_for_url(url_text: str, pool_recycle_s: int = 3600) -> AsyncEngine:
    url = make_url(url_text)
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _private_sqlite_file(Path(database).expanduser())
        engine = create_async_engine(url, hide_parameters=True)  # DEBUG logs never show emails or hashes
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        return engine
    if backend in ("mysql", "mariadb"):
        if "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        return create_async_engine(
            url,
            pool_recycle=pool_recycle_s,
            pool_pre_ping=True,
            hide_parameters=True,  # DEBUG logs and errors never show emails, hashes or ciphertexts
            connect_args={"connect_timeout": MYSQL_CONNECT_TIMEOUT_S},
        )
    raise ValueError(f"unsupported database backend {backend!r} (use sqlite+aiosqlite or mysql+aiomysql)")


def _private_sqlite_file(path: Path) -> None:
    """The data folder 0700 and the database file 0600 (its -wal and -shm files inherit the mode)."""
    make_private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives the process being killed (the OS holds the WAL);
        # only a power loss can lose the last commits. MySQL/MariaDB is the production store.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def describe(engine: AsyncEngine) -> str:
    """The engine's URL without its password: safe for logs and errors."""
    return engine.url.render_as_string(hide_password=True)


async def ping(engine: AsyncEngine, timeout: float) -> None:
    """Run ``SELECT 1``; raise :class:`DatabaseUnavailable` if it fails or takes over ``timeout`` s."""
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except TimeoutError:
        raise DatabaseUnavailable(
            f"database {engine.url.get_backend_name()} did not answer within {timeout:g}s"
        ) from None
    except (exc.SQLAlchemyError, OSError) as error:
        reason = getattr(error, "orig", None) or error
        backend = engine.url.get_backend_name()
        raise DatabaseUnavailable(
            f"database {backend} unavailable: {type(reason).__name__}: {_first_line(reason)}"
        ) from None


_WRITERS: dict[tuple[int, int], asyncio.Lock] = {}


def writing(sessions: async_sessionmaker) -> contextlib.AbstractAsyncContextManager[Any]:
    """Hold around a write transaction of the hot path (the order journal, the paper ledger).

    An SQLite file takes one writer at a time, and a connection that finds another one writing
    sleeps in SQLite's busy handler (1, 2, 5, 10 ... ms) before it tries again: concurrent orders
    lost milliseconds per collision. On SQLite this process's hot writers queue on one asyncio
    lock per engine instead (the next one starts the moment the last commits); on MySQL/MariaDB,
    row locks serialise only what conflicts, so nothing is held."""
    engine = sessions.kw.get("bind")
    if engine is None or engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    key = (id(engine), id(asyncio.get_running_loop()))
    lock = _WRITERS.get(key)
    if lock is None:
        if len(_WRITERS) > 256:  # engines of finished event loops (tests)
            _WRITERS.clear()
        lock = _WRITERS[key] = asyncio.Lock()
    return lock


RETRYABLE_MYSQL = frozenset({1213, 1205})  # deadlock found; lock wait timeout
TRANSACTION_ATTEMPTS = 5


def is_retryable(error: BaseException) -> bool:
    """A transaction the database aborted to break a deadlock (or a lock wait): run it again."""
    if not isinstance(error, exc.OperationalError):
        return False
    args = getattr(error.orig, "args", ())
    if args and args[0] in RETRYABLE_MYSQL:
        return True
    return "database is locked" in str(error.orig)


def retry_transaction(method: Any) -> Any:
    """Decorate an async method whose body is one whole transaction: when the database aborts
    it (deadlock, lock wait), nothing was committed, so it runs again, a few times, with a
    short jittered pause. Other errors pass through at once."""

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                return await method(*args, **kwargs)
            except exc.OperationalError as error:
                if attempt == TRANSACTION_ATTEMPTS or not is_retryable(error):
                    raise
                log.info("%s: transaction aborted by the database (%s), attempt %d", method.__qualname__,
                         _first_line(error.orig), attempt)
                await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
        raise AssertionError("unreachable")

    return wrapper


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else ""


def is_unique_violation(error: exc.IntegrityError) -> bool:
    """True when the driver says a UNIQUE or PRIMARY KEY constraint refused the row."""
    orig = error.orig
    args = getattr(orig, "args", ())
    if args and args[0] == 1062:  # MySQL/MariaDB ER_DUP_ENTRY
        return True
    message = str(orig)
    return message.startswith("UNIQUE constraint failed") or "Duplicate entry" in message


_SQLITE_WRITERS: weakref.WeakKeyDictionary[AsyncEngine, SqliteWriter] = weakref.WeakKeyDictionary()


def _sqlite_writer(engine: AsyncEngine) -> SqliteWriter | None:
    """The writer thread of a file-backed SQLite engine (made on first use, closed when the
    engine is disposed or collected); None for other databases and in-memory SQLite."""
    if engine.dialect.name != "sqlite":
        return None
    writer = _SQLITE_WRITERS.get(engine)
    if writer is None:
        database = engine.url.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        writer = _SQLITE_WRITERS[engine] = SqliteWriter(engine.url, _sqlite_on_connect)
        weakref.finalize(engine, writer.close)
        engines = weakref.ref(engine)

        def disposed(_sync_engine: Any) -> None:  # a disposed engine may be used again: a new writer then
            owner = engines()
            if owner is not None and _SQLITE_WRITERS.get(owner) is writer:
                del _SQLITE_WRITERS[owner]
            writer.close()

        event.listen(engine.sync_engine, "engine_disposed", disposed)
    return writer


async def transaction(sessions: async_sessionmaker, body: Callable[[Connection], T]) -> T:
    """Run ``body`` (synchronous, SQLAlchemy Core on a sync :class:`Connection`) as one committed
    transaction of the hot path, or roll it back if it raises.

    On a file-backed SQLite it runs in one call to the engine's writer thread (under
    :func:`writing`), committed together with the bodies that queued meanwhile
    (:mod:`storage.sqlite_writer`); elsewhere on the async engine through ``run_sync`` (MariaDB:
    each statement one round trip, as before). A deadlock or lock wait runs it again."""
    engine: AsyncEngine = sessions.kw["bind"]
    writer = _sqlite_writer(engine)
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            if writer is not None:
                return await writer.run(writing(sessions), body)
            async with engine.begin() as conn:
                return await conn.run_sync(body)
        except exc.OperationalError as error:
            if attempt == TRANSACTION_ATTEMPTS or not is_retryable(error):
                raise
            log.info("transaction aborted by the database (%s), attempt %d", _first_line(error.orig), attempt)
            await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
    raise AssertionError("unreachable")


# -- migrations -------------------------------------------------------------


def alembic_config() -> Config:
    """Alembic's config for the installed package (``storage/alembic.ini``)."""
    config = Config(str(_HERE / "alembic.ini"))
    config.set_main_option("script_location", str(_HERE / "migrations"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(engine_or_url: AsyncEngine | str, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (default: the newest).

    Raises :class:`DatabaseUnavailable` when the database does not answer.
    """
    await _run(engine_or_url, command.upgrade, revision)


async def downgrade(engine_or_url: AsyncEngine | str, revision: str = "base") -> None:
    """Take the schema down to ``revision`` (default: empty)."""
    await _run(engine_or_url, command.downgrade, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, ``None`` when never migrated."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def _run(engine_or_url: AsyncEngine | str, action: Any, revision: str) -> None:
    owned = isinstance(engine_or_url, str)
    engine = _engine_for_url(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        await ping(engine, MIGRATION_CONNECT_TIMEOUT_S)  # a clear DatabaseUnavailable, not a traceback
        config = alembic_config()
        async with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # SQLite alters a table by copying it (Alembic's batch mode) and dropping the old one;
                # with foreign keys on, that drop deletes every row that references it on cascade
                # (an order's fills, a swing's events). Off for the migration (a no-op inside a
                # transaction, so first), checked after, and on again for the pooled connection.
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                await conn.commit()
            try:
                async with conn.begin():
                    await conn.run_sync(_in_sync, config, action, revision)
                if sqlite:
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    await conn.commit()
                    if broken:
                        raise RuntimeError(f"the migration left rows whose references are gone: {broken[:5]}")
            finally:
                if sqlite:
                    await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    await conn.commit()
        log.info("database %s: %s to %s", describe(engine), action.__name__, revision)
    finally:
        if owned:
            await engine.dispose()


def _in_sync(connection: Connection, config: Config, action: Any, revision: str) -> None:
    config.attributes["connection"] = connection
    action(config, revision)
