"""``/kis_socket``: the live market stream, strategy signals and order events.

The first message, within ``ws_auth_timeout_s`` on the app clock, must be
``{"type":"auth","token":"<jwt>","strategy_type":"basic"|"rsi","params":{...}?}``;
otherwise the client gets an ``error`` and close 1008. Then the handler only
reads: each text message goes to the client's WsSession actor, which owns the
write side and answers every message. Messages over the size limit close the
socket with 1009 (aiohttp); over the per-client rate, or over the per-user rate
(one bucket shared by all of a user's sockets), they get an error.

A user already at the socket limit is refused on the token's signature alone,
before the database is asked whether the token is still current: a client that
keeps reconnecting past its limit costs a handshake, not a query.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from typing import Any, Literal

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from actors import paths
from actors import strategy as strategies
from actors.session_hub import Admit, CountSessions
from actors.ws_session import ClientText, Refused, WsSession, mailbox_for
from actors.wire import AckOut, ErrorOut, encode
from engine.runtime import ActorRef, ActorStopped, ChildSpec, Clock
from engine.strategy.realtime import StrategyParams, StrategyParamsError, parse_params
from web import logs
from web.auth import decode_token, verify_live_token
from web.errors import Unauthorized
from web.keys import CLOCK, SETTINGS, SYSTEM, WEBSOCKETS

log = logging.getLogger(__name__)

POLICY = 1008


class AuthMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    type: Literal["auth"]
    token: str
    strategy_type: str = "basic"
    params: dict[str, Any] | None = None


_auth = msgspec.json.Decoder(AuthMessage)


class RateLimit:
    """A token bucket on the app clock: ``rate`` messages a second, bursts of ``burst``."""

    def __init__(self, clock: Clock, rate: float, burst: int) -> None:
        self.clock, self.rate, self.burst = clock, rate, float(burst)
        self.tokens = float(burst)
        self.at = clock.monotonic()

    def take(self) -> bool:
        now = self.clock.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


# user id -> the bucket all their sockets share; it goes when the user's last socket does
USER_RATES: web.AppKey[weakref.WeakValueDictionary[int, RateLimit]] = web.AppKey("ws_user_rates")


def user_rate(app: web.Application, user_id: int) -> RateLimit:
    rates = app[USER_RATES]
    bucket = rates.get(user_id)
    if bucket is None:
        settings = app[SETTINGS]
        bucket = rates[user_id] = RateLimit(app[CLOCK], settings.ws_user_rate_per_s, settings.ws_user_rate_burst)
    return bucket


class AiohttpSocket:
    """:class:`actors.ws_session.Socket` over aiohttp's WebSocket and its transport."""

    __slots__ = ("_ws", "_transport")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None) -> None:
        self._ws = ws
        self._transport = transport

    @property
    def closed(self) -> bool:
        return self._ws.closed

    def write_buffer_size(self) -> int | None:
        transport = self._transport
        if transport is None or not isinstance(transport, asyncio.WriteTransport):
            return None
        return transport.get_write_buffer_size()

    async def send_text(self, data: bytes) -> None:
        await self._ws.send_frame(data, WSMsgType.TEXT)

    async def close(self, code: int, message: bytes) -> None:
        await self._ws.close(code=code, message=message)


async def _refuse(ws: web.WebSocketResponse, code: str, message: str) -> None:
    await ws.send_frame(encode(ErrorOut(code, message)), WSMsgType.TEXT)
    await ws.close(code=POLICY, message=code.encode())


async def _first_message(ws: web.WebSocketResponse, clock: Clock, timeout: float) -> Any:
    loop = asyncio.get_running_loop()
    receiving = asyncio.ensure_future(ws.receive())
    expired = loop.create_future()
    timer = clock.call_later(timeout, lambda: expired.done() or expired.set_result(None))
    try:
        await asyncio.wait({receiving, expired}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    if receiving.done():
        return receiving.result()
    receiving.cancel()
    await asyncio.gather(receiving, return_exceptions=True)
    return None


async def _authenticate(request: web.Request,
                        ws: web.WebSocketResponse) -> tuple[int, AuthMessage, StrategyParams] | None:
    settings = request.app[SETTINGS]
    msg = await _first_message(ws, request.app[CLOCK], settings.ws_auth_timeout_s)
    if msg is None:
        await _refuse(ws, "auth_timeout", f"send the auth message within {settings.ws_auth_timeout_s:g} s")
        return None
    if msg.type != WSMsgType.TEXT:
        if msg.type not in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            await _refuse(ws, "auth_required", "the first message must be a JSON auth message")
        return None
    try:
        auth = _auth.decode(msg.data)
    except msgspec.ValidationError as exc:
        await _refuse(ws, "auth_required", f"bad auth message: {exc}")
        return None
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested ~1,000 deep
        await _refuse(ws, "bad_json", "malformed JSON")
        return None
    try:
        user_id, _ = decode_token(auth.token, settings.jwt_secret)  # signature and expiry: no database
        if await _at_socket_limit(request, user_id):
            await _refuse(ws, "max_connections", _max_connections(settings.ws_max_connections_per_user))
            return None
        user_id = await verify_live_token(request.app, auth.token)
    except Unauthorized as exc:
        await _refuse(ws, exc.code, exc.message)
        return None
    try:
        params = parse_params(auth.strategy_type, auth.params)  # the name and every rule checked here
    except StrategyParamsError as exc:
        await _refuse(ws, "bad_strategy", "; ".join(f"{k}: {v}" for k, v in exc.fields.items()))
        return None
    except ValueError as exc:
        await _refuse(ws, "bad_strategy", str(exc))
        return None
    return user_id, auth, params


def _max_connections(limit: int) -> str:
    return f"at most {limit} sockets per user (AUTOTRADER_WS_MAX_CONNECTIONS_PER_USER): close one first"


async def _at_socket_limit(request: web.Request, user_id: int) -> bool:
    """A cheap early look (``Admit`` decides): the user holds their limit of sockets already."""
    settings = request.app[SETTINGS]
    hub = request.app[SYSTEM].ref(paths.SESSIONS)
    return bool(await hub.ask(CountSessions(user_id), settings.ask_timeout_s) >= settings.ws_max_connections_per_user)


async def _admitted(request: web.Request, user_id: int, session: ActorRef) -> bool:
    """Registered with the sessions hub, within the user's socket limit (checked and counted in one step)."""
    settings = request.app[SETTINGS]
    hub = request.app[SYSTEM].ref(paths.SESSIONS)
    return bool(await hub.ask(Admit(user_id, session, settings.ws_max_connections_per_user), settings.ask_timeout_s))


async def kis_socket(request: web.Request) -> web.WebSocketResponse:
    settings = request.app[SETTINGS]
    ws = web.WebSocketResponse(max_msg_size=settings.ws_max_message_bytes, heartbeat=30.0)
    await ws.prepare(request)
    request.app[WEBSOCKETS].add(ws)
    session = None
    try:
        auth = await _authenticate(request, ws)
        if auth is None:
            return ws
        user_id, hello, params = auth
        logs.user_id.set(str(user_id))
        system = request.app[SYSTEM]
        feeds, strategy_hub = system.ref(paths.FEEDS), system.ref(paths.STRATEGIES)
        session = system.spawn(
            paths.session(uuid.uuid4().hex[:12]),
            lambda: WsSession(AiohttpSocket(ws, request.transport), user_id, hello.strategy_type, feeds,
                              strategy_hub, max_subscriptions=settings.ws_max_subscriptions,
                              send_timeout_s=settings.ws_send_timeout_s),
            ChildSpec(restart="temporary"),
            mailbox=mailbox_for(settings.ws_high_water, settings.ws_max_queue),
        )
        if not await _admitted(request, user_id, session):  # the session has written nothing yet
            await _refuse(ws, "max_connections", _max_connections(settings.ws_max_connections_per_user))
            return ws
        await ws.send_frame(encode(AckOut("authenticated", strategy_type=hello.strategy_type)), WSMsgType.TEXT)
        strategy_hub.tell(strategies.Attach(user_id, hello.strategy_type, params, session))
        limit = RateLimit(request.app[CLOCK], settings.ws_rate_per_s, settings.ws_rate_burst)
        shared = user_rate(request.app, user_id)  # held while this socket lives
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                item: Any = _admit_text(msg.data, limit, shared, settings)
            elif msg.type == WSMsgType.BINARY:
                item = Refused("text_only", "send JSON text messages")
            else:
                break
            try:
                await session.send(item)
            except ActorStopped:
                break
    finally:
        request.app[WEBSOCKETS].discard(ws)
        if session is not None:
            session.stop()
    return ws


def _admit_text(data: str, limit: RateLimit, shared: RateLimit, settings: Any) -> ClientText | Refused:
    if not limit.take():
        return Refused("rate_limited", f"at most {settings.ws_rate_per_s:g} messages a second per socket")
    if not shared.take():
        return Refused("user_rate_limited", f"at most {settings.ws_user_rate_per_s:g} messages a second per user "
                                            "across their sockets (AUTOTRADER_WS_USER_RATE_PER_S)")
    return ClientText(data)


async def close_all(app: web.Application) -> None:
    """On shutdown: every client gets a going-away close (1001)."""
    for ws in list(app[WEBSOCKETS]):
        try:
            await asyncio.wait_for(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown"), 2)
        except (TimeoutError, ConnectionError):
            pass  # a stuck peer: its transport is dropped with the server


def setup(app: web.Application) -> None:
    app[WEBSOCKETS] = weakref.WeakSet()
    app[USER_RATES] = weakref.WeakValueDictionary()
    app.router.add_get("/kis_socket", kis_socket)
    app.on_shutdown.append(close_all)
