"""Fill notices (H0STCNI0 real / H0STCNI9 paper): the connection and the account's feed.

:class:`NoticeStream` is a :class:`KisStream` that also carries notice frames;
:class:`FillFeed` joins the app key's one session (:class:`KeySession`, shared with
the market data and the other accounts of that key) for (tr_id, HTS id) and turns
this account's fill notices into :class:`BrokerFill` for a listener.

It reuses everything of the market-data stream (approval key, connect, re-subscribe
after a reconnect, PINGPONG echo and watchdog, back-off, the AES key/iv taken from
each acknowledgement of the current connection) and only adds the handling of
notice frames: decrypt with the key/iv of the notice subscription, parse the 26-field
(or old 23-field) records, hand them to ``on_notices``. Other frames go to the market
data sink as in :class:`KisStream`, so one connection per app key can carry both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp

from engine.brokers.base import BrokerFill, MarketDataSink, StreamStatus
from engine.brokers.kis.auth import KisAuth
from engine.brokers.kis.errors import FrameError, KisSubscriptionError
from engine.brokers.kis.frames import NOTICE_TRS, FillNotice, parse_fill_notices
from engine.brokers.kis.inquiries import kst_ms
from engine.brokers.kis.stream import KisStream, StreamOptions
from engine.market.messages import Quote, Tick
from engine.runtime.clock import Clock

if TYPE_CHECKING:
    from engine.brokers.kis.key_session import KeySession

log = logging.getLogger(__name__)

FillListener = Callable[[BrokerFill], None]
StatusListener = Callable[[bool, str], None]


class NoMarketData:
    """The sink of a notice-only connection: market records are unexpected there (counted, logged)."""

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
            frame, data = self._frame_data(text)
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


class FillFeed:
    """One account's fills: its membership of the app key's :class:`KeySession`, (``tr_id``, ``hts_id``).

    The session routes this account's notices here (others on the same HTS id go to
    their own accounts); acceptance notices (CNTG_YN 1) are not fills; a refusal
    (RFUS_YN 1) is logged.
    """

    def __init__(self, name: str, session: KeySession, clock: Clock, *, tr_id: str, hts_id: str,
                 account_number: str) -> None:
        self.name = name
        self.session = session
        self._clock = clock
        self._key = (tr_id, hts_id)
        self._number = account_number
        self._live = asyncio.Event()
        self._listener: FillListener | None = None
        self._on_status: StatusListener | None = None
        self._joined = False
        self.fills_seen = 0

    async def start(self, listener: FillListener, on_status: StatusListener | None, timeout_s: float) -> bool:
        """Deliver to ``listener`` from now on; True once the subscription is live."""
        self._listener, self._on_status = listener, on_status
        if not self._joined:
            try:
                await self.session.join_account(self._number, *self._key, self._on_notices, self._on_state)
            except KisSubscriptionError as exc:
                log.error("%s: notice subscription refused: %s", self.name, exc.reason)
                return False
            self._joined = True
        try:
            async with asyncio.timeout(timeout_s):
                await self._live.wait()
        except TimeoutError:
            return False
        return self._key in self.session.stream.wanted

    async def stop(self) -> None:
        if self._joined:
            self._joined = False
            await self.session.leave_account(self._number)

    def _on_state(self, stream: KisStream, live: bool, detail: str) -> None:
        if live:
            self._live.set()
        else:
            self._live.clear()
        if self._on_status is not None:
            self._on_status(live, detail)

    def _on_notices(self, notices: list[FillNotice]) -> None:
        now_ms = self._clock.now_ms()
        for n in notices:
            if n.rejected:
                log.warning("%s: KIS refused order %s (%s %s)", self.name, n.order_no, n.side, n.code)
                continue
            if not n.filled or n.quantity <= 0 or self._listener is None:
                continue
            self.fills_seen += 1
            fill = BrokerFill(
                broker_order_no=n.order_no,
                code=n.code,
                side=n.side,
                quantity=n.quantity,
                price=n.price,
                ts_ms=kst_ms(now_ms, "", n.time),
            )
            self._listener(fill)
