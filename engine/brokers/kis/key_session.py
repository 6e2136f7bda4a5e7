"""The one KIS WebSocket session of an app key, shared by its market data and every account on it.

KIS allows one WebSocket session per app key: a second one is refused with
``OPSP8996 ALREADY IN USE appkey`` (KIS_PROTOCOL.md §3.2, §7). So the market-data
source and every account whose fill notices come over that key must ride one
connection. :class:`KeySession` is that connection (a :class:`NoticeStream`, which
carries market frames and notice frames alike), owned by the process's
:class:`~engine.brokers.kis.keyring.KisKeyring`:

- the market-data source joins with its sink (:meth:`join_market`) and subscribes
  its (tr_id, code) pairs on :attr:`stream`;
- each account joins with its account number, notice tr_id and HTS id
  (:meth:`join_account`): (tr_id, HTS id) is subscribed once however many accounts
  share that HTS id, and every decoded notice is routed to the account it names
  (notices of accounts that did not join are counted in :attr:`unrouted`);
- every member hears the connection's state changes; a member joining a live
  connection hears "live" at once;
- when the last member leaves, the connection is closed and the keyring forgets it.

The notice subscriptions count against the session's cap like market subscriptions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiohttp

from engine.brokers.base import MarketDataSink, StreamStatus
from engine.brokers.kis.auth import KisAuth
from engine.brokers.kis.frames import NOTICE_TRS, FillNotice
from engine.brokers.kis.notice_stream import NoMarketData, NoticeStream
from engine.brokers.kis.stream import KisStream, StreamOptions
from engine.market.messages import Quote, Tick
from engine.runtime.clock import Clock

log = logging.getLogger(__name__)

NoticesListener = Callable[[list[FillNotice]], None]
StateListener = Callable[[KisStream, bool, str], None]


class _Member:
    __slots__ = ("key", "number", "on_notices", "on_state")

    def __init__(self, number: str, key: tuple[str, str], on_notices: NoticesListener,
                 on_state: StateListener) -> None:
        self.number, self.key, self.on_notices, self.on_state = number, key, on_notices, on_state


class _MarketSink:
    """Forwards market records to the source that joined, else counts them as unexpected."""

    def __init__(self, name: str) -> None:
        self.target: MarketDataSink | None = None
        self.none = NoMarketData(name)
        self.left = False  # the source left: its last records still in flight are dropped quietly

    def on_tick(self, tick: Tick) -> None:
        if self.target is not None:
            self.target.on_tick(tick)
        elif not self.left:
            self.none.on_tick(tick)

    def on_quote(self, quote: Quote) -> None:
        if self.target is not None:
            self.target.on_quote(quote)
        elif not self.left:
            self.none.on_quote(quote)

    def on_status(self, status: StreamStatus, detail: str) -> None:
        (self.target or self.none).on_status(status, detail)


class KeySession:
    def __init__(
        self,
        name: str,
        auth: KisAuth,
        http: aiohttp.ClientSession,
        ws_url: str,
        clock: Clock,
        options: StreamOptions,
        on_closed: Callable[[KeySession], None],
    ) -> None:
        self.name = name
        self._market = _MarketSink(name)
        self._market_state: StateListener | None = None
        self._members: dict[str, _Member] = {}  # account number -> its notice membership
        self._on_closed = on_closed
        self.closed = False
        self.unrouted = 0  # notices naming no joined account
        self.stream = NoticeStream(name, auth, http, ws_url, clock, self._route, self._on_state, options,
                                   sink=self._market)

    def __repr__(self) -> str:
        return f"KeySession({self.name}, accounts={len(self._members)}, market={self._market.target is not None})"

    @property
    def auth(self) -> KisAuth:
        return self.stream.auth

    @property
    def members(self) -> int:
        return len(self._members) + (self._market_state is not None)

    # -- market data ---------------------------------------------------------------------

    def join_market(self, sink: MarketDataSink, on_state: StateListener) -> KisStream:
        """Carry the source's market data; its subscriptions go to the returned stream."""
        self._market.target, self._market_state = sink, on_state
        self._market.left = False
        self._start(on_state)
        return self.stream

    async def leave_market(self) -> None:
        """Drop the source's subscriptions (the accounts' notices stay) and close if it was the last."""
        self._market.target = self._market_state = None
        self._market.left = True
        for tr_id, code in [k for k in self.stream.wanted if k[0] not in NOTICE_TRS]:
            await self.stream.unsubscribe(tr_id, code)
        await self._close_if_unused()

    # -- accounts --------------------------------------------------------------------------

    async def join_account(self, number: str, tr_id: str, hts_id: str, on_notices: NoticesListener,
                           on_state: StateListener) -> None:
        """Route ``number``'s notices to ``on_notices``; subscribes (tr_id, hts_id) if no one has.

        Raises :class:`KisSubscriptionError` if KIS refuses the subscription (the account is
        then not a member).
        """
        self._members[number] = _Member(number, (tr_id, hts_id), on_notices, on_state)
        try:
            await self.stream.subscribe(tr_id, hts_id)
        except BaseException:
            self._members.pop(number, None)
            await self._close_if_unused()
            raise
        self._start(on_state)

    async def leave_account(self, number: str) -> None:
        member = self._members.pop(number, None)
        if member is None:
            return
        if not any(m.key == member.key for m in self._members.values()):
            await self.stream.unsubscribe(*member.key)
        await self._close_if_unused()

    # -- internals ---------------------------------------------------------------------------

    def _start(self, on_state: StateListener) -> None:
        self.stream.start()
        if self.stream.live:  # the connection was up before this member joined
            on_state(self.stream, True, f"{len(self.stream.wanted)} subscriptions")

    async def _close_if_unused(self) -> None:
        if self.members or self.closed:
            return
        self.closed = True
        self._on_closed(self)
        await self.stream.stop()
        log.info("%s: last user left, connection closed", self.name)

    def _on_state(self, stream: KisStream, live: bool, detail: str) -> None:
        listeners = [m.on_state for m in self._members.values()]
        if self._market_state is not None:
            listeners.append(self._market_state)
        for listener in listeners:
            try:
                listener(stream, live, detail)
            except Exception:  # one member's bug must not hide the state from the others
                log.exception("%s: a state listener failed", self.name)

    def _route(self, notices: list[FillNotice]) -> None:
        by_member: dict[str, list[FillNotice]] = {}
        for notice in notices:
            member = self._member_of(notice.account_no.strip())
            if member is None:
                self.unrouted += 1
                continue
            by_member.setdefault(member.number, []).append(notice)
        for number, batch in by_member.items():
            try:
                self._members[number].on_notices(batch)
            except Exception:
                log.exception("%s: the notice listener of ******%s failed", self.name, number[-4:])

    def _member_of(self, account_no: str) -> _Member | None:
        """The member a notice names: by the full 10-digit number; a notice giving only the CANO
        (8 digits) goes to the one member with that CANO."""
        found = self._members.get(account_no)
        if found is not None or len(account_no) > 8:
            return found
        same_cano = [m for m in self._members.values() if m.number[:8] == account_no[:8]]
        return same_cano[0] if len(same_cano) == 1 else None
