"""The runtime tests' fixtures: a manual clock and an actor system on it, shut down after the test
(test_mailbox.py overrides ``system`` with one on the wall clock)."""

import pytest

from engine.runtime import ActorSystem, ManualClock


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
async def system(clock):
    system = ActorSystem(clock=clock)
    yield system
    await system.shutdown(1)
