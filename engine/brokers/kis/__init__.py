"""The KIS Open API: market-data source, REST access, frame parser, and the local simulator.

Other packages import from here only.
"""

from engine.brokers.kis.auth import KisAuth
from engine.brokers.kis.broker import KisAccount, KisBroker
from engine.brokers.kis.errors import (
    BackfillError,
    FrameError,
    KisApiError,
    KisError,
    KisRateLimited,
    KisSubscriptionError,
    KisTokenError,
    KisTransportError,
)
from engine.brokers.kis.frames import (
    FillNotice,
    decrypt,
    parse_fill_notices,
    parse_quotes,
    parse_ticks,
    split_frame,
)
from engine.brokers.kis.rest import KisRest
from engine.brokers.kis.simulator import SIMULATOR, KisSimulator, SimulatorConfig, create_simulator_app
from engine.brokers.kis.source import KisMarketData
from engine.brokers.kis.throttle import Throttle

__all__ = [
    "SIMULATOR",
    "BackfillError",
    "FillNotice",
    "FrameError",
    "KisApiError",
    "KisAccount",
    "KisAuth",
    "KisBroker",
    "KisError",
    "KisMarketData",
    "KisRateLimited",
    "KisRest",
    "KisSimulator",
    "KisSubscriptionError",
    "KisTokenError",
    "KisTransportError",
    "SimulatorConfig",
    "Throttle",
    "create_simulator_app",
    "decrypt",
    "parse_fill_notices",
    "parse_quotes",
    "parse_ticks",
    "split_frame",
]
