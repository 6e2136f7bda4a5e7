"""Operators' views: the actor tree."""

from __future__ import annotations

import msgspec
from aiohttp import web

from web.auth import require_admin
from web.bodies import respond
from web.keys import SYSTEM
from web.schemas import ActorRow, ActorTree


async def actors(request: web.Request) -> web.Response:
    await require_admin(request)
    system = request.app[SYSTEM]
    rows = [msgspec.convert(row, ActorRow) for row in system.snapshot()]
    return respond(ActorTree(totals=system.totals(), actors=rows))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/actors", actors)
