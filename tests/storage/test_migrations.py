"""Migrations: empty → head → base on each database, and the models match the migrations."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from engine.settings import Settings
from storage.db import create_engine, current_revision, downgrade, head_revision, upgrade
from storage.models import Base

TABLES = {"users", "accounts", "bars"}


async def _tables(engine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_empty_to_head_to_base(empty_db_url: str) -> None:
    engine = create_engine(Settings(database_url=empty_db_url))
    try:
        assert await current_revision(engine) is None
        assert not (await _tables(engine)) & TABLES

        await upgrade(engine)
        head = head_revision()
        assert head is not None and await current_revision(engine) == head
        assert TABLES <= await _tables(engine)

        await upgrade(engine)  # idempotent at head
        assert await current_revision(engine) == head

        await downgrade(engine, "base")
        assert await current_revision(engine) is None
        assert not (await _tables(engine)) & TABLES

        await upgrade(empty_db_url)  # also from a URL, with an engine of its own
        assert await current_revision(engine) == head
    finally:
        await engine.dispose()


async def test_models_match_migrations(engine) -> None:
    def compare(sync) -> list:
        return compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata)

    async with engine.connect() as conn:
        diff = await conn.run_sync(compare)
    assert diff == []


async def test_constraint_names_follow_the_convention(engine) -> None:
    async with engine.connect() as conn:
        uniques = await conn.run_sync(lambda sync: inspect(sync).get_unique_constraints("accounts"))
        fks = await conn.run_sync(lambda sync: inspect(sync).get_foreign_keys("accounts"))
    assert {u["name"] for u in uniques} == {"uq_accounts_user_id_account_number_hash"}
    assert [fk["name"] for fk in fks] == ["fk_accounts_user_id_users"]


async def test_0012c_gives_a_swing_halted_before_it_the_reason_of_its_latest_halted_event(empty_db_url: str) -> None:
    from sqlalchemy import insert, text

    from storage import AccountRepo, Crypto, UserRepo
    from storage.db import create_session_factory
    from storage.swing_models import SwingEventRow, SwingRow
    from tests.helpers import TEST_DATA_KEY

    settings = Settings(database_url=empty_db_url, data_keys=TEST_DATA_KEY, hash_key="migration-test-hash-key")
    engine = create_engine(settings)
    try:
        await upgrade(engine, "0011b")  # the rows as they were before the column
        sessions = create_session_factory(engine)
        async with sessions.begin() as session:
            user = await UserRepo(session).create("old@example.com", "not-a-real-hash")
            account = await AccountRepo(session, Crypto.from_settings(settings)).create(
                user.id, broker="paper", account_number="50123456-01", app_key="k", app_secret="s",
                paper_initial_cash=1_000_000)
            ids = []
            for status in ("halted", "active"):
                result = await session.execute(insert(SwingRow.__table__).values(
                    user_id=user.id, account_id=account.id, stock_code="005930", params="{}", status=status,
                    signal_state=0, shares=0, avg_cost=0, stage2_shares=0, realized_pnl=0, order_seq=0))
                ids.append(result.inserted_primary_key[0])
                for why in ("the first halt", "the latest halt"):
                    await session.execute(insert(SwingEventRow.__table__).values(
                        swing_id=ids[-1], kind="halted", action="hold", signal_before=0, signal_after=0,
                        reason=why, indicators="{}"))
        await upgrade(engine)
        async with sessions() as session:
            rows = dict((await session.execute(text("SELECT id, halted_reason FROM swings"))).all())
        assert rows == {ids[0]: "the latest halt", ids[1]: None}  # a running swing's stays null
        await downgrade(engine, "0011b")  # a copy of `swings` on SQLite: its drop must not take the events
        async with sessions() as session:
            assert await session.scalar(text("SELECT count(*) FROM swing_events")) == 4
        # 0011b's downgrade copies `swings` on SQLite (batch mode): its drop must not take the events
        await downgrade(engine, "0010")
        await upgrade(engine)
        async with sessions() as session:
            assert await session.scalar(text("SELECT count(*) FROM swing_events")) == 4
            if engine.dialect.name == "sqlite":  # on again for the pooled connections
                assert await session.scalar(text("PRAGMA foreign_keys")) == 1
    finally:
        await engine.dispose()
