"""WsSession: one actor per ``/kis_socket`` client, owning the socket's write side.

The web handler reads the socket and tells the session each text message;
the session answers every one with an ``ack`` or an ``error``, subscribes
through the sessions hub (which counts them against the user's limits) to
the feeds hub, and writes what the feeds, strategies and accounts
send it. Its mailbox conflates trades and quotes per (type, code) above the
high-water mark, so a slow client costs the feeds nothing; a client that
cannot keep up even so (a send stalls past the send timeout, or the mailbox
fills with what is never conflated) is closed with 1013.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Literal, Protocol, assert_never

import msgspec

from actors import paths
from actors import strategy as strategies
from actors.session_hub import Claim, ClaimRefused, OrderEvent, Release, Unregister
from actors.feed_hub import Subscribe, Subscribed, Unsubscribe, UnsubscribeAll
from actors.market_feed import UpstreamStatus, Wire
from actors.wire import AckOut, ErrorOut, OrderOut, SignalOut, StatusOut, encode
from engine.market.krx import KST, is_valid_code
from engine.runtime import (
    Actor,
    ActorRef,
    MailboxOverflow,
    MailboxSpec,
    Overflow,
)
from engine.strategy.realtime import Signal

log = logging.getLogger(__name__)

TR_CHANNELS = {"H0STCNT0": "trade", "H0STASP0": "quote"}
TOO_SLOW = 1013
GOING_AWAY = 1001
FREE_WRITE_BYTES = 32 * 1024  # below aiohttp's 64 KiB drain limit a send never waits


class Socket(Protocol):
    """The write side of a client's WebSocket, as a session uses it (``web.ws`` adapts aiohttp's)."""

    @property
    def closed(self) -> bool: ...

    def write_buffer_size(self) -> int | None:
        """Bytes waiting in the transport; None when unknown (then a send may wait)."""

    async def send_text(self, data: bytes) -> None:
        """One text frame of UTF-8 ``data``."""

    async def close(self, code: int, message: bytes) -> None: ...


class ClientText(msgspec.Struct, frozen=True):
    data: str


class ClientRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tr_type: Literal["1", "2"]
    tr_id: str
    st_code: str


class Refused(msgspec.Struct, frozen=True):
    """The reader refused a client message (rate, type); the session says why."""

    code: str
    message: str


_request = msgspec.json.Decoder(ClientRequest)


def conflate_key(msg: Any) -> tuple[str, str] | None:
    return (msg.kind, msg.code) if type(msg) is Wire else None


def mailbox_for(high_water: int, limit: int) -> MailboxSpec:
    return MailboxSpec(limit=limit, overflow=Overflow.FAULT, conflate_above=high_water,
                       conflate_key=conflate_key)


SessionMsg = Wire | ClientText | Refused | Subscribed | ClaimRefused | UpstreamStatus | Signal | OrderEvent


class WsSession(Actor):
    def __init__(self, ws: Socket, user_id: int, strategy_name: str, feeds: ActorRef,
                 strategy_hub: ActorRef, *, max_subscriptions: int, send_timeout_s: float) -> None:
        self.ws = ws
        self.user_id = user_id
        self.strategy_name = strategy_name
        self.feeds = feeds
        self.strategy_hub = strategy_hub
        self.max_subscriptions = max_subscriptions
        self.send_timeout_s = send_timeout_s
        self.subscriptions: set[tuple[str, str]] = set()  # (tr_id, code) the hub confirmed
        self.pending: dict[tuple[str, str], list[ClientRequest]] = {}  # awaiting the hub -> requests queued behind
        self.sent = 0
        self.close_code: int | None = None

    async def on_stop(self) -> None:
        me = self.ctx.self_ref
        hub = self.ctx.system.lookup(paths.SESSIONS)
        clean_up = [(self.feeds, UnsubscribeAll(me)),
                    (self.strategy_hub, strategies.Detach(self.user_id, self.strategy_name, me))]
        if hub is not None:
            clean_up.append((hub, Unregister(self.user_id, me)))
        for ref, msg in clean_up:
            if not ref.try_tell(msg):
                log.warning("session %s: clean-up %s lost", self.ctx.path, type(msg).__name__)
        code = self.close_code
        if code is None and isinstance(self.ctx.failure, MailboxOverflow):
            code = TOO_SLOW
        if not self.ws.closed:
            message = b"too slow" if code == TOO_SLOW else b"going away"
            try:
                async with asyncio.timeout(self.send_timeout_s):
                    await self.ws.close(code=code or GOING_AWAY, message=message)
            except (TimeoutError, ConnectionError):
                pass  # the peer is gone or stuck: the transport is dropped with the handler

    async def receive(self, msg: SessionMsg) -> None:
        match msg:
            case Wire():
                await self._send(msg.data)
            case ClientText():
                await self._on_client(msg.data)
            case Refused():
                await self._error(msg.code, msg.message)
            case Subscribed():
                await self._on_subscribed(msg)
            case ClaimRefused():
                await self._answered(msg.tr_id, msg.code, msg.error, msg.message)
            case UpstreamStatus():
                await self._send(encode(StatusOut(msg.status, msg.detail)))
            case Signal():
                time = dt.datetime.fromtimestamp(msg.ts_ms / 1000, KST).isoformat()
                await self._send(encode(SignalOut(msg.strategy, msg.code, msg.side, msg.price,
                                                  msg.indicators, time, msg.ts_ms)))
            case OrderEvent():
                await self._send(encode(OrderOut(msg.event, msg.order)))
            case _:
                assert_never(msg)

    async def _on_client(self, text: str) -> None:
        try:
            req = _request.decode(text)
        except msgspec.ValidationError as exc:
            return await self._error("invalid", str(exc))
        except (msgspec.DecodeError, RecursionError):  # RecursionError: nested ~1,000 deep
            return await self._error("bad_json", "malformed JSON")
        if req.tr_id not in TR_CHANNELS:
            return await self._error("unknown_tr_id", f"unknown tr_id {req.tr_id!r}; expected H0STCNT0 or H0STASP0")
        if not is_valid_code(req.st_code):
            return await self._error("bad_code", f"bad stock code {req.st_code!r}")
        await self._request(req)

    async def _request(self, req: ClientRequest) -> None:
        key = (req.tr_id, req.st_code)
        deferred = self.pending.get(key)
        if deferred is not None:  # a subscribe of this key awaits the hub: answer in order, after it
            deferred.append(req)
            return
        channel = TR_CHANNELS[req.tr_id]
        me = self.ctx.self_ref
        if req.tr_type == "1":
            if key in self.subscriptions:
                return await self._send(encode(AckOut("already subscribed", "1", req.tr_id, req.st_code)))
            if len(self.subscriptions) + len(self.pending) >= self.max_subscriptions:
                return await self._error("too_many_subscriptions",
                                         f"at most {self.max_subscriptions} subscriptions per client")
            self.pending[key] = []
            subscribe = Subscribe(req.st_code, channel, me, wire=True, reply_to=me, tag=req.tr_id)  # type: ignore[arg-type]
            self.ctx.system.ref(paths.SESSIONS).tell(Claim(self.user_id, subscribe, self.feeds))
        else:
            if key not in self.subscriptions:
                return await self._error("not_subscribed", f"not subscribed to {req.tr_id} {req.st_code}")
            self.subscriptions.discard(key)
            self.feeds.tell(Unsubscribe(req.st_code, channel, me))  # type: ignore[arg-type]
            self.ctx.system.ref(paths.SESSIONS).tell(Release(self.user_id, me, req.tr_id, req.st_code))
            if channel == "trade":
                self.strategy_hub.tell(strategies.Unwatch(self.user_id, self.strategy_name, req.st_code, me))
            await self._send(encode(AckOut("unsubscribed", "2", req.tr_id, req.st_code)))

    async def _on_subscribed(self, msg: Subscribed) -> None:
        if msg.error:
            self.ctx.system.ref(paths.SESSIONS).tell(Release(self.user_id, self.ctx.self_ref, msg.tag, msg.code))
            return await self._answered(msg.tag, msg.code, "subscribe_failed", msg.error)
        self.subscriptions.add((msg.tag, msg.code))
        if msg.channel == "trade":
            self.strategy_hub.tell(strategies.Watch(self.user_id, self.strategy_name, msg.code, self.ctx.self_ref))
        await self._answered(msg.tag, msg.code)

    async def _answered(self, tr_id: str, code: str, error: str = "", message: str = "") -> None:
        """A pending subscribe got its answer (an ack, or an error naming why): then the requests behind it."""
        deferred = self.pending.pop((tr_id, code), [])
        if error:
            await self._error(error, message)
        else:
            await self._send(encode(AckOut("subscribed", "1", tr_id, code)))
        for req in deferred:  # may make the key pending again: the rest queue behind it
            await self._request(req)

    async def _error(self, code: str, message: str) -> None:
        await self._send(encode(ErrorOut(code, message)))

    async def _send(self, data: bytes) -> None:
        if self.ws.closed:
            return
        try:
            buffered = self.ws.write_buffer_size()
            if buffered is not None and buffered < FREE_WRITE_BYTES:
                await self.ws.send_text(data)  # room in the buffer: it cannot stall
            else:
                async with asyncio.timeout(self.send_timeout_s):
                    await self.ws.send_text(data)
        except TimeoutError:
            log.info("session %s: client too slow, closing 1013", self.ctx.path)
            self.close_code = TOO_SLOW
            self.ctx.stop_self()
            return
        except ConnectionError:
            self.ctx.stop_self()
            return
        self.sent += 1

    def state_view(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "strategy": self.strategy_name,
                "subscriptions": len(self.subscriptions), "pending": len(self.pending), "sent": self.sent}
