"""``GET /health`` (the process answers) and ``GET /ready`` (it can serve)."""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web
from sqlalchemy import exc as sa_exc

from storage import DatabaseUnavailable, ping
from web.bodies import respond
from web.keys import DB_ENGINE, LEASE, SYSTEM
from web.middlewares import error_response
from web.openapi import route
from web.trading import RECONCILE
from web.schemas import Health, Ready

READY_DB_TIMEOUT_S = 2.0

try:
    VERSION = version("autotrader")
except PackageNotFoundError:  # running from a source tree that is not installed
    VERSION = "0+unknown"


async def health(request: web.Request) -> web.Response:
    return respond(Health(status="ok", version=VERSION))


async def ready(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    failing: dict[str, str] = {}
    try:
        await ping(request.app[DB_ENGINE], READY_DB_TIMEOUT_S)
        checks["database"] = "ok"
    except DatabaseUnavailable as exc:
        failing["database"] = str(exc)
    else:
        await _check_write(request.app, checks, failing)
    system = request.app[SYSTEM]
    if system.running:
        checks["actors"] = "ok"
    else:
        failing["actors"] = "the actor system is shutting down"
    reconciliation = request.app.get(RECONCILE)
    if reconciliation is not None and reconciliation.waiting:  # serving; these accounts' orders wait (503)
        checks["accounts"] = "waiting for their broker: " + "; ".join(
            f"{account_id} ({reason})" for account_id, reason in sorted(reconciliation.waiting.items()))
        waiting = sorted(reconciliation.waiting)
    else:
        checks["accounts"] = "ok"
        waiting = []
    if failing:
        names = ", ".join(sorted(failing))
        return error_response(503, "not_ready", f"not ready: {names}", failing)
    return respond(Ready(status="ready", checks=checks, waiting_accounts=waiting))


async def _check_write(app: web.Application, checks: dict[str, str], failing: dict[str, str]) -> None:
    """A real write: renew this server's lease (which also proves it still holds it)."""
    try:
        async with asyncio.timeout(READY_DB_TIMEOUT_S):
            held = await app[LEASE].heartbeat()
    except TimeoutError:
        failing["database_write"] = f"a write did not finish within {READY_DB_TIMEOUT_S:g}s"
        return
    except (sa_exc.SQLAlchemyError, OSError) as exc:
        reason = getattr(exc, "orig", None) or exc
        failing["database_write"] = f"writes fail: {type(reason).__name__}"
        return
    if held:
        checks["database_write"] = "ok"
        checks["lease"] = "ok"
    else:
        failing["lease"] = "another process holds this database's lease"


def add_routes(app: web.Application) -> None:
    route(app, "GET", "/health", health, summary="the process answers", tag="ops", auth=False,
          responses={200: Health})
    route(app, "GET", "/ready", ready, summary="the database answers and takes a write, this server holds its lease, the actor system runs", tag="ops",
          auth=False, responses={200: Ready}, errors=(503,))
