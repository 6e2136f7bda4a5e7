"""The replay's controls (admin): where market time stands, pause and resume.

Only in replay mode (``AUTOTRADER_MARKET_DATA=replay``, the clock on market
time); otherwise every route answers 404.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from aiohttp import web

from engine.market.krx import to_kst
from engine.runtime.replay_clock import ReplayClock
from web.auth import require_admin
from web.bodies import respond
from web.errors import NotFoundError
from web.keys import CLOCK, SOURCE
from web.openapi import route


class ReplayStatus(msgspec.Struct, frozen=True):
    state: Literal["paused", "running", "finished"]
    market_time: str  # ISO-8601 KST
    progress: float  # 0..1 of the replayed period


def _clock(request: web.Request) -> ReplayClock:
    clock = request.app[CLOCK]
    if not isinstance(clock, ReplayClock):
        raise NotFoundError("not running a replay (AUTOTRADER_MARKET_DATA=replay)")
    return clock


def _status(request: web.Request, clock: ReplayClock) -> ReplayStatus:
    progress = getattr(request.app[SOURCE], "progress", None)
    return ReplayStatus(clock.state, to_kst(clock.now_ms()).isoformat(),
                        round(progress(), 6) if progress is not None else 0.0)


async def status(request: web.Request) -> web.Response:
    await require_admin(request)
    return respond(_status(request, _clock(request)))


async def resume(request: web.Request) -> web.Response:
    await require_admin(request)
    clock = _clock(request)
    clock.resume()
    return respond(_status(request, clock))


async def pause(request: web.Request) -> web.Response:
    await require_admin(request)
    clock = _clock(request)
    clock.pause()
    return respond(_status(request, clock))


def add_routes(app: web.Application) -> None:
    route(app, "GET", "/admin/replay", status, summary="the replay's state and market time (admin)",
          tag="admin", responses={200: ReplayStatus}, errors=(403, 404))
    route(app, "POST", "/admin/replay/resume", resume, summary="resume the replay (admin)",
          tag="admin", responses={200: ReplayStatus}, errors=(403, 404))
    route(app, "POST", "/admin/replay/pause", pause, summary="pause the replay (admin)",
          tag="admin", responses={200: ReplayStatus}, errors=(403, 404))
