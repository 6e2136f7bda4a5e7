"""The `autotrader` command's database subcommands, on both databases."""

import asyncio
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import delete

from engine.settings import Settings
from storage import AccountRepo, Crypto, UserRepo, create_engine, create_session_factory
from storage.models import Account as AccountRow
from web.cli import build_parser, main


def _env(monkeypatch, settings: Settings, data_keys: str | None = None) -> None:
    monkeypatch.setenv("AUTOTRADER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("AUTOTRADER_DATA_DIR", settings.data_dir)
    monkeypatch.setenv("AUTOTRADER_JWT_SECRET", settings.jwt_secret)
    monkeypatch.setenv("AUTOTRADER_HASH_KEY", settings.hash_key)
    monkeypatch.setenv("AUTOTRADER_DATA_KEYS", data_keys or settings.data_keys)


async def _db(settings: Settings, work):
    engine = create_engine(settings)
    try:
        return await work(create_session_factory(engine))
    finally:
        await engine.dispose()


def test_users_promote_makes_an_admin(db_settings, monkeypatch, capsys):
    email = f"u{secrets.token_hex(4)}@example.com"

    async def create(sessions):
        async with sessions.begin() as s:
            await UserRepo(s).create(email, "hash")

    async def role(sessions):
        async with sessions() as s:
            return (await UserRepo(s).get_by_email(email)).role

    asyncio.run(_db(db_settings, create))
    _env(monkeypatch, db_settings)
    assert main(["users", "promote", email]) == 0
    assert asyncio.run(_db(db_settings, role)) == "admin"
    assert main(["users", "promote", "ghost@example.com"]) == 1
    assert "no user" in capsys.readouterr().err


def test_keys_rotate_reencrypts_under_the_new_first_key(db_settings, monkeypatch):
    old_key = db_settings.data_keys
    new_key = Fernet.generate_key().decode()
    email = f"u{secrets.token_hex(4)}@example.com"

    async def create(sessions):
        async with sessions.begin() as s:
            user = await UserRepo(s).create(email, "hash")
            account = await AccountRepo(s, Crypto(old_key, db_settings.hash_key)).create(
                user.id, broker="paper", account_number="50123456-01", app_key="KEY-1234",
                app_secret="SECRET-5678", paper_initial_cash=1)
            return account.id

    async def empty(sessions):  # other tests' rows may be under other keys: rotate only ours
        async with sessions.begin() as s:
            await s.execute(delete(AccountRow))

    asyncio.run(_db(db_settings, empty))
    account_id = asyncio.run(_db(db_settings, create))
    _env(monkeypatch, db_settings, data_keys=f"{new_key},{old_key}")
    assert main(["keys", "rotate"]) == 0

    async def read_with_new_only(sessions):
        async with sessions() as s:
            return await AccountRepo(s, Crypto(new_key, db_settings.hash_key)).credentials(account_id)

    creds = asyncio.run(_db(db_settings, read_with_new_only))
    assert creds.app_secret == "SECRET-5678" and creds.account_number == "5012345601"


def test_help_lists_only_working_commands():
    text = build_parser().format_help()
    for command in ("serve", "db", "users", "keys"):
        assert command in text


def test_a_bad_setting_stops_with_its_name(monkeypatch, capsys):
    monkeypatch.setenv("AUTOTRADER_PORT", "eighty")
    with pytest.raises(SystemExit) as exit_info:
        main(["db", "upgrade"])
    assert exit_info.value.code == 2
    assert "AUTOTRADER_PORT" in capsys.readouterr().err


def test_help_imports_nothing_heavy():
    """`autotrader --help` loads no pandas, scipy, aiohttp or benchmarks (it started in 2.1 s with them)."""
    code = ("import sys\nfrom web.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('pandas', 'scipy', 'aiohttp', 'benchmarks', 'asyncio', 'sqlalchemy')"
            " if m in sys.modules]\nprint(','.join(heavy), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert "COMMAND" in out.stdout and "backtest" in out.stdout and "loadtest" in out.stdout
    assert out.stderr.strip() == ""


def test_a_heavy_subcommand_still_has_its_options():
    args = build_parser(["backtest", "--csv", "x.csv"]).parse_args(["backtest", "--csv", "x.csv", "--cash", "5"])
    assert args.cash == 5 and args.csv == "x.csv"
