"""After registering an account, no row of any table and no database file holds a secret."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from storage.accounts import AccountRepo
from storage.crypto import Crypto
from storage.users import UserRepo

NUMBER = "73190042-01"
APP_KEY = "PSk7QzAPPKEYplaintextVALUE4821"
APP_SECRET = "SECRETplaintextVALUE/" + "x" * 40


async def test_no_plaintext_in_any_row_or_file(session_factory, engine, db_settings, db_kind) -> None:
    crypto = Crypto.from_settings(db_settings)
    async with session_factory.begin() as session:
        user = await UserRepo(session).create("plain@example.com", "h")
        await AccountRepo(session, crypto).create(
            user.id, broker="kis", account_number=NUMBER, app_key=APP_KEY, app_secret=APP_SECRET,
            paper_initial_cash=0, hts_id="hts",
        )

    dump: list[str] = []
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert {"users", "accounts", "alembic_version"} <= set(names)
        quote = conn.dialect.identifier_preparer.quote
        for name in names:
            rows = (await conn.execute(text(f"SELECT * FROM {quote(name)}"))).all()
            dump.extend(f"{name}: {tuple(row)!r}" for row in rows)
    everything = "\n".join(dump)
    assert "hts" in everything  # the dump really holds the account row
    for plaintext in (NUMBER, NUMBER.replace("-", ""), APP_KEY, APP_SECRET, "plaintext"):
        assert plaintext not in everything

    if db_kind == "sqlite":
        async with engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(FULL)"))
        db_file = Path(engine.url.database)
        for path in db_file.parent.glob(db_file.name + "*"):
            data = path.read_bytes()
            for plaintext in (NUMBER, NUMBER.replace("-", ""), APP_KEY, APP_SECRET):
                assert plaintext.encode() not in data, path

