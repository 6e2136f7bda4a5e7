"""Typed keys of what the application holds (aiohttp ``web.AppKey``)."""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from actors.feed_hub import FeedRouter
from engine.brokers.base import MarketDataSource
from engine.runtime import ActorSystem, Clock
from engine.settings import Settings
from storage import Crypto, LeaseKeeper, PasswordHasher
from web.throttle import AddressLimit, LoginThrottle

if TYPE_CHECKING:
    from web.metrics import Metrics

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")  # a Protocol: annotated, not passed as a class
DB_ENGINE = web.AppKey("db_engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker)
SYSTEM = web.AppKey("system", ActorSystem)
CRYPTO = web.AppKey("crypto", Crypto)
HASHER = web.AppKey("hasher", PasswordHasher)
LOGIN_THROTTLE = web.AppKey("login_throttle", LoginThrottle)
REGISTER_LIMIT = web.AppKey("register_limit", AddressLimit)
WEBSOCKETS = web.AppKey("websockets", weakref.WeakSet)
ROUTER = web.AppKey("router", FeedRouter)
SOURCE: web.AppKey[MarketDataSource] = web.AppKey("source")  # sim, replay or kis
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
SHUTDOWN = web.AppKey("shutdown", asyncio.Event)  # set it to stop the server (serve waits on it)
LEASE = web.AppKey("lease", LeaseKeeper)
CLUSTER = web.AppKey("cluster", object)  # web.cluster.Cluster, in cluster mode only
