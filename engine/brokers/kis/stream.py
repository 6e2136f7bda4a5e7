"""One upstream KIS WebSocket (one per app key) carrying many subscriptions.

The stream owns the connection's whole life: approval key, connect, (re)subscribe
everything it is asked to carry, parse data frames into the sink, echo PINGPONG
as a text frame, and treat ``pingpong_timeout_s`` without a PINGPONG as a dead
connection. When the connection ends it reconnects after an exponential back-off
with jitter, fetching a new approval key for every reconnect (and when the key is
a day old), and re-subscribes at ``resubscribe_per_s`` messages a second (KIS warns
that connect/subscribe storms get an app key or address blocked; subscriptions
asked for meanwhile join the paced queue). Acks carry the AES key/iv
(new ones per connection); whether KIS gives one per tr_id or one per subscription
is not documented, so each (tr_id, tr_key)'s is kept and an encrypted frame is
opened with the newest key of its tr_id that decrypts it (several HTS ids of one
app key share the connection).

A malformed frame is counted and logged, never fatal; ``ALREADY IN SUBSCRIBE`` is
a success; ``MAX SUBSCRIBE OVER`` and invalid tr_id/code refuse that subscription.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import deque
from collections.abc import Callable

import aiohttp

from engine.brokers.base import MarketDataSink
from engine.brokers.kis.auth import KisAuth
from engine.brokers.kis.errors import FrameError, KisError, KisSubscriptionError, KisTransportError
from engine.brokers.kis.frames import (
    QUOTE_TRS,
    TRADE_TRS,
    Frame,
    decrypt,
    kst_midnight_ms,
    parse_quotes,
    parse_ticks,
    split_frame,
)
from engine.runtime.clock import Clock
from engine.settings import Settings

log = logging.getLogger(__name__)

OK_CODES = frozenset({"OPSP0000", "OPSP0001", "OPSP0002", "OPSP0003"})
BAD_APPROVAL = "OPSP0011"
SESSION_CODES = frozenset({"OPSP8996", BAD_APPROVAL, "OPSP9997", "OPSP0007", "OPSP0009"})

Key = tuple[str, str]  # (tr_id, tr_key)


class SessionRejected(KisError):
    """KIS refused the session itself (app key in use, unknown approval key ...)."""


class StreamOptions:
    __slots__ = ("max_subscriptions", "pingpong_timeout_s", "reconnect_base_s", "reconnect_max_s", "timeout_s",
                 "resubscribe_per_s")

    def __init__(
        self,
        *,
        max_subscriptions: int = 40,
        pingpong_timeout_s: float = 120.0,
        reconnect_base_s: float = 1.0,
        reconnect_max_s: float = 60.0,
        timeout_s: float = 10.0,
        resubscribe_per_s: float = 3.0,
    ) -> None:
        self.resubscribe_per_s = resubscribe_per_s
        self.max_subscriptions = max_subscriptions
        self.pingpong_timeout_s = pingpong_timeout_s
        self.reconnect_base_s = reconnect_base_s
        self.reconnect_max_s = reconnect_max_s
        self.timeout_s = timeout_s


def stream_options(settings: Settings) -> StreamOptions:
    """The WebSocket options of the ``AUTOTRADER_KIS_*`` settings."""
    return StreamOptions(
        max_subscriptions=settings.kis_max_subscriptions,
        pingpong_timeout_s=settings.kis_pingpong_timeout_s,
        reconnect_base_s=settings.kis_reconnect_base_s,
        reconnect_max_s=settings.kis_reconnect_max_s,
        timeout_s=settings.kis_timeout_s,
        resubscribe_per_s=settings.kis_resubscribe_per_s,
    )


def _decrypt_any(data: str, keys: list[tuple[str, str]]) -> str:
    """``data`` decrypted with the first of ``keys`` that opens it (PKCS7 padding and UTF-8 both hold)."""
    error: FrameError | None = None
    for key, iv in keys:
        try:
            return decrypt(data, key, iv)
        except FrameError as exc:
            error = exc
    assert error is not None
    raise error


class KisStream:
    def __init__(
        self,
        name: str,
        auth: KisAuth,
        http: aiohttp.ClientSession,
        ws_url: str,
        clock: Clock,
        sink: MarketDataSink,
        on_state: Callable[[KisStream, bool, str], None],
        options: StreamOptions,
    ) -> None:
        self.name = name
        self.auth = auth
        self._http = http
        self._url = ws_url
        self._clock = clock
        self._sink = sink
        self._on_state = on_state
        self.opts = options
        self.wanted: dict[Key, None] = {}  # ordered set of what this connection must carry
        self.live = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._approval = ""
        self._pending: dict[Key, deque[asyncio.Future[None]]] = {}
        self._aes: dict[str, dict[str, tuple[str, str]]] = {}  # tr_id -> tr_key -> (key, iv), newest last
        self._last_ping = 0.0
        self._close_reason = ""
        self._task: asyncio.Task[None] | None = None
        self._rng = random.Random()
        self.frames = self.records = self.bad_frames = self.reconnects = self.pingpongs = 0
        self.missed_pingpongs = 0
        self.resubscriptions = 0  # subscription messages sent by (re)connects

    def __repr__(self) -> str:
        return f"KisStream({self.name}, live={self.live}, subscriptions={len(self.wanted)})"

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"kis-stream-{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.live = False

    # -- subscriptions -----------------------------------------------------------------

    @property
    def load(self) -> int:
        return len(self.wanted)

    async def subscribe(self, tr_id: str, code: str) -> None:
        """Carry (tr_id, code); raises :class:`KisSubscriptionError` if KIS refuses it."""
        key = (tr_id, code)
        if key in self.wanted:
            return
        self.wanted[key] = None
        if self._ws is None or not self.live:
            return  # sent on (re)connect
        try:
            await self._request("1", key)
        except KisSubscriptionError:
            self.wanted.pop(key, None)
            raise
        except KisError as exc:
            log.warning("%s: subscribe %s/%s not acknowledged (%s); resent on reconnect", self.name, tr_id, code, exc)

    async def unsubscribe(self, tr_id: str, code: str) -> None:
        key = (tr_id, code)
        if key not in self.wanted:
            return
        del self.wanted[key]
        if self._ws is not None and self.live:
            try:
                await self._request("2", key)
            except KisError as exc:
                log.warning("%s: unsubscribe %s/%s: %s", self.name, tr_id, code, exc)

    async def _request(self, tr_type: str, key: Key) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            raise KisTransportError("not connected")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, deque()).append(future)
        message = {
            "header": {"approval_key": self._approval, "custtype": "P", "tr_type": tr_type, "content-type": "utf-8"},
            "body": {"input": {"tr_id": key[0], "tr_key": key[1]}},
        }
        try:
            await ws.send_str(json.dumps(message))
            async with asyncio.timeout(self.opts.timeout_s):
                await future
        except TimeoutError:
            raise KisTransportError(f"no acknowledgement for {key[0]}/{key[1]} within {self.opts.timeout_s:g} s") from None
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise KisTransportError(f"send failed: {exc}") from None
        finally:
            waiting = self._pending.get(key)
            if waiting is not None and future in waiting:
                waiting.remove(future)

    # -- the connection loop ---------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                detail = await self._session()
            except (KisError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                detail = f"{exc.__class__.__name__}: {exc}"
            if self.live:
                attempt = 0
            self.live = False
            self.reconnects += 1
            self._on_state(self, False, detail)
            delay = min(self.opts.reconnect_max_s, self.opts.reconnect_base_s * 2**attempt)
            delay *= 0.5 + self._rng.random() / 2
            attempt = min(attempt + 1, 30)
            log.warning("%s: connection lost (%s); reconnecting in %.2f s", self.name, detail, delay)
            self.auth.invalidate_approval()  # a new session gets a new approval key
            await self._clock.sleep(delay)

    async def _session(self) -> str:
        """One connection, from connect to its end; returns why it ended."""
        self._approval = await self.auth.approval_key()
        async with asyncio.timeout(self.opts.timeout_s):
            ws = await self._http.ws_connect(
                self._url,
                autoping=True,
                heartbeat=None,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=self.opts.timeout_s),
            )
        self._ws = ws
        self._aes = {}
        self._close_reason = ""
        self._last_ping = self._clock.monotonic()
        reader = asyncio.create_task(self._read(ws))
        watchdog = asyncio.create_task(self._watchdog(ws))
        try:
            await self._resubscribe()
            self.live = True
            self._on_state(self, True, f"{len(self.wanted)} subscriptions")
            done, _ = await asyncio.wait({reader, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            return self._close_reason or f"closed by KIS ({ws.close_code})"
        finally:
            self._ws = None
            for task in (reader, watchdog):
                task.cancel()
            await asyncio.gather(reader, watchdog, return_exceptions=True)
            self._fail_pending(KisTransportError("connection closed"))
            if not ws.closed:
                try:
                    async with asyncio.timeout(self.opts.timeout_s):
                        await ws.close()
                except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                    log.info("%s: close did not complete: %s", self.name, exc)

    async def _resubscribe(self) -> None:
        """Send every wanted subscription, paced; those asked for meanwhile are sent too."""
        rate = self.opts.resubscribe_per_s
        interval = 1.0 / rate if rate > 0 else 0.0
        sent: dict[Key, asyncio.Future[None]] = {}
        try:
            while todo := [k for k in self.wanted if k not in sent]:
                if sent and interval:
                    await self._clock.sleep(interval)
                sent[todo[0]] = asyncio.ensure_future(self._request("1", todo[0]))
                self.resubscriptions += 1
            results = await asyncio.gather(*sent.values(), return_exceptions=True)
        except BaseException:
            for future in sent.values():
                future.cancel()
            await asyncio.gather(*sent.values(), return_exceptions=True)
            raise
        for key, result in zip(sent, results, strict=True):
            if isinstance(result, KisSubscriptionError):
                self.wanted.pop(key, None)
                log.error("%s: re-subscribe %s/%s refused: %s", self.name, key[0], key[1], result.reason)
            elif isinstance(result, BaseException):
                raise result

    async def _watchdog(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        timeout = self.opts.pingpong_timeout_s
        while True:
            remaining = self._last_ping + timeout - self._clock.monotonic()
            if remaining <= 0:
                self.missed_pingpongs += 1
                self._close_reason = f"no PINGPONG for {timeout:g} s"
                return
            await self._clock.sleep(remaining)

    def _fail_pending(self, exc: KisError) -> None:
        for waiting in self._pending.values():
            for future in waiting:
                if not future.done():
                    future.set_exception(exc)
        self._pending.clear()

    # -- incoming ------------------------------------------------------------------------

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    text: str = msg.data
                    if text[:1] in ("0", "1"):
                        self._on_frame(text)
                    else:
                        await self._on_json(ws, text)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    self._close_reason = f"socket error: {ws.exception()}"
                    break
        finally:
            self._fail_pending(KisTransportError("connection closed"))

    def _frame_data(self, text: str) -> tuple[Frame, str]:
        """The frame and its records' text, decrypted with this connection's key for its tr_id."""
        frame = split_frame(text)
        data = frame.data
        if frame.encrypted:
            keys = self._aes.get(frame.tr_id)
            if not keys:
                raise FrameError(f"{frame.tr_id}: encrypted frame before its key")
            data = _decrypt_any(data, list(dict.fromkeys(reversed(keys.values()))))
        return frame, data

    def _on_frame(self, text: str) -> None:
        self.frames += 1
        try:
            frame, data = self._frame_data(text)
            if frame.tr_id in TRADE_TRS:
                ticks = parse_ticks(data, frame.count)
                self.records += len(ticks)
                for tick in ticks:
                    self._sink.on_tick(tick)
            elif frame.tr_id in QUOTE_TRS:
                quotes = parse_quotes(data, frame.count, kst_midnight_ms(self._clock.now_ms()))
                self.records += len(quotes)
                for quote in quotes:
                    self._sink.on_quote(quote)
            else:
                raise FrameError(f"unexpected tr_id {frame.tr_id[:12]!r}")
        except FrameError as exc:
            self.bad_frames += 1
            if self.bad_frames <= 10 or self.bad_frames % 1000 == 0:
                log.warning("%s: dropped frame #%d: %s", self.name, self.bad_frames, exc)
        except Exception:  # a sink bug must not kill the upstream connection of every feed
            log.exception("%s: the sink failed on a %s frame", self.name, text[2:10])

    async def _on_json(self, ws: aiohttp.ClientWebSocketResponse, text: str) -> None:
        try:
            msg = json.loads(text)
            header = msg["header"]
            tr_id = str(header["tr_id"])
        except (ValueError, KeyError, TypeError):
            self.bad_frames += 1
            log.warning("%s: unreadable control message %r", self.name, text[:80])
            return
        if tr_id == "PINGPONG":
            self._last_ping = self._clock.monotonic()
            self.pingpongs += 1
            await ws.send_str(text)
            return
        body = msg.get("body")
        if isinstance(body, dict) and "msg_cd" in body:
            await self._on_ack(ws, tr_id, str(header.get("tr_key", "")), body)

    async def _on_ack(self, ws: aiohttp.ClientWebSocketResponse, tr_id: str, tr_key: str, body: dict) -> None:
        msg_cd, msg1 = str(body.get("msg_cd", "")), str(body.get("msg1", ""))
        output = body.get("output")
        if isinstance(output, dict) and output.get("key") and output.get("iv"):
            keys = self._aes.setdefault(tr_id, {})
            keys.pop(tr_key, None)
            keys[tr_key] = (str(output["key"]), str(output["iv"]))
        error: KisError | None = None
        if msg_cd in SESSION_CODES:
            error = SessionRejected(f"{msg_cd} {msg1}")
        elif msg_cd not in OK_CODES:
            error = KisSubscriptionError(tr_id, tr_key, f"{msg_cd} {msg1}")
        future = self._take_pending(tr_id, tr_key)
        if future is not None:
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
        elif error is not None:
            log.warning("%s: unsolicited KIS error %s %s for %s/%s", self.name, msg_cd, msg1, tr_id, tr_key)
        if isinstance(error, SessionRejected):
            if msg_cd == BAD_APPROVAL:
                self.auth.invalidate_approval()
            self._close_reason = f"session refused: {msg_cd} {msg1}"
            await ws.close()

    def _take_pending(self, tr_id: str, tr_key: str) -> asyncio.Future[None] | None:
        waiting = self._pending.get((tr_id, tr_key))
        if not waiting and not tr_key:  # an ack without tr_key: the oldest request of that tr_id
            waiting = next((w for (t, _), w in self._pending.items() if t == tr_id and w), None)
        while waiting:
            future = waiting.popleft()
            if not future.done():
                return future
        return None
