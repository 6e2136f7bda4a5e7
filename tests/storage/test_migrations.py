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
