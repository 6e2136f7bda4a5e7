"""``kis``: the KIS Open API as a :class:`~engine.brokers.base.MarketDataSource`.

One :class:`KisStream` per configured app key (``AUTOTRADER_KIS_APP_KEY`` /
``AUTOTRADER_KIS_APP_SECRET``, comma-separated, same order), each carrying at most
``kis_max_subscriptions`` (tr_id, code) pairs; a new subscription goes to the
least loaded connection, and beyond the total capacity ``subscribe`` raises
:class:`KisSubscriptionError`. The sink hears ``reconnecting`` when a live
connection drops and ``live`` once every connection is up and re-subscribed.
``backfill`` uses the first app key's REST access (token cached, calls throttled).

Tokens, throttles and the WebSocket sessions come from a
:class:`~engine.brokers.kis.keyring.KisKeyring`: the app passes its one keyring,
so an account using a market-data key shares its token, its throttle and its one
WebSocket session (KIS refuses a second, OPSP8996), its fill notices riding the
market-data connection; alone, the source makes (and closes) its own.

With ``calendar=True`` (the app's source) the KIS holiday inquiry is the authority
for the KRX calendar while the source runs (:class:`KisCalendar`, once a KST day,
real mode only; the library calendar stays in force when KIS does not answer).

A code's market (:meth:`KisMarketData.listing`) is learnt once, with its first
backfill (REST access is needed then anyway; streaming needs no token), from
상품기본조회 (search-info, CTPF1604R, ``mket_id_cd``), into the keyring's cache
(:mod:`engine.brokers.kis.listings`, which the accounts' balance reads fill too); until
then, or when KIS cannot say, it is :data:`engine.market.listing.DEFAULT_MARKET`.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from engine.brokers.base import Channel, MarketDataSink, UpstreamCounters
from engine.brokers.kis.auth import KisAuth
from engine.brokers.kis.charts import fetch_bars
from engine.brokers.kis.errors import BackfillError, KisError, KisSubscriptionError
from engine.brokers.kis.frames import VENUES
from engine.brokers.kis.keyring import KisKeyring
from engine.brokers.kis.rest import KisRest
from engine.brokers.kis.holidays import KisCalendar
from engine.brokers.kis.key_session import KeySession
from engine.brokers.kis.stream import KisStream, stream_options
from engine.market.listing import DEFAULT_MARKET
from engine.market.messages import Bar
from engine.runtime.clock import Clock
from engine.settings import Settings, SettingsError

log = logging.getLogger(__name__)



def app_credentials(settings: Settings) -> list[tuple[str, str]]:
    """The (app key, app secret) pairs of the market-data connections."""
    keys = [k.strip() for k in settings.kis_app_key.split(",") if k.strip()]
    secrets = [s.strip() for s in settings.kis_app_secret.split(",") if s.strip()]
    if not keys:
        raise SettingsError("AUTOTRADER_KIS_APP_KEY is required for AUTOTRADER_MARKET_DATA=kis")
    if len(keys) != len(secrets):
        raise SettingsError(
            f"AUTOTRADER_KIS_APP_KEY has {len(keys)} key(s) but AUTOTRADER_KIS_APP_SECRET has {len(secrets)}"
        )
    return list(zip(keys, secrets, strict=True))


class KisMarketData:
    name = "kis"

    def __init__(self, settings: Settings, clock: Clock, keyring: KisKeyring | None = None, *,
                 calendar: bool = False) -> None:
        self._creds = app_credentials(settings)
        self._paper = paper = settings.kis_paper
        self._rest_url = settings.kis_paper_rest_url if paper else settings.kis_rest_url
        self._keyring = keyring or KisKeyring(settings, clock)
        self._owns_keyring = keyring is None
        self._clock = clock
        trade_tr, quote_tr, _, self.market_code = VENUES[settings.kis_venue]
        self._tr_by_channel = {"trade": trade_tr, "quote": quote_tr}  # AUTOTRADER_KIS_VENUE
        self._options = stream_options(settings)
        self._http: aiohttp.ClientSession | None = None
        self._auths: list[KisAuth] = []
        self._rest: KisRest | None = None
        self._sessions: list[KeySession] = []
        self._keep_calendar = calendar and not paper  # 모의투자 does not serve the holiday inquiry
        self.calendar: KisCalendar | None = None
        self._calendar_task: asyncio.Task[None] | None = None
        self._markets = self._keyring.listings.known  # code -> KOSPI | KOSDAQ, from search-info (shared)
        self.streams: list[KisStream] = []
        self._sink: MarketDataSink | None = None
        self._down: set[int] = set()

    def __repr__(self) -> str:
        return f"KisMarketData(connections={len(self._creds)}, rest={self._rest_url})"

    def market_time_ms(self) -> int:
        return self._clock.now_ms()  # live: the market's time is the clock's

    def previous_close(self, code: str) -> None:
        return None  # learnt from the first trade (price - change)

    def listing(self, code: str) -> str:
        return self._markets.get(code, DEFAULT_MARKET)

    async def _learn_listing(self, code: str) -> None:
        """The code's market from 상품기본조회 (search-info, the keyring's one cache); logged when KIS
        cannot say (the default market then applies)."""
        listings = self._keyring.listings
        if listings.asked_before(code) or self._rest is None:
            return
        try:
            market = await listings.ask(self._rest, code)
        except KisError as exc:
            log.warning("kis: market of %s unknown (search-info: %s); taken as %s", code, exc, DEFAULT_MARKET)
            return
        if market is None:
            log.info("kis: %s taken as %s", code, DEFAULT_MARKET)

    def counters(self) -> UpstreamCounters:
        streams = self.streams
        return UpstreamCounters(reconnects=sum(s.reconnects for s in streams),
                                bad_frames=sum(s.bad_frames for s in streams),
                                missed_pingpongs=sum(s.missed_pingpongs for s in streams))

    @property
    def capacity(self) -> int:
        return len(self._creds) * self._options.max_subscriptions

    def _ensure_http(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = self._keyring.http
            rests = [self._keyring.rest(key, secret, self._paper) for key, secret in self._creds]
            self._auths = [rest.auth for rest in rests]
            self._rest = rests[0]
        return self._http

    @property
    def rest(self) -> KisRest:
        """REST access of the first app key (shared with the account actor when keys match)."""
        self._ensure_http()
        assert self._rest is not None
        return self._rest

    async def start(self, sink: MarketDataSink) -> None:
        if self.streams:
            return
        self._ensure_http()
        self._sink = sink
        self._down = set(range(len(self._auths)))
        for auth in self._auths:
            session = self._keyring.session(auth, self._paper)  # shared with the accounts on this key
            self._sessions.append(session)
            self.streams.append(session.stream)
        for session in self._sessions:
            session.join_market(sink, self._on_state)
        if self._keep_calendar:
            self.calendar = KisCalendar(self.rest, self._clock)
            self._calendar_task = asyncio.create_task(self.calendar.run(), name="kis-calendar")

    async def stop(self) -> None:
        task, self._calendar_task = self._calendar_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        sessions, self._sessions, self.streams = self._sessions, [], []
        await asyncio.gather(*(s.leave_market() for s in sessions), return_exceptions=True)
        self._http = None
        if self._owns_keyring:
            await self._keyring.close()

    def _on_state(self, stream: KisStream, live: bool, detail: str) -> None:
        index = self.streams.index(stream) if stream in self.streams else -1
        if self._sink is None or index < 0:
            return
        if live:
            self._down.discard(index)
            if not self._down:
                self._sink.on_status("live", f"{stream.name}: {detail}")
        elif index not in self._down:
            self._down.add(index)
            self._sink.on_status("reconnecting", f"{stream.name}: {detail}")

    async def subscribe(self, channel: Channel, code: str) -> None:
        tr_id = self._tr_by_channel[channel]
        if not self.streams:
            raise KisSubscriptionError(tr_id, code, "the KIS source is not started")
        for stream in self.streams:
            if (tr_id, code) in stream.wanted:
                return
        free = [s for s in self.streams if s.load < self._options.max_subscriptions]
        if not free:
            raise KisSubscriptionError(
                tr_id,
                code,
                f"all {len(self.streams)} KIS connection(s) carry {self._options.max_subscriptions} "
                "subscriptions (add app keys to AUTOTRADER_KIS_APP_KEY)",
            )
        # KisStream.subscribe claims the slot before its first await: no lock needed
        await min(free, key=lambda s: s.load).subscribe(tr_id, code)

    async def unsubscribe(self, channel: Channel, code: str) -> None:
        tr_id = self._tr_by_channel[channel]
        for stream in self.streams:
            if (tr_id, code) in stream.wanted:
                await stream.unsubscribe(tr_id, code)

    async def backfill(self, code: str, bar_size: str, n: int) -> list[Bar]:
        """Closed bars from KIS chart endpoints; raises :class:`BackfillError`."""
        if self._http is None:
            raise BackfillError("the KIS source is not started")
        await self._learn_listing(code)
        return await fetch_bars(self.rest, self._clock, code, bar_size, n, market=self.market_code)
