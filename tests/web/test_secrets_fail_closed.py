"""Secrets fail closed: a lost keys.json stops the start, `keys check` and `keys rotate` say and do
what they claim, files are private, and DEBUG logs carry no email or password hash."""

from __future__ import annotations

import json
import logging
import os
import stat

import msgspec
import pytest
from aiohttp import web
from cryptography.fernet import Fernet

from storage import AccountRepo, Crypto, UserRepo, create_engine, create_session_factory
from web import logs
from web.app import create_app
from web.cli import main
from web.server import serve


async def _account(session_factory, data_keys, hash_key, number="50123456-01", email="kim@example.com"):
    async with session_factory.begin() as session:
        user = await UserRepo(session).get_by_email(email) or await UserRepo(session).create(email, "hash")
        account = await AccountRepo(session, Crypto(data_keys, hash_key)).create(
            user.id, broker="paper", account_number=number, app_key="KEY-1234", app_secret="SECRET-5678",
            paper_initial_cash=1)
    return account.id


async def _start(settings) -> None:
    runner = web.AppRunner(create_app(settings))
    try:
        await runner.setup()
    finally:
        await runner.cleanup()


def _plain(settings, tmp_path):
    """The embedded default's keys: nothing in settings, everything from <data_dir>/keys.json."""
    return msgspec.structs.replace(settings, data_dir=str(tmp_path / "plain"), jwt_secret="", data_keys="",
                                   hash_key="")


async def test_a_deleted_keys_file_with_encrypted_rows_refuses_to_start(db_settings, session_factory, tmp_path,
                                                                        capsys):
    plain = _plain(db_settings, tmp_path)
    await _start(plain)  # first start: keys generated into keys.json
    stored = json.loads((tmp_path / "plain" / "keys.json").read_text())
    await _account(session_factory, stored["data_key"], stored["hash_key"])
    await _start(plain)  # the same keys: starts
    (tmp_path / "plain" / "keys.json").unlink()
    assert await serve(plain) == 2
    err = capsys.readouterr().err
    assert "refusing to start" in err and "keys.json" in err and "none of the configured data keys" in err
    (tmp_path / "plain" / "keys.json").write_text("{}")  # emptied: the same
    assert await serve(plain) == 2


async def test_a_changed_hash_key_refuses_to_start(db_settings, session_factory):
    await _account(session_factory, db_settings.data_keys, db_settings.hash_key)
    with pytest.raises(Exception, match="AUTOTRADER_HASH_KEY does not match"):
        await _start(msgspec.structs.replace(db_settings, hash_key="another-hash-key"))


def _env(monkeypatch, settings, **extra):
    monkeypatch.setenv("AUTOTRADER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("AUTOTRADER_DATA_DIR", settings.data_dir)
    for name in ("AUTOTRADER_JWT_SECRET", "AUTOTRADER_HASH_KEY", "AUTOTRADER_DATA_KEYS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in extra.items():
        monkeypatch.setenv(f"AUTOTRADER_{name.upper()}", value)


async def test_keys_check_says_which_rows_open_under_which_key(db_settings, session_factory, monkeypatch, capsys):
    old, new, lost = (Fernet.generate_key().decode() for _ in range(3))
    a = await _account(session_factory, old, db_settings.hash_key, "50000001-01")
    b = await _account(session_factory, new, db_settings.hash_key, "50000002-01")
    c = await _account(session_factory, lost, db_settings.hash_key, "50000003-01")
    _env(monkeypatch, db_settings, data_keys=f"{new},{old}", hash_key=db_settings.hash_key)
    assert await _in_thread(main, ["keys", "check"]) == 1
    out = capsys.readouterr().out
    assert f"account {a}: decrypts under key #2; hash key matches" in out
    assert f"account {b}: decrypts under key #1; hash key matches" in out
    assert f"account {c}: does NOT decrypt under any configured data key" in out
    assert "3 account rows: 2 open under the configured keys, 1 do not" in out


async def _in_thread(func, *args):
    import asyncio

    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


async def test_keys_rotate_updates_the_key_file_and_refuses_a_rotation_that_changes_nothing(
        db_settings, session_factory, monkeypatch, tmp_path, capsys):
    plain = _plain(db_settings, tmp_path)
    await _start(plain)
    keys_file = tmp_path / "plain" / "keys.json"
    old = json.loads(keys_file.read_text())
    account_id = await _account(session_factory, old["data_key"], old["hash_key"])
    _env(monkeypatch, plain)
    assert await _in_thread(main, ["keys", "rotate"]) == 1  # no new key: nothing to do, and it says so
    assert "nothing to rotate" in capsys.readouterr().err
    assert await _in_thread(main, ["keys", "rotate", "--generate"]) == 0
    now = json.loads(keys_file.read_text())
    first, second = now["data_key"].split(",")
    assert second == old["data_key"] and first != old["data_key"] and now["hash_key"] == old["hash_key"]
    assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600
    async with session_factory() as session:
        creds = await AccountRepo(session, Crypto(first, old["hash_key"])).credentials(account_id)
    assert creds.app_secret == "SECRET-5678"
    await _start(plain)  # the next plain start opens every row
    assert await _in_thread(main, ["keys", "rotate"]) == 1  # again: nothing left to change


async def test_keys_rotate_with_new_keys_in_the_environment_writes_them_into_the_key_file(
        db_settings, session_factory, monkeypatch, tmp_path):
    plain = _plain(db_settings, tmp_path)
    await _start(plain)
    keys_file = tmp_path / "plain" / "keys.json"
    old = json.loads(keys_file.read_text())
    await _account(session_factory, old["data_key"], old["hash_key"])
    new = Fernet.generate_key().decode()
    _env(monkeypatch, plain, data_keys=f"{new},{old['data_key']}")
    assert await _in_thread(main, ["keys", "rotate", "--generate"]) == 2  # the keys live in the environment
    assert await _in_thread(main, ["keys", "rotate"]) == 0
    assert json.loads(keys_file.read_text())["data_key"] == f"{new},{old['data_key']}"
    await _start(plain)  # a plain start (no AUTOTRADER_DATA_KEYS) still opens the rotated rows


async def test_the_data_folder_and_sqlite_file_are_private(tmp_path):
    folder = tmp_path / "fresh" / "data"
    engine = create_engine(msgspec.structs.replace(_plain_settings(), database_url=f"sqlite+aiosqlite:///{folder}/a.db"))
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    await engine.dispose()
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    for name in os.listdir(folder):
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600, name


def _plain_settings():
    from engine.settings import Settings

    return Settings()


async def test_debug_logs_carry_no_email_and_no_password_hash(aiohttp_client, app_settings, engine, capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("DEBUG")
    try:
        client = await aiohttp_client(create_app(app_settings))
        body = {"email": "secret.kim@example.com", "password": "s3cret-pass"}
        assert (await client.post("/users/register", json=body)).status == 201
        assert (await client.post("/users/login", json=body)).status == 200
        assert (await client.post("/users/login", json={**body, "password": "wrong-pass1"})).status == 401
        async with create_session_factory(engine)() as session:
            user = await UserRepo(session).get_by_email(body["email"])
        logging.getLogger("probe").debug("user %s has %s", user.email, user.password_hash)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    err = capsys.readouterr().err
    assert "DEBUG" in err and "<email>" in err
    assert "secret.kim" not in err and "$2b$" not in err and user.password_hash not in err
