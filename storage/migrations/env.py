"""Alembic environment: runs migrations through the async engine.

The application calls :func:`storage.db.upgrade`, which opens a connection on
its async engine and hands the sync side to Alembic in
``config.attributes["connection"]``. Run from the ``alembic`` CLI instead, this
file builds its own engine from the ``AUTOTRADER_*`` settings. It never touches
logging configuration: the application owns it.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from storage.models import Base

config = context.config
target_metadata = Base.metadata


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_cli() -> None:
    from engine.settings import load_settings
    from storage.db import create_engine

    engine = create_engine(load_settings())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")

shared = config.attributes.get("connection")
if shared is not None:
    do_run_migrations(shared)
else:
    asyncio.run(run_from_cli())
