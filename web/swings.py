"""Auto swings: ``POST /swing/register``, ``GET /swing/status``, ``GET /swing/{id}``,
``GET /swing/{id}/events``, ``DELETE /swing/{id}``.

The request body is :class:`engine.strategy.swing.SwingParams` itself (unknown
fields refused, every rule checked and named in the 422). The product spec's
literal body has no ``stock_code`` or ``unit_amount``, so it gets a 422 naming
them. Everything is scoped to the caller: another user's swing is 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from aiohttp import web

from actors import paths
from actors.market_feed import GetTrades
from actors.swing import StopSwing
from actors.swing_hub import StartSwing
from engine.market.krx import KST
from engine.runtime import ActorStopped
from engine.strategy.swing import SwingParams, SwingParamsError
from engine.swings import NewSwingEvent
from storage import AccountRepo, Swing, SwingRepo
from web.auth import require_user
from web.bodies import read, respond
from web.errors import Invalid, NotFoundError
from web.keys import CLUSTER, CRYPTO, SESSIONS, SETTINGS, SYSTEM
from web.openapi import Param, route
from web.params import MAX_ID, parse_id
from web.queries import query, query_params
from web.realtime import feed_for

MAX_EVENTS = 200


class SwingCreated(msgspec.Struct, frozen=True):
    message: str
    swing_id: int


class SwingView(msgspec.Struct, frozen=True):
    swing_id: int
    stock_code: str
    account_id: int
    status: str  # warming_up | active | completed | stopped | halted
    signal_state: int  # SIGNAL 0-3
    last_decision: str | None  # buy | sell | hold
    shares: int
    average_price: int
    realized_pnl: int
    unrealized_pnl: int | None  # null when no current price is known
    pending_order: str | None
    params: SwingParams
    created_at: str
    last_updated: str
    scheduled_order: ScheduledOrder | None = None  # a decision waiting for the next session's opening
    halted_reason: str | None = None  # why it is halted, in words (its "halted" event); null unless it is


class ScheduledOrder(msgspec.Struct, frozen=True):
    """A decision the market could not take when it was made (after the close): sent at
    ``send_at`` (08:30 KST, the opening call auction) as a market order."""

    order_id: str
    side: str
    quantity: int
    send_at: str  # ISO-8601 KST
    decided_on_bar: str | None  # the bar whose close made the decision, KST
    reason: str


class SwingStatus(msgspec.Struct, frozen=True):
    status: str  # the most recently updated swing's, or "none"
    signal: str | None
    last_updated: str | None
    signal_state: int | None
    swings: list[SwingView]


class SwingEventView(msgspec.Struct, frozen=True):
    id: int
    time: str
    kind: str
    bar_time: str | None
    action: str
    signal_before: int
    signal_after: int
    reason: str
    indicators: dict[str, float]
    order_id: str | None


class SwingEvents(msgspec.Struct, frozen=True):
    events: list[SwingEventView]
    next_before: int | None  # pass as ?before= for the next (older) page


class SwingStopped(msgspec.Struct, frozen=True):
    message: str
    swing: SwingView


def _kst(when: dt.datetime) -> str:
    return when.astimezone(KST).isoformat()


def _kst_ms(ts_ms: int | None) -> str | None:
    return None if ts_ms is None else dt.datetime.fromtimestamp(ts_ms / 1000, KST).isoformat()


async def _last_price(request: web.Request, code: str) -> int | None:
    feed = await feed_for(request, code)
    if feed is None:
        return None
    trades = await feed.ask(GetTrades(1), request.app[SETTINGS].ask_timeout_s)
    return trades[-1].price if trades else None


async def _view(request: web.Request, swing: Swing) -> SwingView:
    price = await _last_price(request, swing.stock_code) if swing.shares else None
    unrealized = (price - swing.avg_cost) * swing.shares if price is not None else (0 if not swing.shares else None)
    return SwingView(
        swing.id, swing.stock_code, swing.account_id, swing.status, swing.signal_state, swing.last_decision,
        swing.shares, swing.avg_cost, swing.realized_pnl, unrealized, swing.intent_order_id, swing.params,
        _kst(swing.created_at), _kst(swing.updated_at), _scheduled(swing),
        swing.halted_reason if swing.status == "halted" else None)


def _scheduled(swing: Swing) -> ScheduledOrder | None:
    intent = swing.intent
    if intent is None or intent.send_at_ms is None or swing.intent_order_id is None:
        return None
    return ScheduledOrder(swing.intent_order_id, intent.action, intent.quantity, _kst_ms(intent.send_at_ms) or "",
                          _kst_ms(intent.bar_start_ms), intent.reason)


async def _own(request: web.Request, user_id: int) -> Swing:
    swing_id = parse_id(request.match_info["swing_id"])
    if swing_id is None:
        raise NotFoundError("no such swing")
    async with request.app[SESSIONS]() as session:
        swing = await SwingRepo(session).get_for_user(user_id, swing_id)
    if swing is None:
        raise NotFoundError("no such swing")
    return swing


async def register(request: web.Request) -> web.Response:
    user_id = require_user(request)
    body = await read(request, SwingParams)
    try:
        params = body.validate()
    except SwingParamsError as exc:
        raise Invalid("invalid swing parameters", fields=exc.fields) from None
    async with request.app[SESSIONS].begin() as session:
        limit = request.app[SETTINGS].max_swings_per_user
        live = [s for s in await SwingRepo(session).list_for_user(user_id) if s.status not in ("completed", "stopped")]
        if len(live) >= limit:
            raise Invalid(f"at most {limit} live swings per user (AUTOTRADER_MAX_SWINGS_PER_USER); stop one first",
                          code="max_swings")
        accounts = AccountRepo(session, request.app[CRYPTO])
        if params.account_id is None:
            mine = await accounts.list_for_user(user_id)
            if not mine:
                raise Invalid("register an account first", fields={"account_id": "you have no account"})
            account_id = mine[0].id
        else:
            if await accounts.get_for_user(user_id, params.account_id) is None:
                raise NotFoundError("no such account", fields={"account_id": "not found"})
            account_id = params.account_id
        stored = msgspec.structs.replace(params, account_id=account_id)
        swing = await SwingRepo(session).create(user_id=user_id, account_id=account_id,
                                                stock_code=params.stock_code, params=stored)
    cluster = request.app.get(CLUSTER)
    if cluster is not None:  # the swing runs where its account is owned
        await cluster.accounts.swings_changed(account_id, request.app[SETTINGS].ask_timeout_s)  # type: ignore[attr-defined]
    else:
        request.app[SYSTEM].ref(paths.SWINGS).tell(StartSwing(swing.id, params.bar_size))
    return respond(SwingCreated("오토 스윙 등록 성공", swing.id), status=201)


async def status(request: web.Request) -> web.Response:
    user_id = require_user(request)
    async with request.app[SESSIONS]() as session:
        swings = await SwingRepo(session).list_for_user(user_id)
    views = [await _view(request, s) for s in swings]
    if not views:
        return respond(SwingStatus("none", None, None, None, []))
    latest = views[0]
    return respond(SwingStatus(latest.status, latest.last_decision, latest.last_updated, latest.signal_state,
                               views))


async def one(request: web.Request) -> web.Response:
    user_id = require_user(request)
    return respond(await _view(request, await _own(request, user_id)))


class EventsQuery(msgspec.Struct, frozen=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_EVENTS)] = 50
    before: Annotated[int, msgspec.Meta(ge=1, le=MAX_ID, description="an event id: the page before it")] | None = None


async def events(request: web.Request) -> web.Response:
    user_id = require_user(request)
    swing = await _own(request, user_id)
    paging = query(request, EventsQuery)
    limit, before = paging.limit, paging.before
    async with request.app[SESSIONS]() as session:
        rows = await SwingRepo(session).events(swing.id, before_id=before, limit=limit)
    page = [SwingEventView(e.id, _kst(e.at), e.kind, _kst_ms(e.bar_start_ms), e.action, e.signal_before,
                           e.signal_after, e.reason, e.indicators, e.order_id) for e in rows]
    return respond(SwingEvents(page, rows[-1].id if len(rows) == limit else None))


async def stop(request: web.Request) -> web.Response:
    user_id = require_user(request)
    swing = await _own(request, user_id)
    liquidate = request.query.get("liquidate", "false").lower() in ("1", "true", "yes")
    ref = request.app[SYSTEM].lookup(paths.swing(swing.id))
    stopped = False
    cluster = request.app.get(CLUSTER)
    if cluster is not None:  # the swing runs where its account is owned
        from actors.cluster_accounts import StopSwingAt

        stopped = await cluster.accounts.ask(  # type: ignore[attr-defined]
            swing.account_id, StopSwingAt(swing.account_id, swing.id, liquidate), request.app[SETTINGS].ask_timeout_s)
    elif ref is not None:
        try:
            await ref.ask(StopSwing(liquidate), request.app[SETTINGS].ask_timeout_s)
            stopped = True
        except ActorStopped:
            pass  # it ended meanwhile: mark it below
    if not stopped and swing.status not in ("completed", "stopped"):
        async with request.app[SESSIONS].begin() as session:
            await SwingRepo(session).set_status(swing.id, "stopped")
            await SwingRepo(session).add_event(swing.id, NewSwingEvent(
                kind="stopped", reason="stopped by the user", signal_before=swing.signal_state,
                signal_after=swing.signal_state))
    async with request.app[SESSIONS]() as session:
        fresh = await SwingRepo(session).get(swing.id)
    assert fresh is not None
    return respond(SwingStopped("오토 스윙 중지", await _view(request, fresh)))


def add_routes(app: web.Application) -> None:
    route(app, "POST", "/swing/register", register, summary="register an auto swing", tag="swing",
          request=SwingParams, responses={201: SwingCreated}, errors=(404,))
    route(app, "GET", "/swing/status", status, summary="your most recently updated swing, and all of them",
          tag="swing", responses={200: SwingStatus})
    route(app, "GET", "/swing/{swing_id}", one, summary="one swing", tag="swing",
          responses={200: SwingView}, errors=(404,))
    route(app, "GET", "/swing/{swing_id}/events", events, summary="a swing's checks and orders, newest first",
          tag="swing", responses={200: SwingEvents}, errors=(404, 422), params=(
              *query_params(EventsQuery),
          ))
    route(app, "DELETE", "/swing/{swing_id}", stop, summary="stop a swing (?liquidate=true also sells)",
          tag="swing", responses={200: SwingStopped}, errors=(404,), params=(
              Param("liquidate", schema={"type": "boolean"}),
          ))
