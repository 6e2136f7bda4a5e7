"""The application factory.

``create_app(settings)`` wires the pieces; resources are opened and closed in
``cleanup_ctx`` in order (keys and database, then the actor system), and
closed in reverse. Nothing here is global: tests build as many apps as they
like, each with its own database, clock and actor system.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from engine.runtime import ActorSystem, ChildSpec, Clock, Supervisor, WallClock
from engine.settings import Settings
from storage import Crypto, PasswordHasher, create_engine, create_session_factory, describe, ensure_keys, upgrade
from web import accounts, admin, health, users
from web.keys import CLOCK, CRYPTO, DB_ENGINE, HASHER, LOGIN_THROTTLE, SESSIONS, SETTINGS, SYSTEM
from web.throttle import LoginThrottle
from web.middlewares import errors, request_context

log = logging.getLogger(__name__)

GROUPS = ("/feeds", "/strategies", "/swings", "/accounts", "/sessions")


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    app = web.Application(
        middlewares=[request_context, errors],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock or WallClock()
    app[HASHER] = PasswordHasher(settings.bcrypt_cost, settings.bcrypt_concurrency)
    app[LOGIN_THROTTLE] = LoginThrottle(app[CLOCK], settings.login_max_failures, settings.login_lockout_s)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_actors)
    health.add_routes(app)
    admin.add_routes(app)
    users.add_routes(app)
    accounts.add_routes(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    settings = await loop.run_in_executor(None, ensure_keys, app[SETTINGS])
    app[SETTINGS] = settings
    app[CRYPTO] = Crypto.from_settings(settings)
    engine = create_engine(settings)
    await upgrade(engine)
    log.info("database ready at %s", describe(engine))
    app[DB_ENGINE] = engine
    app[SESSIONS] = create_session_factory(engine)
    try:
        yield
    finally:
        await engine.dispose()


async def _actors(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    spec = ChildSpec(
        max_restarts=settings.restart_max,
        within_s=settings.restart_window_s,
        backoff_base_s=settings.restart_backoff_base_s,
        backoff_max_s=settings.restart_backoff_max_s,
    )
    system = ActorSystem(clock=app[CLOCK], default_spec=spec)
    for path in GROUPS:
        system.spawn(path, Supervisor, ChildSpec(restart="permanent"))
    app[SYSTEM] = system
    try:
        yield
    finally:
        await system.shutdown(settings.shutdown_deadline_s)
