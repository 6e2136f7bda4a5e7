"""Operators' views: the actor tree."""

from __future__ import annotations

import msgspec
from aiohttp import web

from web.auth import require_admin
from web.bodies import respond
from web.keys import SYSTEM
from web.openapi import route
from web.schemas import ActorRow, ActorTree, DeadLetterRow


async def actors(request: web.Request) -> web.Response:
    await require_admin(request)
    system = request.app[SYSTEM]
    rows = [msgspec.convert(row, ActorRow) for row in system.snapshot()]
    letters = [msgspec.convert(msgspec.to_builtins(d), DeadLetterRow) for d in system.recent_dead_letters]
    return respond(ActorTree(totals=system.totals(), actors=rows, dead_letters=letters))


def add_routes(app: web.Application) -> None:
    route(app, "GET", "/admin/actors", actors, summary="the actor tree with mailbox figures (admin)",
          tag="admin", responses={200: ActorTree}, errors=(403,))
