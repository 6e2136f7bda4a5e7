"""Fixtures of the integration tests (the helpers they use are in ``helpers.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import create_async_engine

from storage.models import Base
from tests.integration.helpers import Proc, start


@pytest.fixture
async def db_url(db_url: str) -> str:
    """The leg's database with every row of earlier tests deleted: each server here generates keys
    of its own, and rows encrypted under another test's keys (rightly) stop it from starting."""
    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(delete(table))
    await engine.dispose()
    return db_url


@pytest.fixture
async def kis_sim() -> AsyncIterator[Proc]:
    sim = await start(["kis-sim", "--host", "127.0.0.1", "--port", "0", "--rate", "20"], {},
                      r"kis-sim listening on (http://\S+)")
    yield sim
    await sim.terminate()
