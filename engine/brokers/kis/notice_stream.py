"""A :class:`KisStream` that also carries fill notices (H0STCNI0 real / H0STCNI9 paper).

It reuses everything of the market-data stream (approval key, connect, re-subscribe
after a reconnect, PINGPONG echo and watchdog, back-off, the AES key/iv taken from
each acknowledgement of the current connection) and only adds the handling of
notice frames: decrypt with the key/iv of the notice subscription, parse the 26-field
(or old 23-field) records, hand them to ``on_notices``. Other frames go to the market
data sink as in :class:`KisStream`, so one connection per app key can carry both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiohttp

from engine.brokers.base import MarketDataSink, StreamStatus
from engine.brokers.kis.auth import KisAuth
from engine.brokers.kis.errors import FrameError
from engine.brokers.kis.frames import NOTICE_TRS, FillNotice, decrypt, parse_fill_notices, split_frame
from engine.brokers.kis.stream import KisStream, StreamOptions
from engine.market.messages import Quote, Tick
from engine.runtime.clock import Clock

log = logging.getLogger(__name__)


class NoMarketData:
    """The sink of a notice-only connection: market records there are unexpected, so they are counted and logged."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.unexpected = 0

    def _unexpected(self, what: str, code: str) -> None:
        self.unexpected += 1
        if self.unexpected <= 3:
            log.warning("%s: %s for %s on a notice-only connection, dropped", self.name, what, code)

    def on_tick(self, tick: Tick) -> None:
        self._unexpected("trade", tick.code)

    def on_quote(self, quote: Quote) -> None:
        self._unexpected("quote", quote.code)

    def on_status(self, status: StreamStatus, detail: str) -> None:
        log.debug("%s: %s (%s)", self.name, status, detail)


class NoticeStream(KisStream):
    def __init__(
        self,
        name: str,
        auth: KisAuth,
        http: aiohttp.ClientSession,
        ws_url: str,
        clock: Clock,
        on_notices: Callable[[list[FillNotice]], None],
        on_state: Callable[[KisStream, bool, str], None],
        options: StreamOptions,
        sink: MarketDataSink | None = None,
    ) -> None:
        super().__init__(name, auth, http, ws_url, clock, sink or NoMarketData(name), on_state, options)
        self._on_notices = on_notices
        self.notices = 0

    def _on_frame(self, text: str) -> None:
        if text[2:10] not in NOTICE_TRS:
            super()._on_frame(text)
            return
        self.frames += 1
        try:
            frame = split_frame(text)
            data = frame.data
            if frame.encrypted:
                aes = self._aes.get(frame.tr_id)
                if aes is None:
                    raise FrameError(f"{frame.tr_id}: encrypted notice before its key")
                data = decrypt(data, *aes)
            notices = parse_fill_notices(data, frame.count)
        except FrameError as exc:
            self.bad_frames += 1
            log.warning("%s: dropped notice frame #%d: %s", self.name, self.bad_frames, exc)
            return
        self.records += len(notices)
        self.notices += len(notices)
        try:
            self._on_notices(notices)
        except Exception:  # a listener bug must not kill the connection; it is logged with its traceback
            log.exception("%s: the notice listener failed", self.name)
