"""`autotrader keys rotate` moves the stored KIS tokens to the new first data key; `keys check` lists them.

Without the rotation, a token stored under the old key stops opening once the old key
is dropped, and the next start spends the app key's one-a-minute issuance (and sends
the user a KakaoTalk notice) for nothing.
"""

import asyncio
import time

from cryptography.fernet import Fernet
from sqlalchemy import delete

from engine.brokers.kis.auth import StoredToken
from engine.settings import Settings
from storage import Crypto, SqlTokenStore, create_engine, create_session_factory
from storage.kis_tokens import KisTokenRow
from storage.models import Account as AccountRow
from web.cli import main

HOST, APP_KEY = "https://openapi.koreainvestment.com:9443", "PSapp-key-0001"


def _env(monkeypatch, settings: Settings, data_keys: str) -> None:
    for name, value in (("DATABASE_URL", settings.database_url), ("DATA_DIR", settings.data_dir),
                        ("JWT_SECRET", settings.jwt_secret), ("HASH_KEY", settings.hash_key),
                        ("DATA_KEYS", data_keys)):
        monkeypatch.setenv(f"AUTOTRADER_{name}", value)


async def _db(settings: Settings, work):
    engine = create_engine(settings)
    try:
        return await work(create_session_factory(engine))
    finally:
        await engine.dispose()


def _store(settings: Settings, data_keys: str, work):
    async def run(sessions):
        return await work(SqlTokenStore(sessions, Crypto(data_keys, settings.hash_key)))
    return asyncio.run(_db(settings, run))


def test_rotate_reencrypts_stored_tokens_and_check_lists_them(db_settings, monkeypatch, capsys):
    old_key, new_key = db_settings.data_keys, Fernet.generate_key().decode()
    now_ms = int(time.time() * 1000)
    token = StoredToken("tok-abc", now_ms + 20 * 3_600_000, now_ms - 60_000)

    async def empty(sessions):  # other tests' rows may be under other keys: rotate and check only ours
        async with sessions.begin() as s:
            await s.execute(delete(KisTokenRow))
            await s.execute(delete(AccountRow))

    asyncio.run(_db(db_settings, empty))
    _store(db_settings, old_key, lambda store: store.save(HOST, APP_KEY, token))
    assert _store(db_settings, new_key, lambda store: store.load(HOST, APP_KEY)) is None  # the new key alone: lost

    _env(monkeypatch, db_settings, f"{new_key},{old_key}")
    assert main(["keys", "check"]) == 0
    out = capsys.readouterr().out
    assert "decrypts under key #2" in out and "1 stored KIS tokens: 1 open under the configured keys, 0 do not" in out
    assert "tok-abc" not in out and APP_KEY not in out

    assert main(["keys", "rotate"]) == 0  # the accounts are already under the first key; the token is not
    assert "re-encrypted 1 stored KIS tokens" in capsys.readouterr().out
    assert _store(db_settings, new_key, lambda store: store.load(HOST, APP_KEY)) == token  # old key droppable

    assert main(["keys", "check"]) == 0
    assert "decrypts under key #1" in capsys.readouterr().out
    assert main(["keys", "rotate"]) == 1  # nothing left to move
    capsys.readouterr()

    _env(monkeypatch, db_settings, Fernet.generate_key().decode())  # keys.json lost: the token cannot open
    assert main(["keys", "check"]) == 0  # a token is not a secret the server needs: it is re-issued
    out = capsys.readouterr().out
    assert "does NOT decrypt under any configured data key (a new token will be issued)" in out
    assert "1 stored KIS tokens: 0 open under the configured keys, 1 do not" in out
