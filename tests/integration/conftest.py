"""Fixtures of the integration tests (the helpers they use are in ``helpers.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.helpers import Proc, start


@pytest.fixture
async def kis_sim() -> AsyncIterator[Proc]:
    sim = await start(["kis-sim", "--host", "127.0.0.1", "--port", "0", "--rate", "20"], {},
                      r"kis-sim listening on (http://\S+)")
    yield sim
    await sim.terminate()
