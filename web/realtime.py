"""``GET /realtime/ohlc/{stock_code}`` and ``GET /realtime/strategy-data``."""

from __future__ import annotations

import asyncio
import datetime as dt

from typing import Annotated, Any

import msgspec
from aiohttp import web

from actors import paths
from actors.feed_hub import FeedFor
from actors.market_feed import GetBars, GetTrades, LoadHistory
from engine.runtime import ActorRef
from actors.strategy import GetStrategyData, StrategyData
from actors.wire import TradeOut, trade_out
from engine.market.krx import BAR_SIZES, KST, is_valid_code, parse_bar_size
from engine.market.messages import Bar, Tick
from storage import BarRepo
from web.auth import require_user
from web.bodies import respond
from web.errors import Invalid
from web.keys import CLUSTER, SESSIONS, SETTINGS, SYSTEM
from web.openapi import route
from web.queries import query, query_params

MAX_BARS = 2000


class OhlcRow(msgspec.Struct, frozen=True):
    time: str  # the bar's start, ISO-8601 KST
    open: int
    high: int
    low: int
    close: int
    volume: int


class OhlcBody(msgspec.Struct, frozen=True):
    status: str
    data: list[OhlcRow]


class SignalView(msgspec.Struct, frozen=True):
    code: str
    side: str
    price: int
    indicators: dict[str, float]
    time: str


class StrategyView(msgspec.Struct, frozen=True):
    strategy_type: str
    params: dict[str, Any]
    codes: list[str]
    last_signals: list[SignalView]


class StrategyDataInner(msgspec.Struct, frozen=True):
    contract_data: dict[str, TradeOut]
    executed_data: list[TradeOut]
    active_strategies: list[StrategyView]


class StrategyDataBody(msgspec.Struct, frozen=True):
    status: str
    data: StrategyDataInner


def _kst(ts_ms: int) -> str:
    return dt.datetime.fromtimestamp(ts_ms / 1000, KST).isoformat()


class OhlcQuery(msgspec.Struct, frozen=True):
    bar_size: Annotated[str, msgspec.Meta(extra_json_schema={"enum": list(BAR_SIZES)})] = "1Min"  # any case
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_BARS)] = 200


async def feed_for(request: web.Request, code: str) -> ActorRef | None:
    """The running feed of ``code``, asked of the feeds hub (the web never reads its tables)."""
    return await _feed(request.app, code)


async def _feed(app: web.Application, code: str) -> ActorRef | None:
    feed = await app[SYSTEM].ref(paths.FEEDS).ask(FeedFor(code), app[SETTINGS].ask_timeout_s)
    return feed if feed is not None and feed.alive else None


async def ohlc(request: web.Request) -> web.Response:
    require_user(request)
    code = request.match_info["stock_code"]
    fields: dict[str, str] = {}
    if not is_valid_code(code):
        fields["stock_code"] = "expected a 6-character KRX code such as 005930"
    try:
        asked = query(request, OhlcQuery)
    except Invalid as exc:
        fields.update(exc.fields)
    else:
        limit = asked.limit
        try:
            size = parse_bar_size(asked.bar_size)
        except ValueError as exc:
            fields["bar_size"] = str(exc)
    if fields:
        raise Invalid("invalid OHLC request", fields=fields)
    timeout = request.app[SETTINGS].ask_timeout_s
    feed = await feed_for(request, code)
    bars: list[Bar]
    if feed is not None:
        loading = await feed.ask(LoadHistory(), timeout)  # loaded once, off the feed's loop
        try:
            await asyncio.wait_for(asyncio.shield(loading), timeout)
        except TimeoutError:
            pass  # serve what the feed has; the history joins later
        bars = await feed.ask(GetBars(size, limit), timeout)
    else:
        async with request.app[SESSIONS]() as session:
            bars = await BarRepo(session).recent(code, size, limit)
    rows = [OhlcRow(_kst(b.start_ms), b.open, b.high, b.low, b.close, b.volume) for b in bars]
    return respond(OhlcBody("success", rows))


class StrategyDataOf(msgspec.Struct, frozen=True):
    """Cluster mode: ask another node for its part of a user's strategy data."""

    user_id: int


async def strategy_snapshot(app: web.Application, user_id: int) -> StrategyDataInner:
    """This node's part: the user's strategies here and the recent trades of their codes."""
    system = app[SYSTEM]
    timeout = app[SETTINGS].ask_timeout_s
    refs = [system.lookup(path) for path in system.children(paths.user_strategies(user_id))]
    datas: list[StrategyData] = await asyncio.gather(
        *(ref.ask(GetStrategyData(), timeout) for ref in refs if ref is not None))
    codes = sorted({code for d in datas for code in d.codes})
    feeds = await asyncio.gather(*(_feed(app, code) for code in codes))
    trades_by_code = await asyncio.gather(*(feed.ask(GetTrades(100), timeout) for feed in feeds if feed is not None))
    latest: dict[str, TradeOut] = {}
    executed: list[Tick] = []
    for trades in trades_by_code:
        if trades:
            latest[trades[-1].code] = trade_out(trades[-1])
            executed.extend(trades)
    executed.sort(key=lambda t: (t.ts_ms, t.seen_ns))
    strategies = [
        StrategyView(d.name, d.params, d.codes,
                     [SignalView(s.code, s.side, s.price, s.indicators, _kst(s.ts_ms)) for s in d.signals[-20:]])
        for d in datas
    ]
    return StrategyDataInner(latest, [trade_out(t) for t in executed[-100:]], strategies)


def merge_snapshots(parts: list[StrategyDataInner]) -> StrategyDataInner:
    """Several nodes' parts as one answer (the newest trade per code, the latest 100 trades)."""
    latest: dict[str, TradeOut] = {}
    executed: list[TradeOut] = []
    strategies: list[StrategyView] = []
    for part in parts:
        for code, trade in part.contract_data.items():
            if code not in latest or (trade.ts_ms, trade.seen_ns) > (latest[code].ts_ms, latest[code].seen_ns):
                latest[code] = trade
        executed.extend(part.executed_data)
        strategies.extend(part.active_strategies)
    executed.sort(key=lambda t: (t.ts_ms, t.seen_ns))
    return StrategyDataInner(latest, executed[-100:], strategies)


async def strategy_data(request: web.Request) -> web.Response:
    user_id = require_user(request)
    inner = await strategy_snapshot(request.app, user_id)
    cluster = request.app.get(CLUSTER)
    if cluster is not None:  # the user's strategies live with their sockets, on any node
        others = await cluster.everywhere(StrategyDataOf(user_id), request.app[SETTINGS].ask_timeout_s)  # type: ignore[attr-defined]
        inner = merge_snapshots([inner, *others])
    return respond(StrategyDataBody("success", inner))


def add_routes(app: web.Application) -> None:
    route(app, "GET", "/realtime/ohlc/{stock_code}", ohlc, summary="OHLC bars of a code (KST times)",
          tag="market", responses={200: OhlcBody}, errors=(422, 503), params=(
              *query_params(OhlcQuery),
          ))
    route(app, "GET", "/realtime/strategy-data", strategy_data,
          summary="latest trades on your watched codes and your strategies' signals", tag="market",
          responses={200: StrategyDataBody}, errors=(503,))
