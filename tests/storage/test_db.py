"""The engine: per-dialect connection set-up and a readiness ping that never hangs."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from sqlalchemy import text

from engine.settings import Settings
from storage.db import create_engine, ping, upgrade
from storage.errors import DatabaseUnavailable
from storage.models import User as UserRow
from storage.users import UserRepo


async def test_ping_answers(engine) -> None:
    await ping(engine, timeout=5)


async def test_session_factory_keeps_objects_readable(session_factory) -> None:
    async with session_factory.begin() as session:
        user = await UserRepo(session).create("expire@example.com", "h")
        row = await session.get(UserRow, user.id)
    assert row.email == "expire@example.com"  # read after commit, no lazy reload


async def test_sqlite_creates_the_data_folder_and_sets_pragmas(tmp_path) -> None:
    settings = Settings(data_dir=str(tmp_path / "new" / "data"))
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
    finally:
        await engine.dispose()
    assert (tmp_path / "new" / "data" / "autotrader.db").exists()


async def test_mariadb_connections_speak_utf8mb4(engine, db_kind) -> None:
    if db_kind != "mariadb":
        assert engine.dialect.name == "sqlite"
        return
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT @@character_set_connection"))).scalar() == "utf8mb4"
    assert engine.pool._pre_ping is True


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_ping_fails_fast_on_a_closed_port() -> None:
    engine = create_engine(Settings(database_url=f"mysql+aiomysql://root:pw@127.0.0.1:{_closed_port()}/x"))
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            await ping(engine, timeout=5)
    finally:
        await engine.dispose()
    assert time.monotonic() - started < 2
    assert "unavailable" in str(caught.value)
    assert "pw" not in str(caught.value)


async def test_ping_times_out_on_a_server_that_never_answers() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept the connection, never send MySQL's greeting
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = create_engine(Settings(database_url=f"mysql+aiomysql://root@127.0.0.1:{port}/x"))
    try:
        with pytest.raises(DatabaseUnavailable, match="did not answer within 0.3s"):
            await ping(engine, timeout=0.3)
    finally:
        await engine.dispose()
        server.close()
        await server.wait_closed()


async def test_upgrade_against_a_closed_port_is_a_clear_error() -> None:
    with pytest.raises(DatabaseUnavailable, match="unavailable"):
        await upgrade(f"mysql+aiomysql://root@127.0.0.1:{_closed_port()}/x")
