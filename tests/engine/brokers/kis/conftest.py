"""A KIS simulator on 127.0.0.1 (real sockets, a free port) for the adapter's tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.engine.brokers.kis.helpers import running_simulator


@pytest.fixture
def start_simulator() -> Callable[..., object]:
    return running_simulator
